import { Worker } from 'node:worker_threads';
import type { CreditArtifact } from './artifact.ts';
import type { ModelName } from './datasets.ts';
import type { ScoreContext, ScorePlan } from './score-rows.ts';
import type { ScoreBatchReply, ScoreBatchRequest } from './scoring-worker.ts';

/** A scored batch: the rows as the JSON array the insert reads, and the worker's time on it. */
export interface ScoredBatch {
  json: string;
  count: number;
  seconds: number;
}

/**
 * The refresh's second core: a worker thread that runs the models, hashes the inputs and builds
 * the rows while the main thread reads the next batch's data and writes the previous one's scores.
 * The sources are TypeScript run through tsx; scoring-worker-bootstrap.mjs registers tsx's loader in
 * the worker before loading its module.
 */
export class ScoringThread {
  private readonly worker: Worker;
  private readonly pending = new Map<
    number,
    { resolve: (b: ScoredBatch) => void; reject: (e: Error) => void }
  >();
  private nextId = 1;
  private failure: Error | null = null;

  private constructor(artifacts: Record<ModelName, CreditArtifact>) {
    this.worker = new Worker(new URL('./scoring-worker-bootstrap.mjs', import.meta.url), {
      workerData: { artifacts },
    });
    this.worker.on('message', (reply: ScoreBatchReply) => {
      const waiting = this.pending.get(reply.id);
      if (!waiting) return;
      this.pending.delete(reply.id);
      if ('error' in reply) waiting.reject(new Error(`scoring worker: ${reply.error}`));
      else waiting.resolve(reply);
    });
    this.worker.on('error', (error) => this.fail(error));
    this.worker.on('exit', (code) => this.fail(new Error(`scoring worker exited with code ${code}`)));
  }

  /** Starts a worker with these models; resolves once it has loaded and scored a first (empty) batch. */
  static async start(artifacts: Record<ModelName, CreditArtifact>): Promise<ScoringThread> {
    const worker = new ScoringThread(artifacts);
    try {
      await worker.score([], { trigger: 'refresh', businessDate: '1970-01-01', refresh: true, scoredAt: '' });
    } catch (error) {
      await worker.close();
      throw error;
    }
    return worker;
  }

  score(plans: ScorePlan[], context: ScoreContext): Promise<ScoredBatch> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<ScoredBatch>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, plans, context } satisfies ScoreBatchRequest);
    });
  }

  async close(): Promise<void> {
    this.failure ??= new Error('scoring worker closed');
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
    for (const waiting of this.pending.values()) waiting.reject(this.failure);
    this.pending.clear();
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiting of this.pending.values()) waiting.reject(error);
    this.pending.clear();
  }
}

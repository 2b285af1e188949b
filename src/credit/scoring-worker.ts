import { parentPort, workerData } from 'node:worker_threads';
import type { CreditArtifact } from './artifact.ts';
import type { ModelName } from './datasets.ts';
import { scoreRow, type ScoreContext, type ScorePlan } from './score-rows.ts';

/**
 * The scoring worker's thread (started by scoring-thread.ts): scores batches of plans and answers
 * with the rows already serialized as the JSON array the batch insert reads, so the main thread
 * neither runs the models nor builds the rows.
 */
export interface ScoreBatchRequest {
  id: number;
  plans: ScorePlan[];
  context: ScoreContext;
}

export type ScoreBatchReply =
  { id: number; json: string; count: number; seconds: number } | { id: number; error: string };

const artifacts = (workerData as { artifacts: Record<ModelName, CreditArtifact> }).artifacts;
const artifact = (model: ModelName): CreditArtifact => artifacts[model];

parentPort!.on('message', ({ id, plans, context }: ScoreBatchRequest) => {
  const started = performance.now();
  let reply: ScoreBatchReply;
  try {
    const rows = plans.map((plan) => scoreRow(artifact, plan, context));
    reply = {
      id,
      json: JSON.stringify(rows),
      count: rows.length,
      seconds: (performance.now() - started) / 1000,
    };
  } catch (error) {
    reply = { id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) };
  }
  parentPort!.postMessage(reply);
});

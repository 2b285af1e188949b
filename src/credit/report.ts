import path from 'node:path';
import { defaultArtifactPath, readArtifact, type CreditArtifact } from './artifact.ts';
import { readCsvFile } from './csv.ts';
import { frameFromCsv, modelNames, modelSpec, repoRoot, type Frame } from './datasets.ts';
import { scoreTable } from './evaluate.ts';
import { sigmoid } from './logistic.ts';
import { auc, calibrationTable, ks, liftTable, psi, rocCurve } from './metrics.ts';
import { clampScore, rawScore } from './scaling.ts';
import { trainScorecard } from './scorecard.ts';
import { barChart, lineChart } from './svg.ts';
import { crossValidate, trainSettings, type ProgressFn } from './train.ts';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const f4 = (x: number): string => (Number.isFinite(x) ? x.toFixed(4) : '—');
const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;

function table(head: string[], rows: (string | number)[][]): string {
  return `<table><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${typeof c === 'number' ? c : esc(c)}</td>`).join('')}</tr>`)
    .join('')}</table>`;
}

/** Protected groups for the audit: readable labels for coded values, age in bands. */
function groupOf(field: string, raw: string): string {
  const v = raw.trim();
  const age = (a: number, cuts: number[]): string => {
    for (let i = 0; i < cuts.length; i++)
      if (a < cuts[i]!) return i === 0 ? `< ${cuts[0]}` : `${cuts[i - 1]}–${cuts[i]! - 1}`;
    return `${cuts[cuts.length - 1]}+`;
  };
  switch (field) {
    case 'SEX':
      return v === '1' ? 'male' : v === '2' ? 'female' : `other (${v})`;
    case 'EDUCATION':
      return (
        ({ '1': 'graduate school', '2': 'university', '3': 'high school' } as Record<string, string>)[v] ??
        'other/unknown'
      );
    case 'MARRIAGE':
      return ({ '1': 'married', '2': 'single' } as Record<string, string>)[v] ?? 'other/unknown';
    case 'AGE':
    case 'age_in_years':
      return age(Number(v), field === 'AGE' ? [30, 40, 50] : [25, 35, 50]);
    default:
      return v;
  }
}

interface ModelSection {
  html: string;
}

function fairness(artifact: CreditArtifact, frame: Frame, scores: Float64Array, risk: Float64Array): string {
  const cutoff = artifact.scaling.cutoff;
  const parts: string[] = [];
  for (const [field, values] of frame.audit) {
    const groups = new Map<string, number[]>();
    values.forEach((v, i) => {
      const g = groupOf(field, v);
      const list = groups.get(g) ?? [];
      list.push(i);
      groups.set(g, list);
    });
    const stats = [...groups.entries()]
      .sort((a, b) => a[0].localeCompare(b[0]))
      .map(([g, rows]) => {
        const approved = rows.filter((i) => scores[i]! >= cutoff).length;
        const bads = rows.filter((i) => frame.y[i] === 1).length;
        return {
          g,
          n: rows.length,
          badRate: bads / rows.length,
          approval: approved / rows.length,
          auc: auc(
            rows.map((i) => risk[i]!),
            rows.map((i) => frame.y[i]!),
          ),
        };
      });
    const top = Math.max(...stats.map((s) => s.approval));
    parts.push(
      `<h4>${esc(field)}</h4>` +
        table(
          [
            'group',
            'rows',
            'bad rate',
            `approval at ≥ ${cutoff}`,
            'approval-rate ratio (to highest)',
            'AUC in group',
          ],
          stats.map((s) => [
            s.g,
            s.n,
            pct(s.badRate),
            pct(s.approval),
            top > 0 ? (s.approval / top).toFixed(3) : '—',
            s.n >= 30 ? f4(s.auc) : '(too few)',
          ]),
        ),
    );
  }
  return parts.join('\n');
}

function modelSection(artifact: CreditArtifact, onProgress?: ProgressFn): ModelSection {
  const spec = modelSpec(artifact.model);
  const dataFile = path.join(repoRoot, artifact.data.file);
  const csv = readCsvFile(dataFile);
  const frame = frameFromCsv(spec, csv);
  const settings = trainSettings[spec.name];
  const learner = artifact.learner;
  const units = settings.folds;
  let done = 0;
  const cv = crossValidate(
    spec,
    frame,
    {
      ...settings,
      gbt: { ...settings.gbt, ...artifact.hyper_parameters.gbt, trees: artifact.hyper_parameters.gbt.trees },
    },
    learner,
    {
      tick: (u, stage) => {
        done += u;
        onProgress?.(done, units, `${spec.name}: ${stage}`);
      },
    },
  );
  const scaling = artifact.scaling;
  const oofProb = cv.oof.map((m) => sigmoid(m));
  const oofScore = cv.oof.map((m) => clampScore(scaling, rawScore(scaling, m)));
  const y = frame.y;
  const inSample = scoreTable(artifact, csv);

  // ROC
  const roc = rocCurve(cv.oof, y);
  const step = Math.max(1, Math.floor(roc.length / 300));
  const rocSvg = lineChart(
    {
      title: `ROC (out-of-fold), AUC ${f4(auc(cv.oof, y))}`,
      xLabel: 'goods declined (FPR)',
      yLabel: 'bads caught (TPR)',
      xMin: 0,
      xMax: 1,
      yMin: 0,
      yMax: 1,
    },
    [
      {
        name: artifact.learner,
        color: '#1f77b4',
        points: roc
          .filter((_, i) => i % step === 0 || i === roc.length - 1)
          .map((p) => ({ x: p.fpr, y: p.tpr })),
      },
      {
        name: 'chance',
        color: '#999',
        dashed: true,
        points: [
          { x: 0, y: 0 },
          { x: 1, y: 1 },
        ],
      },
    ],
  );
  // Score distribution, 25-point bands
  const bands: string[] = [];
  const goodsHist: number[] = [];
  const badsHist: number[] = [];
  const totalBads = y.reduce((a, b) => a + b, 0);
  const totalGoods = y.length - totalBads;
  for (let lo = scaling.min; lo < scaling.max; lo += 25) {
    bands.push(String(lo));
    let g = 0;
    let b = 0;
    oofScore.forEach((s, i) => {
      if (s >= lo && (s < lo + 25 || (lo + 25 >= scaling.max && s <= scaling.max))) {
        if (y[i] === 1) b++;
        else g++;
      }
    });
    goodsHist.push(g / totalGoods);
    badsHist.push(b / totalBads);
  }
  const distSvg = barChart(
    {
      title: 'Score distribution (out-of-fold)',
      xLabel: 'score band (25 points)',
      yLabel: 'share of group',
      yMin: 0,
      yMax: Math.max(...goodsHist, ...badsHist) * 1.1,
      categories: bands,
    },
    [
      { name: 'goods', color: '#2ca02c', values: goodsHist },
      { name: 'bads', color: '#d62728', values: badsHist },
    ],
  );
  // Calibration
  const calibration = calibrationTable(oofProb, y, 10);
  const top = Math.max(...calibration.map((c) => Math.max(c.predicted, c.observed))) * 1.05;
  const calSvg = lineChart(
    {
      title: 'Calibration (out-of-fold deciles)',
      xLabel: 'predicted default rate',
      yLabel: 'observed default rate',
      xMin: 0,
      xMax: top,
      yMin: 0,
      yMax: top,
    },
    [
      {
        name: 'model',
        color: '#ff7f0e',
        points: calibration.map((c) => ({ x: c.predicted, y: c.observed })),
      },
      {
        name: 'perfect',
        color: '#999',
        dashed: true,
        points: [
          { x: 0, y: 0 },
          { x: top, y: top },
        ],
      },
    ],
  );
  const lift = liftTable(cv.oof, y, 10);
  // PSI: each held-out fold's scores against the final model's scores on the whole development set.
  const psiRows: (string | number)[][] = [];
  for (let k = 0; k < settings.folds; k++) {
    const foldScores = oofScore.filter((_, i) => cv.fold[i] === k);
    const value = psi(inSample.score, foldScores);
    psiRows.push([
      `fold ${k + 1} (held out) vs development`,
      foldScores.length,
      f4(value),
      value < 0.1 ? 'stable' : value < 0.25 ? 'watch' : 'act',
    ]);
  }
  const c = artifact.cross_validation;
  const cvTable = table(
    ['learner', 'CV AUC (mean of folds)', 'CV KS', 'Gini', 'AUC per fold', 'trees'],
    (['scorecard', 'gbt'] as const).map((l) => [
      l === 'gbt' ? 'gradient-boosted trees' : 'WoE scorecard',
      f4(c[l].auc),
      f4(c[l].ks),
      f4(c[l].gini),
      c[l].auc_folds.map(f4).join(', '),
      c[l].trees ?? '—',
    ]),
  );
  const ivTable = trainScorecard(
    spec,
    frame,
    Int32Array.from({ length: frame.n }, (_, i) => i),
    scaling,
  ).iv_table;
  const html = `
<h2>${esc(artifact.title)}</h2>
<p>Artifact <code>${esc(artifact.model)}</code> v${esc(artifact.model_version)} (format ${artifact.format_version}), trained ${esc(artifact.trained_at)} on
<code>${esc(artifact.data.file)}</code> (${artifact.data.rows} rows, ${pct(artifact.data.bad_rate)} bad, SHA-256 <code>${artifact.data.sha256.slice(0, 16)}…</code>).</p>
<p><b>Chosen learner: ${esc(artifact.learner)}.</b> ${esc(c.reason)}.</p>
${cvTable}
<p>Out-of-fold (${settings.folds}-fold) on this run: AUC ${f4(auc(cv.oof, y))}, KS ${f4(ks(cv.oof, y))}. Scaling: ${scaling.base_score} points at ${scaling.base_odds}:1 good:bad, ${scaling.pdo} points to double the odds, clamped to ${scaling.min}–${scaling.max}; default cut-off ${scaling.cutoff}.</p>
<div class="charts">${rocSvg}${distSvg}${calSvg}</div>
<h3>Lift table (out-of-fold, riskiest decile first)</h3>
${table(
  ['decile', 'rows', 'bads', 'bad rate', 'cumulative share of bads', 'lift'],
  lift.map((r) => [
    r.group,
    r.count,
    r.bads,
    pct(r.bad_rate),
    pct(r.cumulative_bads_share),
    r.lift.toFixed(2),
  ]),
)}
<h3>Calibration</h3>
${table(
  ['rows', 'mean predicted', 'observed'],
  calibration.map((r) => [r.count, pct(r.predicted), pct(r.observed)]),
)}
<h3>Population stability (PSI)</h3>
${table(['comparison', 'rows', 'PSI', 'reading'], psiRows)}
<h3>Information value (all rows, WoE binning)</h3>
${table(
  ['characteristic', 'IV', 'in scorecard', 'note'],
  ivTable.map((r) => [r.feature, f4(r.iv), r.used ? 'yes' : 'no', r.note]),
)}
<h3>Fairness by protected group (audit only: these fields are never model inputs)</h3>
<p>Approval = out-of-fold score ≥ ${scaling.cutoff}. The ratio compares each group's approval rate with the highest group's (the four-fifths rule flags &lt; 0.8).</p>
${fairness(artifact, frame, oofScore, cv.oof)}
`;
  return { html };
}

/** The whole report as one self-contained HTML page (inline CSS and SVG, no scripts). */
export function buildCreditReport(
  options: { artifacts?: Partial<Record<string, string>>; onProgress?: ProgressFn } = {},
): string {
  const sections = modelNames.map((name) => {
    const artifact = readArtifact(options.artifacts?.[name] ?? defaultArtifactPath(name));
    return modelSection(artifact, options.onProgress).html;
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Millet credit models report</title>
<style>
body{font-family:system-ui,sans-serif;max-width:1320px;margin:24px auto;padding:0 16px;color:#222}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:right}
th{background:#f3f3f3}td:first-child{text-align:left}.charts{display:flex;flex-wrap:wrap;gap:12px}
svg{border:1px solid #eee;background:#fff}h2{border-top:2px solid #333;padding-top:12px;margin-top:32px}
</style></head><body>
<h1>Millet credit models</h1>
<p>Generated ${new Date().toISOString()}. Every figure below comes from ${'k'}-fold cross-validation on the development data
(each row scored by a model that did not see it), except the PSI baseline, which is the committed model's scores on all rows.</p>
${sections.join('\n')}
<p>Data: UCI Machine Learning Repository, CC BY 4.0 (see data/credit/README.md).</p>
</body></html>
`;
}

import { parseNumber, type FeatureSpec } from './datasets.ts';
import { encodeRank, type TreeEncoding } from './encoding.ts';

/** Fills x with the trees' view of an applicant's raw values (a record keyed by column name). */
export type TreeInputReader = (features: Readonly<Record<string, unknown>>, x: number[]) => void;

/**
 * Generates the reader of one artifact's inputs (`new Function`, like the trees, so each model's
 * property look-ups and calls keep their own type feedback): every numeric column is parsed once,
 * even when several derived inputs read it (each used to parse its sources again); numbers go in as
 * `parseNumber` gives them, a rank-encoded category as its rank (`encodeRank`), a derived input from
 * its `derive` over a preallocated array of its sources. No allocation per call.
 * Column names reach the source only as JSON string literals.
 */
export function compileTreeInputs(
  specs: readonly FeatureSpec[],
  encodings: readonly TreeEncoding[],
): TreeInputReader {
  const columns = new Map<string, string>();
  const column = (name: string): string => {
    let v = columns.get(name);
    if (v === undefined) columns.set(name, (v = `v${columns.size}`));
    return v;
  };
  const derives: Array<(values: readonly number[]) => number> = [];
  const buffers: number[][] = [];
  const ranks: Array<Map<string, number>> = [];
  const rankEncodings: TreeEncoding[] = [];
  const lines: string[] = [];
  specs.forEach((spec, j) => {
    const e = encodings[j]!;
    if (spec.kind === 'numeric' && spec.derive) {
      const k = derives.length;
      derives.push(spec.derive);
      buffers.push(spec.from!.map(() => 0));
      const fill = spec.from!.map((c, s) => `B${k}[${s}] = ${column(c)};`).join(' ');
      lines.push(`${fill} x[${j}] = D${k}(B${k});`);
    } else if (spec.kind === 'numeric' || e.kind === 'number') lines.push(`x[${j}] = ${column(spec.name)};`);
    else {
      const k = ranks.length;
      ranks.push(new Map(e.labels.map((label, r) => [label, r])));
      rankEncodings.push(e);
      lines.push(`x[${j}] = rank(E[${k}], R[${k}], r[${JSON.stringify(spec.name)}]);`);
    }
  });
  const parse = [...columns].map(([name, v]) => `const ${v} = num(r[${JSON.stringify(name)}]);`);
  const unpack = buffers.map((_, k) => `const B${k} = B[${k}], D${k} = D[${k}];`).join(' ');
  const source = `${unpack} return function (r, x) { ${parse.join(' ')} ${lines.join(' ')} };`;
  return new Function('num', 'rank', 'D', 'B', 'R', 'E', source)(
    parseNumber,
    encodeRank,
    derives,
    buffers,
    ranks,
    rankEncodings,
  ) as TreeInputReader;
}

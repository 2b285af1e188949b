import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical-json.ts';

/** The definition, written the plain way: what every stored hash was computed over. */
function reference(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'bigint':
      return JSON.stringify(value.toString());
    case 'string':
    case 'number':
    case 'boolean':
      return JSON.stringify(value);
    case 'object': {
      if (value instanceof Date) return JSON.stringify(value.toISOString());
      if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${reference(v)}`).join(',')}}`;
    }
    default:
      throw new TypeError(`cannot encode ${typeof value}`);
  }
}

describe('canonicalJson', () => {
  it('sorts keys, drops undefined members, writes bigints and dates as strings', () => {
    expect(canonicalJson({ b: 1n, a: [new Date(0), undefined, 'x"y'], c: undefined, é: -0 })).toBe(
      '{"a":["1970-01-01T00:00:00.000Z",null,"x\\"y"],"b":"1","é":0}',
    );
    expect(canonicalJson({ Z: 1, a: 2, _: 3, '10': 4, '9': 5 })).toBe('{"10":4,"9":5,"Z":1,"_":3,"a":2}');
  });

  it('gives exactly what the plain definition gives, for any JSON-like value', () => {
    const leaf = fc.oneof(
      fc.string({ unit: 'binary' }),
      fc.double(),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.constant(undefined),
      fc.bigInt(),
      fc.date({ noInvalidDate: true }),
    );
    const { tree } = fc.letrec((tie) => ({
      tree: fc.oneof({ depthSize: 'small' }, leaf, tie('array'), tie('object')),
      array: fc.array(tie('tree'), { maxLength: 5 }),
      object: fc.dictionary(fc.string({ unit: 'binary', maxLength: 6 }), tie('tree'), { maxKeys: 6 }),
    }));
    fc.assert(
      fc.property(tree, (value) => canonicalJson(value) === reference(value)),
      { numRuns: 2000 },
    );
  });

  it('writes a hole in a sparse array as the plain definition does', () => {
    // eslint-disable-next-line no-sparse-arrays
    const sparse = [1, , 3];
    expect(canonicalJson(sparse)).toBe(reference(sparse));
  });
});

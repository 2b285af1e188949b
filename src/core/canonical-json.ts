/**
 * Deterministic JSON: object keys sorted, bigint written as a decimal string. Used wherever a value
 * is hashed (idempotency payload comparison, the journal hash chain, a score's inputs), so equal
 * values hash equally. Its exact output is part of those hashes' definition, so it must never
 * change; it is built with plain loops and string appends because it runs for every payment's
 * journal entry and every score of the monthly refresh.
 */
/**
 * Keys as JSON strings, remembered: the same few hundred field names come back millions of times.
 * Bounded, since request bodies (idempotency fingerprints) can bring keys of any caller's choosing.
 */
const quotedKeys = new Map<string, string>();
function quotedKey(key: string): string {
  let quoted = quotedKeys.get(key);
  if (quoted === undefined) {
    quoted = JSON.stringify(key);
    if (quotedKeys.size < 4096 && key.length <= 64) quotedKeys.set(key, quoted);
  }
  return quoted;
}

export function canonicalJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'bigint':
      // A decimal string has nothing JSON escapes.
      return `"${value.toString()}"`;
    case 'number':
      // What JSON.stringify writes for a number (non-finite ones are null), without its generic path.
      return Number.isFinite(value) ? String(value) : 'null';
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'object': {
      if (value instanceof Date) return JSON.stringify(value.toISOString());
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ',';
          // A hole in a sparse array is written as nothing, as Array.prototype.join does.
          if (i in value) out += canonicalJson(value[i]);
        }
        return `${out}]`;
      }
      const record = value as Record<string, unknown>;
      // sort() without a comparator orders strings by UTF-16 code units, as `<` does.
      const keys = Object.keys(record).sort();
      let out = '{';
      let first = true;
      for (const key of keys) {
        const v = record[key];
        if (v === undefined) continue;
        if (!first) out += ',';
        first = false;
        out += `${quotedKey(key)}:${canonicalJson(v)}`;
      }
      return `${out}}`;
    }
    default:
      throw new TypeError(`canonicalJson: cannot encode ${typeof value}`);
  }
}

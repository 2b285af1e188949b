import pgUtils from 'pg/lib/utils.js';

const arrayElementSpecial = /[\\"]/;

/**
 * An array as pg encodes it (`{"a","b\\"c",NULL}`: every element quoted, backslashes and quotes
 * escaped with a backslash), for the arrays of strings, numbers and bigints a batch sends by the
 * thousand: pg's own encoder runs two regular-expression replaces on every element, and the ids in
 * those arrays have nothing to escape. Anything else (nested arrays, binary, dates, objects) goes
 * to pg's encoder, whole array at once.
 */
export function arrayLiteral(values: readonly unknown[]): string {
  let plain = true;
  for (let i = 0; i < values.length && plain; i++) {
    const value = values[i];
    plain = (typeof value === 'string' && !arrayElementSpecial.test(value)) || typeof value === 'bigint';
  }
  // The common case, ids and amounts: one native join.
  if (plain) return values.length === 0 ? '{}' : `{"${values.join('","')}"}`;
  let text = '{';
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (i > 0) text += ',';
    if (value === null || value === undefined) text += 'NULL';
    else if (typeof value === 'string')
      text += arrayElementSpecial.test(value) ? `"${value.replace(/[\\"]/g, '\\$&')}"` : `"${value}"`;
    else if (typeof value === 'number' || typeof value === 'bigint') text += `"${value}"`;
    else return pgUtils.prepareValue(values) as string;
  }
  return `${text}}`;
}

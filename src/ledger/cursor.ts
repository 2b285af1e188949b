import { MilletError } from '../core/index.ts';

/** Opaque keyset cursors: base64url of the last row's key, so clients can't depend on its shape. */
export function encodeCursor(parts: readonly (string | bigint | number)[]): string {
  return Buffer.from(parts.map(String).join('|')).toString('base64url');
}

export function decodeCursor(cursor: string, arity: number): string[] {
  const parts = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (parts.length !== arity || parts.some((p) => p.length === 0)) {
    throw new MilletError('VALIDATION_FAILED', 'cursor is not one this API handed out', { field: 'cursor' });
  }
  return parts;
}

import { MilletError } from '../core/index.ts';

/** Opaque keyset cursors for the api module's own lists, so clients can't depend on their shape. */
export function encodeCursor(lastKey: string): string {
  return Buffer.from(lastKey).toString('base64url');
}

export function decodeCursor(cursor: string): string {
  const key = Buffer.from(cursor, 'base64url').toString('utf8');
  if (key.length === 0)
    throw new MilletError('VALIDATION_FAILED', 'cursor is not one this API handed out', { field: 'cursor' });
  return key;
}

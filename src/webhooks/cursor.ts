import { MilletError, isUuid } from '../core/index.ts';

/** Opaque keyset cursors over uuid ids, so clients can't depend on their shape. */
export function encodeCursor(lastId: string): string {
  return Buffer.from(lastId).toString('base64url');
}

export function decodeCursor(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!isUuid(id))
    throw new MilletError('VALIDATION_FAILED', 'cursor is not one this API handed out', { field: 'cursor' });
  return id;
}

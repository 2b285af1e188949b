import { MilletError } from './errors.ts';
import { isUuid } from './ids.ts';

/**
 * Opaque keyset cursors over uuid ids (the last id of a page), so clients can't depend on their
 * shape. A cursor that does not decode to a uuid is refused here, before it reaches a query as a
 * malformed uuid.
 */
export function encodeIdCursor(lastId: string): string {
  return Buffer.from(lastId).toString('base64url');
}

export function decodeIdCursor(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!isUuid(id))
    throw new MilletError('VALIDATION_FAILED', 'cursor is not one this API handed out', { field: 'cursor' });
  return id;
}

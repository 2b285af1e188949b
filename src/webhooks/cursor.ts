/** Endpoint and delivery lists page by uuid id, with the shared opaque cursors. */
export { encodeIdCursor as encodeCursor, decodeIdCursor as decodeCursor } from '../core/index.ts';

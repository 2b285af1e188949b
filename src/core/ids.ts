import { createHash } from 'node:crypto';
import { v7 as uuidv7, validate as uuidValidate } from 'uuid';

/** App-generated, time-ordered ids (UUIDv7) so rows cluster by creation time on any Postgres engine. */
export function newId(): string {
  return uuidv7();
}

export function isUuid(value: string): boolean {
  return uuidValidate(value);
}

/**
 * A stable UUID-shaped id derived from a name, for records that a job must create exactly once
 * (the expiry of hold X always gets the same id, so a rerun of the job is idempotent).
 */
export function derivedId(namespace: string, name: string): string {
  const hex = createHash('sha256').update(namespace).update('\0').update(name).digest('hex');
  // Shape it as a version-8 (custom) UUID with the RFC 9562 variant.
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

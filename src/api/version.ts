import fs from 'node:fs';

/** The package version, shown in the OpenAPI document. */
export const milletVersion: string = (
  JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

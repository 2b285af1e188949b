import type { FastifySchemaCompiler, FastifySchemaValidationError } from 'fastify';
import { validatorCompiler } from 'fastify-type-provider-zod';

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' &&
  value !== null &&
  (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null);

/**
 * The JSON pointers of fields a client sent that its parsed body no longer has: zod drops keys its
 * object schemas do not name, so a misspelt optional field (`early_access_form`) would be ignored
 * and its default used without a word. Comparing what was sent with what was parsed finds every
 * dropped key at any depth, without rebuilding each schema as a strict one.
 */
export function droppedFields(sent: unknown, parsed: unknown, pointer = ''): string[] {
  if (Array.isArray(sent) && Array.isArray(parsed)) {
    const dropped: string[] = [];
    for (let i = 0; i < Math.min(sent.length, parsed.length); i++)
      dropped.push(...droppedFields(sent[i], parsed[i], `${pointer}/${i}`));
    return dropped;
  }
  if (!isPlainObject(sent) || !isPlainObject(parsed)) return [];
  const dropped: string[] = [];
  for (const key of Object.keys(sent)) {
    const at = `${pointer}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`;
    if (Object.hasOwn(parsed, key)) dropped.push(...droppedFields(sent[key], parsed[key], at));
    else dropped.push(at);
  }
  return dropped;
}

/**
 * The zod validator, refusing request bodies with fields the route does not take
 * (`VALIDATION_FAILED`, one error per field), as most payment APIs do: an operator's typo in a
 * sale's settings or a partner's limits is a clear 400, not a setting silently left at its default.
 */
export const bodyValidatorCompiler: FastifySchemaCompiler<unknown> = (route) => {
  const validate = validatorCompiler(route as Parameters<typeof validatorCompiler>[0]);
  if (route.httpPart !== 'body') return validate;
  return (data: unknown) => {
    const result = validate(data) as { value?: unknown; error?: Error | FastifySchemaValidationError[] };
    if (result.error) return result;
    const dropped = droppedFields(data, result.value);
    if (dropped.length === 0) return result;
    return {
      error: dropped.map((instancePath) => ({
        keyword: 'unrecognized_keys',
        instancePath,
        schemaPath: '#',
        message: 'is not a field this request takes',
        params: {},
      })),
    };
  };
};

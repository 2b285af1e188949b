import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { isMilletError, type ErrorCode, type MilletError } from '../core/index.ts';
import { buildProblem, PROBLEM_CONTENT_TYPE, type Problem } from './problem.ts';

/** One field a request got wrong: where (body, querystring, params, headers), which path, and why. */
export interface FieldError {
  location: string;
  path: string;
  pointer: string;
  detail: string;
}

interface SchemaValidationIssue {
  instancePath: string;
  message?: string;
}

/** "/legs/0/amount" → "legs[0].amount", the spelling clients use in code. */
export function pathOf(pointer: string): string {
  return pointer
    .split('/')
    .filter((part) => part.length > 0)
    .reduce((path, part) => (/^\d+$/.test(part) ? `${path}[${part}]` : path ? `${path}.${part}` : part), '');
}

function validationProblemInput(error: FastifyError): {
  detail: string;
  extensions: Record<string, unknown>;
} {
  const location = error.validationContext ?? 'body';
  const issues = (error.validation ?? []) as SchemaValidationIssue[];
  const errors: FieldError[] = issues.map((issue) => ({
    location,
    path: pathOf(issue.instancePath),
    pointer: `#${issue.instancePath === '/' ? '' : issue.instancePath}`,
    detail: issue.message ?? 'is invalid',
  }));
  const first = errors[0];
  const where = first?.path ? `${location}.${first.path}` : location;
  const detail = first ? `${where}: ${first.detail}` : `The ${location} is invalid`;
  return {
    detail: errors.length > 1 ? `${detail} (and ${errors.length - 1} more)` : detail,
    extensions: { errors },
  };
}

/** SQLSTATE classes and driver messages that mean "the database is not there", not "a bug". */
function isDatabaseUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (
    typeof code === 'string' &&
    (/^(08|57P0)/.test(code) || ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT'].includes(code))
  ) {
    return true;
  }
  const message = error instanceof Error ? error.message : '';
  return /pool after calling end|PGlite is closed|Connection terminated/i.test(message);
}

const fastifyCodes: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
};

/**
 * Turns anything thrown while serving a request into a problem. Only MilletErrors and request-shape
 * errors say what went wrong; everything else is a 500 whose detail names the request id, with
 * the cause in the log and never in the response.
 */
export function problemFor(
  error: unknown,
  request: FastifyRequest,
): { problem: Problem; unexpected: boolean } {
  const base = { instance: request.url.split('?')[0]!, requestId: String(request.id) };
  if (isMilletError(error)) {
    return {
      problem: buildProblem({ ...base, code: error.code, detail: error.message, extensions: error.details }),
      unexpected: false,
    };
  }
  const fastifyError = error as FastifyError;
  if (hasZodFastifySchemaValidationErrors(error) || Array.isArray(fastifyError?.validation)) {
    return {
      problem: buildProblem({ ...base, code: 'VALIDATION_FAILED', ...validationProblemInput(fastifyError) }),
      unexpected: false,
    };
  }
  if (isDatabaseUnavailable(error)) {
    const detail = 'The database is not reachable; retry later';
    return { problem: buildProblem({ ...base, code: 'DATABASE_UNAVAILABLE', detail }), unexpected: true };
  }
  const mapped = fastifyError?.code ? fastifyCodes[fastifyError.code] : undefined;
  if (mapped)
    return {
      problem: buildProblem({ ...base, code: mapped, detail: fastifyError.message }),
      unexpected: false,
    };
  const statusCode = fastifyError?.statusCode;
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    // Fastify's own request errors (malformed JSON, bad content-length): safe to describe.
    return {
      problem: buildProblem({ ...base, code: 'REQUEST_MALFORMED', detail: fastifyError.message }),
      unexpected: false,
    };
  }
  const detail = `An unexpected error occurred. It has been logged with request id ${base.requestId}.`;
  return { problem: buildProblem({ ...base, code: 'INTERNAL', detail }), unexpected: true };
}

function problemHeaders(reply: FastifyReply, code: ErrorCode, retryAfterSeconds: unknown): void {
  if (code === 'UNAUTHENTICATED') reply.header('www-authenticate', 'Bearer realm="millet"');
  if (code === 'RATE_LIMITED' && typeof retryAfterSeconds === 'number')
    reply.header('retry-after', String(retryAfterSeconds));
}

export function sendProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  problemHeaders(reply, problem.code, problem.retry_after_seconds);
  return reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(problem);
}

/** A MilletError's problem less its per-request members, serialised once per error object. */
interface ProblemParts {
  code: ErrorCode;
  status: number;
  retryAfterSeconds: unknown;
  /** `{"type":…,"code":…` without the closing brace. */
  head: string;
  /** `,"extension":…` members, or empty. */
  tail: string;
}

// Keyed by the error object: hot paths that answer the same refusal again and again throw the same
// object (the store's AttemptRefusals), so its body is built once; any other error is built once too.
const problemParts = new WeakMap<MilletError, ProblemParts>();

function partsOf(error: MilletError): ProblemParts {
  let parts = problemParts.get(error);
  if (!parts) {
    const {
      type,
      title,
      status,
      detail,
      code,
      instance: _instance,
      request_id: _requestId,
      ...extensions
    } = buildProblem({
      code: error.code,
      detail: error.message,
      extensions: error.details,
      instance: '',
      requestId: '',
    });
    const members = JSON.stringify(extensions);
    parts = {
      code,
      status,
      retryAfterSeconds: extensions.retry_after_seconds,
      head: JSON.stringify({ type, title, status, detail, code }).slice(0, -1),
      tail: members === '{}' ? '' : `,${members.slice(1, -1)}`,
    };
    problemParts.set(error, parts);
  }
  return parts;
}

/**
 * What the error handler does with an error: the problem, logged, sent. Hot routes whose refusals
 * are ordinary traffic (flash-sale attempts) call it themselves, skipping Fastify's error path.
 * A MilletError's body is the same JSON as `problemFor` gives, written from its cached parts.
 */
export function replyWithError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (isMilletError(error)) {
    const parts = partsOf(error);
    request.log.info({ code: parts.code, status: parts.status }, 'request refused');
    const instance = request.url.split('?')[0]!;
    const body = `${parts.head},"instance":${JSON.stringify(instance)},"request_id":${JSON.stringify(String(request.id))}${parts.tail}}`;
    problemHeaders(reply, parts.code, parts.retryAfterSeconds);
    return reply.code(parts.status).type(PROBLEM_CONTENT_TYPE).send(body);
  }
  const { problem, unexpected } = problemFor(error, request);
  if (unexpected) request.log.error({ err: error, code: problem.code }, 'request failed');
  else request.log.info({ code: problem.code, status: problem.status }, 'request refused');
  return sendProblem(reply, problem);
}

/** Every error and every unknown route answers with application/problem+json. */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => replyWithError(error, request, reply));
  app.setNotFoundHandler((request, reply) => {
    const problem = buildProblem({
      code: 'NOT_FOUND',
      detail: `No route ${request.method} ${request.url.split('?')[0]}`,
      instance: request.url.split('?')[0]!,
      requestId: String(request.id),
    });
    return sendProblem(reply, problem);
  });
}

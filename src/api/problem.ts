import type { ErrorCode } from '../core/index.ts';
import { errorStatuses } from './error-statuses.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** Problem type URIs are stable identifiers (RFC 9457 §3.1.1); they need not resolve. */
export const PROBLEM_TYPE_BASE = 'https://millet.dev/problems/';

/** An RFC 9457 problem, plus Millet's stable `code` and the request id to quote to support. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  instance: string;
  request_id: string;
  [extension: string]: unknown;
}

const reservedMembers = new Set(['type', 'title', 'status', 'detail', 'code', 'instance', 'request_id']);

// Refusals are answered thousands of times a second in a flash sale; the codes and detail names
// are a small fixed set, so their spellings are worked out once each.
const typeUris = new Map<string, string>();
const titles = new Map<string, string>();
const snakeNames = new Map<string, string>();

export function problemTypeUri(code: ErrorCode): string {
  let uri = typeUris.get(code);
  if (uri === undefined) {
    uri = PROBLEM_TYPE_BASE + code.toLowerCase().replaceAll('_', '-');
    typeUris.set(code, uri);
  }
  return uri;
}

/** "INSUFFICIENT_FUNDS" → "Insufficient funds": a title that never varies between occurrences. */
export function problemTitle(code: ErrorCode): string {
  let title = titles.get(code);
  if (title === undefined) {
    const words = code.toLowerCase().replaceAll('_', ' ');
    title = words.charAt(0).toUpperCase() + words.slice(1);
    titles.set(code, title);
  }
  return title;
}

/** The API speaks snake_case; error details from the domain modules are camelCase. */
export function toSnakeCase(name: string): string {
  let snake = snakeNames.get(name);
  if (snake === undefined) {
    snake = name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
    // Field paths can be anything a client sent: remember a bounded number.
    if (snakeNames.size < 1_000) snakeNames.set(name, snake);
  }
  return snake;
}

export interface ProblemInput {
  code: ErrorCode;
  detail: string;
  instance: string;
  requestId: string;
  /** Extension members; keys are rendered in snake_case and may not shadow the standard members. */
  extensions?: Readonly<Record<string, unknown>> | undefined;
}

export function buildProblem(input: ProblemInput): Problem {
  const problem: Problem = {
    type: problemTypeUri(input.code),
    title: problemTitle(input.code),
    status: errorStatuses[input.code],
    detail: input.detail,
    code: input.code,
    instance: input.instance,
    request_id: input.requestId,
  };
  for (const [key, value] of Object.entries(input.extensions ?? {})) {
    const name = toSnakeCase(key);
    if (reservedMembers.has(name) || value === undefined) continue;
    // A field name inside a detail ("legs[0].accountId") is shown as the client spelled it.
    problem[name] = name === 'field' && typeof value === 'string' ? toSnakeCase(value) : jsonSafe(value);
  }
  return problem;
}

function jsonSafe(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(jsonSafe);
  if (value instanceof Date) return value.toISOString();
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonSafe(v)]));
  }
  return value;
}

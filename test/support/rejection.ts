import type { MilletError } from '../../src/core/index.ts';

/** The error a promise rejects with; fails the test when it resolves instead. */
export async function rejection(promise: Promise<unknown>): Promise<MilletError> {
  try {
    await promise;
  } catch (error) {
    return error as MilletError;
  }
  throw new Error('expected a rejection');
}

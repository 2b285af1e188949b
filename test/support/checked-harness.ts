import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { openApiHarness, type ApiHarness } from './api-harness.ts';

/**
 * An API harness for the whole test file, whose ledger must verify after every test. Returns a
 * getter: the harness exists once `beforeAll` has run.
 */
export function checkedApiHarness(): () => ApiHarness {
  let h: ApiHarness | undefined;
  beforeAll(async () => {
    h = await openApiHarness();
  });
  afterAll(async () => {
    await h?.close();
  });
  afterEach(async () => {
    const report = await h!.ledger.verify();
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
  });
  return () => h!;
}

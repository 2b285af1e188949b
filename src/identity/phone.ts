import { MilletError } from '../core/index.ts';

/** Mainland China mobile numbers: 11 digits, 1 then 3–9 (MIIT numbering plan). */
const MAINLAND_MOBILE = /^1[3-9]\d{9}$/;
const E164 = /^\+[1-9]\d{6,14}$/;

/**
 * A phone number in E.164. A bare 11-digit mainland mobile number gets +86; a number given with
 * +86 must be a mainland mobile number. Spaces, dashes and parentheses are ignored.
 */
export function normalizePhone(input: string): string {
  const compact = input.trim().replace(/[\s\-()]/g, '');
  const invalid = () =>
    new MilletError(
      'PHONE_INVALID',
      'phone must be an E.164 number (+8613812345678) or an 11-digit mainland mobile number',
      { field: 'phone' },
    );
  if (MAINLAND_MOBILE.test(compact)) return `+86${compact}`;
  if (!E164.test(compact)) throw invalid();
  if (compact.startsWith('+86') && !MAINLAND_MOBILE.test(compact.slice(3))) throw invalid();
  return compact;
}

/**
 * +8613812345678 → 138****5678, the mainland convention. Other numbers keep at most half their
 * digits — a few of the first and up to the last four — since E.164 numbers can be as short as seven
 * digits, where a fixed head and tail would leave nothing hidden: +6834002 → +6****02.
 */
export function maskPhone(e164: string): string {
  if (e164.startsWith('+86') && e164.length === 14) {
    const national = e164.slice(3);
    return `${national.slice(0, 3)}****${national.slice(-4)}`;
  }
  const digits = e164.slice(1);
  const shown = Math.floor(digits.length / 2);
  const tail = Math.min(4, shown - 1);
  const head = shown - tail;
  return `+${digits.slice(0, head)}${'*'.repeat(digits.length - shown)}${digits.slice(-tail)}`;
}

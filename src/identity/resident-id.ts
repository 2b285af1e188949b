import { MilletError, businessDateOf } from '../core/index.ts';

/**
 * The 18-character PRC resident identity number (GB 11643-1999): a 6-digit region code, the birth
 * date YYYYMMDD, a 3-digit sequence (odd for men, even for women) and an ISO 7064 MOD 11-2 check
 * character.
 */
export interface ResidentId {
  /** Normalised: upper-case X. */
  value: string;
  regionCode: string;
  /** YYYY-MM-DD */
  birthDate: string;
}

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2] as const;
const CHECK_CHARS = '10X98765432';

/** Province-level codes (the first two digits) that resident IDs are issued under. */
const PROVINCES = new Set([
  '11', '12', '13', '14', '15', '21', '22', '23', '31', '32', '33', '34', '35', '36', '37', '41', '42',
  '43', '44', '45', '46', '50', '51', '52', '53', '54', '61', '62', '63', '64', '65', '71', '81', '82',
  '83',
]); // prettier-ignore

/** The ISO 7064 MOD 11-2 check character of the first 17 digits. */
export function residentIdCheckChar(first17: string): string {
  let sum = 0;
  for (let i = 0; i < 17; i += 1) sum += Number(first17[i]) * WEIGHTS[i]!;
  return CHECK_CHARS[sum % 11]!;
}

function invalid(reason: string): MilletError {
  return new MilletError(
    'RESIDENT_ID_INVALID',
    `resident_id is not a valid resident identity number: ${reason}`,
    {
      field: 'residentId',
      reason,
    },
  );
}

/** A calendar date that exists: 20230229 does not. */
function isRealDate(year: number, month: number, day: number): boolean {
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/**
 * Validates shape, province, birth date (a real date from 1900 on and not after the business date
 * of `today`) and check character. The error names what is wrong but never echoes the number.
 */
export function parseResidentId(input: string, today: Date): ResidentId {
  const value = input.trim().toUpperCase();
  if (!/^\d{17}[\dX]$/.test(value)) throw invalid('it must be 17 digits and a check digit or X');
  if (!PROVINCES.has(value.slice(0, 2))) throw invalid('the region code is not a province');
  const year = Number(value.slice(6, 10));
  const month = Number(value.slice(10, 12));
  const day = Number(value.slice(12, 14));
  if (year < 1900 || !isRealDate(year, month, day)) throw invalid('the birth date is not a real date');
  const birthDate = `${value.slice(6, 10)}-${value.slice(10, 12)}-${value.slice(12, 14)}`;
  if (birthDate > businessDateOf(today)) throw invalid('the birth date is in the future');
  if (residentIdCheckChar(value.slice(0, 17)) !== value[17]) throw invalid('the check digit does not match');
  return { value, regionCode: value.slice(0, 6), birthDate };
}

/**
 * Completed years between a birth date and the business date (Asia/Shanghai) of `at`. A birthday
 * counts on the day itself; someone born on 29 February completes a year on 1 March in other years.
 */
export function ageInYears(birthDate: string, at: Date): number {
  const today = businessDateOf(at);
  const years = Number(today.slice(0, 4)) - Number(birthDate.slice(0, 4));
  return today.slice(5) >= birthDate.slice(5) ? years : years - 1;
}

/** 110105194912310021 → 1101**********0021 */
export function maskResidentId(value: string): string {
  return `${value.slice(0, 4)}${'*'.repeat(value.length - 8)}${value.slice(-4)}`;
}

/** 张三 → 张*, 欧阳娜娜 → 欧***: the first character stays. */
export function maskRealName(name: string): string {
  const chars = [...name];
  return chars.length <= 1 ? '*' : `${chars[0]}${'*'.repeat(chars.length - 1)}`;
}

/**
 * Letters of any script, with the middle dot of minority names (买买提·艾力), spaces, . ' - between
 * them: a separator neither starts nor ends a name, so 王·· is not two letters.
 */
const REAL_NAME = /^\p{L}[\p{L}\p{M}]*(?:[·•. '-]+\p{L}[\p{L}\p{M}]*)*$/u;

export function normalizeRealName(input: string): string {
  const name = input.trim().replace(/\s+/g, ' ');
  const length = [...name].length;
  if (length < 2 || length > 50 || !REAL_NAME.test(name)) {
    throw new MilletError('REAL_NAME_INVALID', 'real_name must be 2–50 letters as on the resident ID', {
      field: 'realName',
    });
  }
  return name;
}

import { describe, expect, it } from 'vitest';
import type { MilletError } from '../core/index.ts';
import {
  ageInYears,
  maskRealName,
  maskResidentId,
  normalizeRealName,
  parseResidentId,
  residentIdCheckChar,
} from './resident-id.ts';
import { makeResidentId } from '../../test/support/resident-ids.ts';

const today = new Date('2025-06-01T00:00:00Z');

function reason(input: string): string {
  try {
    parseResidentId(input, today);
  } catch (error) {
    expect((error as MilletError).code).toBe('RESIDENT_ID_INVALID');
    return String((error as MilletError).details?.reason);
  }
  throw new Error('expected RESIDENT_ID_INVALID');
}

describe('resident identity numbers (GB 11643, ISO 7064 MOD 11-2)', () => {
  it('accepts the public example 11010519491231002X and derives its birth date', () => {
    const id = parseResidentId('11010519491231002x', today);
    expect(id.value).toBe('11010519491231002X');
    expect(id.regionCode).toBe('110105');
    expect(id.birthDate).toBe('1949-12-31');
    expect(residentIdCheckChar('11010519491231002')).toBe('X');
  });

  it('accepts IDs whose check character is computed from the weights, for every check value', () => {
    const seen = new Set<string>();
    for (let sequence = 100; sequence < 140; sequence += 1) {
      const id = makeResidentId('440305', '19900307', String(sequence));
      seen.add(id.at(-1)!);
      expect(parseResidentId(id, today).birthDate).toBe('1990-03-07');
      expect(residentIdCheckChar(id.slice(0, 17))).toBe(id.at(-1));
    }
    expect(seen.size).toBe(11); // 0–9 and X all occur
  });

  it('refuses a wrong check character, whichever digit was mistyped', () => {
    const id = makeResidentId('310104', '19850615', '123');
    for (const wrong of '0123456789X')
      if (wrong !== id.at(-1)) expect(reason(id.slice(0, 17) + wrong)).toMatch(/check/);
    // A single transposed digit changes the check character too.
    const swapped = id.slice(0, 14) + id[15] + id[14] + id.slice(16);
    if (swapped !== id) expect(() => parseResidentId(swapped, today)).toThrow();
  });

  it('refuses bad shapes, unknown provinces and impossible or future birth dates', () => {
    expect(reason('1101051949123100')).toMatch(/17 digits/);
    expect(reason('11010519491231002Y')).toMatch(/17 digits/);
    expect(reason(makeResidentId('990101', '19900101', '123'))).toMatch(/region/);
    expect(reason(makeResidentId('110105', '20230229', '123'))).toMatch(/real date/); // not a leap year
    expect(reason(makeResidentId('110105', '19901301', '123'))).toMatch(/real date/);
    expect(reason(makeResidentId('110105', '19900431', '123'))).toMatch(/real date/);
    expect(reason(makeResidentId('110105', '18991231', '123'))).toMatch(/real date/);
    expect(reason(makeResidentId('110105', '20250602', '123'))).toMatch(/future/);
    expect(parseResidentId(makeResidentId('110105', '20240229', '123'), today).birthDate).toBe('2024-02-29');
    expect(parseResidentId(makeResidentId('110105', '20250601', '123'), today).birthDate).toBe('2025-06-01');
  });

  it('never echoes the number in its error', () => {
    const id = makeResidentId('110105', '19900101', '123');
    const bad = id.slice(0, 17) + (id.endsWith('1') ? '2' : '1');
    try {
      parseResidentId(bad, today);
    } catch (error) {
      expect(JSON.stringify((error as MilletError).toJSON())).not.toContain(bad.slice(0, 14));
    }
  });
});

describe('age', () => {
  it('counts completed years at the business date in Asia/Shanghai', () => {
    expect(ageInYears('2007-06-01', new Date('2025-05-31T15:59:59Z'))).toBe(17); // 23:59 on 31 May in Beijing
    expect(ageInYears('2007-06-01', new Date('2025-05-31T16:00:00Z'))).toBe(18); // midnight, 1 June
    expect(ageInYears('2007-06-02', today)).toBe(17);
    expect(ageInYears('1949-12-31', today)).toBe(75);
  });

  it('gives someone born on 29 February their birthday on 1 March in other years', () => {
    expect(ageInYears('2004-02-29', new Date('2022-02-28T04:00:00Z'))).toBe(17);
    expect(ageInYears('2004-02-29', new Date('2022-03-01T04:00:00Z'))).toBe(18);
    expect(ageInYears('2004-02-29', new Date('2024-02-29T04:00:00Z'))).toBe(20);
  });
});

describe('masking and names', () => {
  it('masks IDs and names', () => {
    expect(maskResidentId('11010519491231002X')).toBe('1101**********002X');
    expect(maskRealName('张三')).toBe('张*');
    expect(maskRealName('欧阳娜娜')).toBe('欧***');
  });

  it('accepts names as on the ID, including minority names with a middle dot', () => {
    expect(normalizeRealName('  张三 ')).toBe('张三');
    expect(normalizeRealName('买买提·艾力')).toBe('买买提·艾力');
    for (const bad of ['张', '', '张3', '<script>', 'x'.repeat(51)])
      expect(() => normalizeRealName(bad)).toThrow(expect.objectContaining({ code: 'REAL_NAME_INVALID' }));
  });

  it('takes separators only between letters: a dot, space or dash does not count as a letter', () => {
    expect(normalizeRealName("Mary-Jane O'Neil")).toBe("Mary-Jane O'Neil");
    expect(normalizeRealName('J. R. Smith')).toBe('J. R. Smith');
    expect(normalizeRealName('阿依古丽•买买提')).toBe('阿依古丽•买买提');
    for (const bad of ['王·', '王··', '·王明', '王明·', "王-'", '-- ..', '\u0301王明'])
      expect(() => normalizeRealName(bad), bad).toThrow(
        expect.objectContaining({ code: 'REAL_NAME_INVALID' }),
      );
  });
});

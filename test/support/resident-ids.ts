/**
 * A valid PRC resident ID for a region, birth date (YYYYMMDD) and 3-digit sequence: the check
 * character is computed here from the ISO 7064 MOD 11-2 weights, independently of src/identity.
 */
export function makeResidentId(region: string, birth: string, sequence: string): string {
  const first17 = `${region}${birth}${sequence}`;
  const weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...first17].reduce((total, digit, i) => total + Number(digit) * weights[i]!, 0);
  return first17 + '10X98765432'[sum % 11]!;
}

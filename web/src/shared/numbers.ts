/**
 * A whole number typed by a person, from `min` to `max`; undefined for anything else. Number()
 * alone read an empty field as 0 (a merchant onboarded at a 0 fee when the fee was cleared),
 * and "1e3" or "0x10" as 1000 or 16: only plain digits count.
 */
export function parseWholeNumber(text: string, min: number, max: number): number | undefined {
  const clean = text.trim();
  if (!/^\d{1,16}$/.test(clean)) return undefined;
  const n = Number(clean);
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : undefined;
}

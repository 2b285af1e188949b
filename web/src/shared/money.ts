/**
 * Money crosses the API as strings of integer fen ("12345" = 123.45 CNY). The app never turns them
 * into floating-point numbers: formatting and parsing work on the digits (BigInt).
 */
export function formatFen(fen: string | bigint, options: { sign?: boolean } = {}): string {
  const value = typeof fen === 'bigint' ? fen : BigInt(fen);
  const negative = value < 0n;
  const abs = negative ? -value : value;
  const yuan = (abs / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  const cents = (abs % 100n).toString().padStart(2, '0');
  const sign = negative ? '−' : options.sign && value > 0n ? '+' : '';
  return `${sign}${yuan}.${cents}`;
}

/** "1,234.5" → "123450"; undefined when the text is not an amount of at most 2 decimals. */
export function parseYuan(text: string): string | undefined {
  const clean = text.replaceAll(',', '').replaceAll('，', '').trim();
  const match = /^(\d{1,16})(?:\.(\d{1,2}))?$/.exec(clean);
  if (!match) return undefined;
  const fen = BigInt(match[1]!) * 100n + BigInt((match[2] ?? '').padEnd(2, '0'));
  return fen.toString();
}

/**
 * A decimal percent string from the API ("7.1996") to two decimals, rounded half-even in exact
 * integer arithmetic, as the server rounds; no float touches the rate.
 */
export function formatPercent(text: string): string {
  const match = /^(-?)(\d+)(?:\.(\d*))?$/.exec(text.trim());
  if (!match) return text;
  const [, sign, whole, fraction = ''] = match;
  const scaled = BigInt(whole! + fraction.padEnd(4, '0').slice(0, 4)); // 1/10,000 of a point
  const rest = fraction.slice(4).replace(/0+$/, '');
  let hundredths = scaled / 100n;
  const remainder = scaled % 100n;
  if (remainder > 50n || (remainder === 50n && (rest !== '' || hundredths % 2n === 1n))) hundredths += 1n;
  const digits = hundredths.toString().padStart(3, '0');
  return `${sign}${digits.slice(0, -2)}.${digits.slice(-2)}`;
}

/** Basis points as a percent with two decimals ("0.60" for 60), exactly. */
export function formatBasisPoints(bp: number): string {
  const digits = Math.abs(bp).toString().padStart(3, '0');
  return `${bp < 0 ? '-' : ''}${digits.slice(0, -2)}.${digits.slice(-2)}`;
}

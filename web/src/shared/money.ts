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

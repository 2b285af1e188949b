/** YYYY-MM-DD in Asia/Shanghai, the business dates the API speaks. */
export function shanghaiDate(at: number = Date.now()): string {
  return new Date(at + 8 * 3_600_000).toISOString().slice(0, 10);
}

export function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

// Operators enter and read times in Korea's time (UTC+9, no daylight saving), whatever the
// browser's zone: the sales they schedule and the business days of reports are Korean.
const KST_OFFSET_MS = 9 * 3_600_000;
export const TIME_ZONE = 'Asia/Seoul';

/** RFC 3339 instant → the value of an `<input type="datetime-local">` in Korea's time. */
export function toKstInput(iso: string): string {
  const shifted = new Date(new Date(iso).getTime() + KST_OFFSET_MS);
  return shifted.toISOString().slice(0, 16);
}

/** `<input type="datetime-local">` value read as Korea's time → RFC 3339 (UTC); null when empty or invalid. */
export function fromKstInput(value: string): string | null {
  if (!value) return null;
  const time = Date.parse(`${value.length === 16 ? `${value}:00` : value}+09:00`);
  return Number.isNaN(time) ? null : new Date(time).toISOString();
}

/** The start of a Korean day (`YYYY-MM-DD`), plus `days`, as RFC 3339. */
export function kstDayStart(date: string, days = 0): string | null {
  const time = Date.parse(`${date}T00:00:00+09:00`);
  return Number.isNaN(time) ? null : new Date(time + days * 86_400_000).toISOString();
}

/** Today's date in Korea, plus `days`, as `YYYY-MM-DD`. */
export function kstToday(days = 0, now = new Date()): string {
  return new Date(now.getTime() + KST_OFFSET_MS + days * 86_400_000).toISOString().slice(0, 10);
}

// Amounts as people read them, for the display and the serial log alike (core logs the day totals).

/** Minor units as major.minor with two decimals: 1250 -> "12.50". */
export function formatAmount(minor: number): string {
  const whole = Math.floor(minor / 100);
  const cents = minor % 100;
  return `${whole}.${cents < 10 ? '0' : ''}${cents}`;
}

/** A signed amount: "-12.50" for a day whose refunds passed its payments. */
export function formatSigned(minor: number): string {
  return minor < 0 ? `-${formatAmount(-minor)}` : formatAmount(minor);
}

/** Unix seconds as ISO 8601 UTC to the second, the form a log or page reader reads at a glance. */
export function isoTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

// The merchant's day totals: approved payments and journaled refunds of the day the terminal is in, and
// of the day before it (the merchant closes the day the next morning). Kept in the risk checkpoint
// (engine.ts), counted where a payment or a refund becomes a durable record, so that a boot's replay of
// the records after the checkpoint counts each of them once, on the day it counted on before the cut.
// Rules (docs/JOURNAL.md, "Day totals"):
//   - a day is the local day (the provisioned UTC offset) of the terminal's known time: the later of
//     its clock and the floor (clock-state.ts), the floor alone when the clock is unknown;
//   - the open day only moves forward: a dated record (a receipt, a refund) of a later day, or the
//     terminal's known time passing midnight, closes it; the day it closes becomes the previous one;
//   - a record made while the time is unknown, or dated before the open day (a recovered in-doubt
//     payment, a clock behind the floor), counts on the open day: the day it became a record on;
//   - totals gathered before the terminal ever knew the time belong to the first day it learns.
import { decodeUint, encodeUint, TlvError } from '../protocol/tlv';
import { formatAmount, formatSigned, isoTime } from '../../base/amount';

const DAY = 86400;
/** DayTotal.day when the terminal has never known the time. */
const NO_DAY = 0xffffffff;
const TOTAL_BYTES = 4 + 4 + 6 + 4 + 6;
/** Encoded size: the open day and the previous one. */
export const DAY_TOTALS_BYTES = 2 * TOTAL_BYTES;

export interface DayTotal {
  /** Days since 1970-01-01 (UTC); undefined: the time was never known. */
  day: number | undefined;
  payments: number;
  /** Sum of the approved payments, minor units. */
  paid: number;
  refunds: number;
  /** Sum of the refunds journaled, minor units. */
  refunded: number;
}

/** The local day a unix time falls on; undefined for 0 (a record made with the time unknown). */
export function dayOf(time: number | undefined, utcOffsetMinutes = 0): number | undefined {
  return time === undefined || time <= 0 ? undefined : Math.floor((time + utcOffsetMinutes * 60) / DAY);
}

/** What the merchant took on the day: payments less refunds (negative when refunds were more). */
export function netOf(t: DayTotal): number {
  return t.paid - t.refunded;
}

/** A day number (days since 1970-01-01, local) as YYYY-MM-DD; "date unknown" when the terminal never knew the time. */
export function dayDate(day: number | undefined): string {
  return day === undefined ? 'date unknown' : isoTime(day * DAY).slice(0, 10);
}

/** One serial-log line for a day: "2026-12-02: 3 payments 120.00, 1 refund 20.00, net 100.00". */
export function dayTotalsText(t: DayTotal): string {
  const payments = `${t.payments} payment${t.payments === 1 ? '' : 's'} ${formatAmount(t.paid)}`;
  const refunds = `${t.refunds} refund${t.refunds === 1 ? '' : 's'} ${formatAmount(t.refunded)}`;
  return `${dayDate(t.day)}: ${payments}, ${refunds}, net ${formatSigned(netOf(t))}`;
}

function empty(day: number | undefined): DayTotal {
  return { day, payments: 0, paid: 0, refunds: 0, refunded: 0 };
}

export class DayTotals {
  /** Where the merchant's day starts: minutes east of UTC (provisioning `utcOffsetMinutes`). */
  readonly utcOffsetMinutes: number;
  today: DayTotal = empty(undefined);
  /** The day closed before today (not always the calendar day before: a day without trade is skipped). */
  previous: DayTotal | undefined;
  /** How many times the open day moved to a later one: a caller notices a close it did not make. */
  closes = 0;

  constructor(utcOffsetMinutes = 0) {
    this.utcOffsetMinutes = utcOffsetMinutes;
  }

  /** The merchant's day of a unix time (undefined: the time unknown). */
  dayOf(time: number | undefined): number | undefined {
    return dayOf(time, this.utcOffsetMinutes);
  }

  /** An approved payment became a receipt; `time` is the receipt's (undefined: the time was unknown). */
  paid(amount: number, time: number | undefined): void {
    this.rollTo(this.dayOf(time));
    this.today.payments += 1;
    this.today.paid += amount;
  }

  /** A refund became a record (the wallet's signed answer journaled). */
  refunded(amount: number, time: number | undefined): void {
    this.rollTo(this.dayOf(time));
    this.today.refunds += 1;
    this.today.refunded += amount;
  }

  /** Moves the open day forward to `day`; returns the day this closed, if it closed one. */
  rollTo(day: number | undefined): DayTotal | undefined {
    if (day === undefined) return undefined;
    if (this.today.day === undefined) {
      this.today.day = day;
      return undefined;
    }
    if (day <= this.today.day) return undefined;
    const closed = this.today;
    this.previous = closed;
    this.today = empty(day);
    this.closes++;
    return closed;
  }

  encode(): Uint8Array {
    const out = new Uint8Array(DAY_TOTALS_BYTES);
    write(out, 0, this.today);
    if (this.previous) write(out, TOTAL_BYTES, this.previous);
    return out;
  }

  /** Reads stored totals (untrusted bytes). Throws TlvError. */
  static decode(bytes: Uint8Array, utcOffsetMinutes = 0): DayTotals {
    if (bytes.length !== DAY_TOTALS_BYTES) throw new TlvError(`day totals of ${bytes.length} bytes`);
    const t = new DayTotals(utcOffsetMinutes);
    t.today = read(bytes, 0);
    const previous = read(bytes, TOTAL_BYTES);
    // an all-zero second half: no day closed yet
    if (previous.day !== 0) t.previous = previous;
    if (t.previous && (t.previous.day === undefined || t.today.day === undefined || t.previous.day >= t.today.day)) {
      throw new TlvError('day totals: the previous day is not before the open day');
    }
    return t;
  }
}

function write(out: Uint8Array, at: number, t: DayTotal): void {
  out.set(encodeUint(t.day ?? NO_DAY, 4), at);
  out.set(encodeUint(t.payments, 4), at + 4);
  out.set(encodeUint(t.paid, 6), at + 8);
  out.set(encodeUint(t.refunds, 4), at + 14);
  out.set(encodeUint(t.refunded, 6), at + 18);
}

function read(b: Uint8Array, at: number): DayTotal {
  const day = decodeUint(b.subarray(at, at + 4));
  return {
    day: day === NO_DAY ? undefined : day,
    payments: decodeUint(b.subarray(at + 4, at + 8)),
    paid: decodeUint(b.subarray(at + 8, at + 14)),
    refunds: decodeUint(b.subarray(at + 14, at + 18)),
    refunded: decodeUint(b.subarray(at + 18, at + 24)),
  };
}

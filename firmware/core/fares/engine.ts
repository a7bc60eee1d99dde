// The fare engine: what this tap costs, from the operator's rules, the wallet's transit log and the
// validator's station and time. Pure: the terminal runs it before the gate opens, the settlement
// service runs it again on the receipt to check what was charged (host/settlement/fares.ts).
//
// The order, each step rounding down: the fare (flat, zone pair or distance) -> off-peak percentage ->
// concession percentage -> transfer percentage -> the cap (never beyond what is left of the day's and
// the week's cap). Tap-on/tap-off: tap-on charges the most a journey from here can cost (after the same
// steps); tap-off charges what the journey cost with the cap room there was at tap-on, and refunds the rest.
import { TaplineError } from '../../base/errors';
import { lastOf, TAP_OFF, TAP_ON, TAP_RIDE, weekOf, type TapKind, type TransitEntry, type TransitLog } from '../protocol/transit-log';
import type { FareRules } from './rules';

export class FareError extends TaplineError {
  override readonly name: string = 'FareError';
}

export interface FareInput {
  rules: FareRules;
  log: TransitLog;
  /** The validator's station (any number for a flat fare). */
  station: number;
  /** Unix seconds: fares cannot be computed with the time unknown. */
  time: number;
  walletClass: number;
  /** The certificate's concession entitlement and its end (unix seconds). */
  concession?: number;
  concessionUntil?: number;
}

export interface FareDecision {
  kind: TapKind;
  /** The journey began as a transfer. */
  transfer: boolean;
  /** What the wallet pays now, and what it is refunded now (tap-off). */
  amount: number;
  refund: number;
  /** The service day the tap counts on (a tap-off counts on its tap-on's day). */
  day: number;
  /** The fare before the cap (tap-off: the journey's). */
  fare: number;
  /** The cap took something off. */
  capped: boolean;
}

const DAY = 86400;

/** The operator's service day of a time. */
export function serviceDay(rules: FareRules, time: number): number {
  return Math.floor((time + rules.utcOffsetMinutes * 60 - rules.dayStartMinutes * 60) / DAY);
}

export function isPeak(rules: FareRules, time: number): boolean {
  const p = rules.peak;
  if (!p) return true;
  const local = time + rules.utcOffsetMinutes * 60;
  const minute = Math.floor((local % DAY + DAY) % DAY / 60);
  // 1970-01-01 was a Thursday: 0 = Sunday
  const weekday = (Math.floor(local / DAY) + 4) % 7;
  if (p.weekdaysOnly && (weekday === 0 || weekday === 6)) return false;
  return p.windows.some(([from, to]) => minute >= from && minute < to);
}

function stationValue(stations: Map<number, number>, station: number): number {
  const v = stations.get(station);
  if (v === undefined) throw new FareError(`station ${station} is not in the fare rules`);
  return v;
}

/** The fare between two stations before any percentage. */
function journeyFare(rules: FareRules, from: number, to: number): number {
  const f = rules.fare;
  if (f.kind === 'flat') return f.amount;
  if (f.kind === 'zones') {
    const row = f.table[stationValue(f.stations, from)]!;
    return row[stationValue(f.stations, to)]!;
  }
  return Math.min(f.max, f.base + f.perUnit * Math.abs(stationValue(f.stations, from) - stationValue(f.stations, to)));
}

/** The most a journey from `from` can cost. */
function maxFareFrom(rules: FareRules, from: number): number {
  const f = rules.fare;
  if (f.kind === 'flat') return f.amount;
  let most = 0;
  for (const to of f.stations.keys()) most = Math.max(most, journeyFare(rules, from, to));
  return most;
}

/** Percent of the fare the wallet pays under its concessions (the best one; 100 with none). */
export function concessionPercent(input: FareInput, time: number): number {
  const c = input.rules.concessions;
  let p = c.walletClasses.get(input.walletClass) ?? 100;
  if (input.concession !== undefined && (input.concessionUntil === undefined || time <= input.concessionUntil)) {
    p = Math.min(p, c.entitlements.get(input.concession) ?? 100);
  }
  return p;
}

function adjusted(input: FareInput, base: number, time: number, transfer: boolean): number {
  const { rules } = input;
  let x = base;
  if (rules.peak && !isPeak(rules, time)) x = Math.floor((x * rules.peak.offPeakPercent) / 100);
  x = Math.floor((x * concessionPercent(input, time)) / 100);
  if (transfer && rules.transfer) x = Math.floor((x * rules.transfer.percent) / 100);
  return x;
}

/** What is left of the day's and the week's cap on `day`, before `totalsOf` (the newest entry, or the totals before a tap-on). */
function capRoom(rules: FareRules, day: number, totals: { day: number; dayTotal: number; weekTotal: number } | undefined): number {
  let room = Infinity;
  if (rules.caps.daily !== undefined) room = Math.min(room, rules.caps.daily - (totals && totals.day === day ? totals.dayTotal : 0));
  if (rules.caps.weekly !== undefined) room = Math.min(room, rules.caps.weekly - (totals && weekOf(totals.day) === weekOf(day) ? totals.weekTotal : 0));
  return Math.max(0, room);
}

function beginsTransfer(rules: FareRules, prior: TransitEntry | undefined, time: number): boolean {
  if (!rules.transfer || !prior || prior.transfer) return false;
  if (prior.kind !== TAP_RIDE && prior.kind !== TAP_OFF) return false;
  return time >= prior.time && time - prior.time <= rules.transfer.withinMinutes * 60;
}

/** The journey open on this wallet with this operator: its newest entry is a tap-on, recent enough. */
export function openJourney(rules: FareRules, log: TransitLog, time: number): TransitEntry | undefined {
  const f = rules.fare;
  if (f.kind === 'flat') return undefined;
  const prior = lastOf(log, rules.operator);
  if (!prior || prior.kind !== TAP_ON) return undefined;
  return time >= prior.time && time - prior.time <= f.maxJourneyMinutes * 60 ? prior : undefined;
}

/** The fare of this tap. Throws FareError when the rules cannot price it (a station they do not name). */
export function computeFare(input: FareInput): FareDecision {
  const { rules, log, station, time } = input;
  const prior = lastOf(log, rules.operator);
  const day = serviceDay(rules, time);
  if (rules.fare.kind === 'flat') {
    const transfer = beginsTransfer(rules, prior, time);
    const fare = adjusted(input, rules.fare.amount, time, transfer);
    const amount = Math.min(fare, capRoom(rules, day, prior));
    return { kind: TAP_RIDE, transfer, amount, refund: 0, day, fare, capped: amount < fare };
  }
  const open = openJourney(rules, log, time);
  if (open) {
    const fare = adjusted(input, journeyFare(rules, open.station, station), open.time, open.transfer);
    // the cap room there was when the journey began: the totals before its tap-on's charge
    const before = { day: open.day, dayTotal: open.dayTotal - open.fare, weekTotal: open.weekTotal - open.fare };
    const charge = Math.min(fare, capRoom(rules, open.day, before), open.fare);
    return { kind: TAP_OFF, transfer: open.transfer, amount: 0, refund: open.fare - charge, day: open.day, fare, capped: charge < fare };
  }
  // an unfinished journey (a tap-on too old) keeps its charge; this tap begins a new one
  const transfer = beginsTransfer(rules, prior, time);
  const fare = adjusted(input, maxFareFrom(rules, station), time, transfer);
  const amount = Math.min(fare, capRoom(rules, day, prior));
  return { kind: TAP_ON, transfer, amount, refund: 0, day, fare, capped: amount < fare };
}

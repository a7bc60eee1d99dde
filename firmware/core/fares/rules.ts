// An operator's fare rules, as its signed update (kind 6, uplink/updates.ts) carries them: the fare
// (flat, by zone pair, or by distance with tap-on/tap-off), transfers, daily and weekly caps,
// concessions, peak and off-peak. Parsed from JSON with one clear error per mistake; amounts are
// integers in minor units, percentages are of the fare paid (100 = full fare, 0 = free).
import { TaplineError } from '../../base/errors';
import { MAX_TRANSIT_AMOUNT } from '../protocol/transit-log';

export class FareRulesError extends TaplineError {
  override readonly name: string = 'FareRulesError';
}

export interface FlatFare {
  kind: 'flat';
  amount: number;
}

/** Tap-on/tap-off: charged the most a journey from here can cost at tap-on, the rest refunded at tap-off. */
interface JourneyFare {
  /** A tap-on older than this is an unfinished journey: it keeps the most it could cost. */
  maxJourneyMinutes: number;
}

export interface ZoneFare extends JourneyFare {
  kind: 'zones';
  /** Station number -> zone (an index into `table`). */
  stations: Map<number, number>;
  /** table[from zone][to zone]. */
  table: number[][];
}

export interface DistanceFare extends JourneyFare {
  kind: 'distance';
  /** Station number -> position along the line, in the operator's unit (e.g. 100 m). */
  stations: Map<number, number>;
  base: number;
  perUnit: number;
  /** The most a journey costs. */
  max: number;
}

export type Fare = FlatFare | ZoneFare | DistanceFare;

export interface FareRules {
  /** The operator's number in the wallet's transit log (1..65535). */
  operator: number;
  /** The merchant id its validators send: rules signed for another operator are refused. */
  operatorId: string;
  /** Local time (service days, peak windows): minutes east of UTC. */
  utcOffsetMinutes: number;
  /** A service day begins at this local minute (a late train belongs to the day before). */
  dayStartMinutes: number;
  fare: Fare;
  /** A journey that begins within `withinMinutes` of the end of a paid one pays `percent` of its fare. */
  transfer?: { withinMinutes: number; percent: number };
  /** Never more per service day / per week (Monday to Sunday) than this: the best fare. */
  caps: { daily?: number; weekly?: number };
  /** Percent of the fare paid, by certificate wallet class and by certificate concession entitlement. */
  concessions: { walletClasses: Map<number, number>; entitlements: Map<number, number> };
  /** Peak windows in local minutes [from, to); outside them the fare is `offPeakPercent` of itself. */
  peak?: { windows: [number, number][]; weekdaysOnly: boolean; offPeakPercent: number };
}

type Json = Record<string, unknown>;

function object(v: unknown, what: string): Json {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new FareRulesError(`${what} must be an object`);
  return v as Json;
}

function int(v: unknown, what: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw new FareRulesError(`${what} must be an integer ${min}..${max}, got ${JSON.stringify(v)}`);
  return v;
}

const amount = (v: unknown, what: string): number => int(v, what, 0, MAX_TRANSIT_AMOUNT);
const percent = (v: unknown, what: string): number => int(v, what, 0, 100);

function only(o: Json, what: string, keys: string[]): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw new FareRulesError(`${what}: unknown field "${k}"`);
}

function numberMap(v: unknown, what: string, value: (x: unknown, w: string) => number): Map<number, number> {
  const o = object(v ?? {}, what);
  const out = new Map<number, number>();
  for (const k of Object.keys(o)) {
    const key = Number(k);
    if (!/^[0-9]+$/.test(k) || key > 65535) throw new FareRulesError(`${what}: "${k}" is not a number 0..65535`);
    out.set(key, value(o[k], `${what} ${k}`));
  }
  return out;
}

function minuteOfDay(v: unknown, what: string): number {
  if (typeof v !== 'string' || !/^([01][0-9]|2[0-4]):[0-5][0-9]$/.test(v)) throw new FareRulesError(`${what} must be "HH:MM"`);
  const m = Number(v.slice(0, 2)) * 60 + Number(v.slice(3));
  if (m > 1440) throw new FareRulesError(`${what} is past 24:00`);
  return m;
}

function parseFare(v: unknown): Fare {
  const o = object(v, 'fare');
  if (o.kind === 'flat') {
    only(o, 'fare', ['kind', 'amount']);
    return { kind: 'flat', amount: amount(o.amount, 'fare.amount') };
  }
  const maxJourneyMinutes = int(o.maxJourneyMinutes, 'fare.maxJourneyMinutes', 1, 24 * 60);
  if (o.kind === 'zones') {
    only(o, 'fare', ['kind', 'stations', 'table', 'maxJourneyMinutes']);
    if (!Array.isArray(o.table) || o.table.length === 0 || o.table.length > 32) throw new FareRulesError('fare.table must be 1..32 rows');
    const n = o.table.length;
    const table = o.table.map((row: unknown, i) => {
      if (!Array.isArray(row) || row.length !== n) throw new FareRulesError(`fare.table row ${i} must have ${n} fares`);
      return row.map((x: unknown, j) => amount(x, `fare.table[${i}][${j}]`));
    });
    const stations = numberMap(o.stations, 'fare.stations', (x, w) => int(x, w, 0, n - 1));
    if (stations.size === 0) throw new FareRulesError('fare.stations is empty');
    return { kind: 'zones', stations, table, maxJourneyMinutes };
  }
  if (o.kind === 'distance') {
    only(o, 'fare', ['kind', 'stations', 'base', 'perUnit', 'max', 'maxJourneyMinutes']);
    const stations = numberMap(o.stations, 'fare.stations', (x, w) => int(x, w, 0, 100_000));
    if (stations.size === 0) throw new FareRulesError('fare.stations is empty');
    return { kind: 'distance', stations, base: amount(o.base, 'fare.base'), perUnit: amount(o.perUnit, 'fare.perUnit'), max: amount(o.max, 'fare.max'), maxJourneyMinutes };
  }
  throw new FareRulesError('fare.kind is "flat", "zones" or "distance"');
}

/** Validates fare rules from JSON (a signed update's body, or a provisioning file). Throws FareRulesError. */
export function parseFareRules(input: unknown): FareRules {
  const o = object(input, 'fare rules');
  only(o, 'fare rules', ['operator', 'operatorId', 'utcOffsetMinutes', 'dayStartMinutes', 'fare', 'transfer', 'caps', 'concessions', 'peak']);
  if (typeof o.operatorId !== 'string' || !/^[\x21-\x7e]{1,16}$/.test(o.operatorId)) throw new FareRulesError('operatorId must be 1..16 printable ASCII');
  const rules: FareRules = {
    operator: int(o.operator, 'operator', 1, 65535),
    operatorId: o.operatorId,
    utcOffsetMinutes: int(o.utcOffsetMinutes ?? 0, 'utcOffsetMinutes', -720, 840),
    dayStartMinutes: int(o.dayStartMinutes ?? 0, 'dayStartMinutes', 0, 1439),
    fare: parseFare(o.fare),
    caps: {},
    concessions: { walletClasses: new Map(), entitlements: new Map() },
  };
  if (o.transfer !== undefined) {
    const t = object(o.transfer, 'transfer');
    only(t, 'transfer', ['withinMinutes', 'percent']);
    rules.transfer = { withinMinutes: int(t.withinMinutes, 'transfer.withinMinutes', 1, 24 * 60), percent: percent(t.percent, 'transfer.percent') };
  }
  if (o.caps !== undefined) {
    const c = object(o.caps, 'caps');
    only(c, 'caps', ['daily', 'weekly']);
    if (c.daily !== undefined) rules.caps.daily = amount(c.daily, 'caps.daily');
    if (c.weekly !== undefined) rules.caps.weekly = amount(c.weekly, 'caps.weekly');
  }
  if (o.concessions !== undefined) {
    const c = object(o.concessions, 'concessions');
    only(c, 'concessions', ['walletClasses', 'entitlements']);
    rules.concessions = { walletClasses: numberMap(c.walletClasses, 'concessions.walletClasses', percent), entitlements: numberMap(c.entitlements, 'concessions.entitlements', percent) };
  }
  if (o.peak !== undefined) {
    const p = object(o.peak, 'peak');
    only(p, 'peak', ['windows', 'weekdaysOnly', 'offPeakPercent']);
    if (!Array.isArray(p.windows) || p.windows.length > 8) throw new FareRulesError('peak.windows must be a list of at most 8 ["HH:MM", "HH:MM"]');
    const windows = p.windows.map((w: unknown, i): [number, number] => {
      if (!Array.isArray(w) || w.length !== 2) throw new FareRulesError(`peak.windows[${i}] must be ["HH:MM", "HH:MM"]`);
      const from = minuteOfDay(w[0], `peak.windows[${i}][0]`);
      const to = minuteOfDay(w[1], `peak.windows[${i}][1]`);
      if (to <= from) throw new FareRulesError(`peak.windows[${i}] ends before it starts`);
      return [from, to];
    });
    if (typeof (p.weekdaysOnly ?? false) !== 'boolean') throw new FareRulesError('peak.weekdaysOnly must be true or false');
    rules.peak = { windows, weekdaysOnly: (p.weekdaysOnly as boolean | undefined) ?? false, offPeakPercent: percent(p.offPeakPercent, 'peak.offPeakPercent') };
  }
  return rules;
}

// The wallet's transit log: the last taps it made at validators, each with the running totals of its
// operator's service day and week. A validator reads it (READ TRANSIT LOG), computes the fare from it
// and from its operator's fare rules, and names the log it used in the PAY request (its SHA-256, tag
// 8C). The wallet signs that request and refuses it if the digest is not of the log it holds, so the
// log a receipt was priced from is signed as part of the payment. Fixed-width records: one encoding.
//
// log   = version (1) | counter (4, the wallet's counter when read) | count (1) | entries, oldest first
// entry = kind (1) | time (4) | operator (2) | station (2) | fare (3) | refund (3) | counter (4) |
//         day (2) | day total (3) | week total (3)                                   = 27 bytes
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, fromHex, toHex } from '../../base/bytes';
import { decodeUint, encodeUint, TlvError } from './tlv';

export const TRANSIT_LOG_VERSION = 1;
/** Entries a wallet keeps: the log fits one short APDU response (6 + 8 x 27 = 222 bytes). */
export const TRANSIT_LOG_ENTRIES = 8;
export const TRANSIT_ENTRY_BYTES = 27;
const HEADER_BYTES = 6;
export const MAX_TRANSIT_LOG_BYTES = HEADER_BYTES + TRANSIT_LOG_ENTRIES * TRANSIT_ENTRY_BYTES;
/** Fares, refunds and totals are 3-byte amounts in minor units (167,772.15 yuan). */
export const MAX_TRANSIT_AMOUNT = 0xffffff;

/** A single ride (flat fare), the start of a journey (charged the most it can cost), its end (the rest refunded). */
export const TAP_RIDE = 1;
export const TAP_ON = 2;
export const TAP_OFF = 3;
export type TapKind = typeof TAP_RIDE | typeof TAP_ON | typeof TAP_OFF;
/** Kind byte bit 2: the journey began as a transfer (it cannot give a transfer in turn). */
const FLAG_TRANSFER = 0x04;

export interface TransitEntry {
  kind: TapKind;
  /** The journey began within the transfer window of the previous one. */
  transfer: boolean;
  /** Unix seconds (the validator's time). */
  time: number;
  /** The operator's number (1..65535), from its fare rules. */
  operator: number;
  station: number;
  /** Charged at this tap, and credited back at it (tap-off), minor units. */
  fare: number;
  refund: number;
  /** The wallet's counter of the payment that wrote the entry. */
  counter: number;
  /** The operator's service day (days since 1970-01-01 in its rules' local time). */
  day: number;
  /** Net charged by this operator on `day` and in its week, this tap included. */
  dayTotal: number;
  weekTotal: number;
}

export interface TransitLog {
  /** The wallet's counter when the log was read: the next payment has counter + 1. */
  counter: number;
  entries: TransitEntry[];
}

/** What a PAY request asks the wallet to add to its log (the fare is the request's amount). */
export interface TransitTap {
  /** SHA-256 of the log as read. */
  logDigest: Uint8Array;
  kind: TapKind;
  transfer: boolean;
  operator: number;
  station: number;
  day: number;
  refund: number;
}
export const TRANSIT_TAP_BYTES = 32 + 1 + 2 + 2 + 2 + 3;

/** Weeks start on Monday; 1970-01-01 was a Thursday. */
export function weekOf(day: number): number {
  return Math.floor((day + 3) / 7);
}

function kindByte(kind: TapKind, transfer: boolean): number {
  return kind | (transfer ? FLAG_TRANSFER : 0);
}

function readKind(b: number): { kind: TapKind; transfer: boolean } {
  const kind = b & 0x03;
  if ((b & ~0x07) !== 0 || (kind !== TAP_RIDE && kind !== TAP_ON && kind !== TAP_OFF)) throw new TlvError(`transit tap kind 0x${b.toString(16)}`);
  return { kind: kind as TapKind, transfer: (b & FLAG_TRANSFER) !== 0 };
}

export function encodeTransitLog(log: TransitLog): Uint8Array {
  if (log.entries.length > TRANSIT_LOG_ENTRIES) throw new TlvError(`transit log of ${log.entries.length} entries`);
  const parts = [Uint8Array.from([TRANSIT_LOG_VERSION]), encodeUint(log.counter, 4), Uint8Array.from([log.entries.length])];
  for (const e of log.entries) {
    parts.push(
      Uint8Array.from([kindByte(e.kind, e.transfer)]),
      encodeUint(e.time, 4),
      encodeUint(e.operator, 2),
      encodeUint(e.station, 2),
      encodeUint(e.fare, 3),
      encodeUint(e.refund, 3),
      encodeUint(e.counter, 4),
      encodeUint(e.day, 2),
      encodeUint(e.dayTotal, 3),
      encodeUint(e.weekTotal, 3),
    );
  }
  return concatBytes(...parts);
}

/**
 * Parses a log (untrusted bytes). Throws TlvError for a wrong length, version or kind, and for entries
 * out of order (counters must rise and stay at or below the log's counter; times must not go back).
 */
export function decodeTransitLog(bytes: Uint8Array): TransitLog {
  if (bytes.length < HEADER_BYTES || bytes.length > MAX_TRANSIT_LOG_BYTES) throw new TlvError(`transit log of ${bytes.length} bytes`);
  if (bytes[0] !== TRANSIT_LOG_VERSION) throw new TlvError(`transit log version ${bytes[0]}`);
  const counter = decodeUint(bytes.subarray(1, 5));
  const count = bytes[5]!;
  if (count > TRANSIT_LOG_ENTRIES || bytes.length !== HEADER_BYTES + count * TRANSIT_ENTRY_BYTES) {
    throw new TlvError(`transit log of ${bytes.length} bytes does not hold ${count} entries`);
  }
  const entries: TransitEntry[] = [];
  for (let i = 0; i < count; i++) {
    const e = bytes.subarray(HEADER_BYTES + i * TRANSIT_ENTRY_BYTES, HEADER_BYTES + (i + 1) * TRANSIT_ENTRY_BYTES);
    const entry: TransitEntry = {
      ...readKind(e[0]!),
      time: decodeUint(e.subarray(1, 5)),
      operator: decodeUint(e.subarray(5, 7)),
      station: decodeUint(e.subarray(7, 9)),
      fare: decodeUint(e.subarray(9, 12)),
      refund: decodeUint(e.subarray(12, 15)),
      counter: decodeUint(e.subarray(15, 19)),
      day: decodeUint(e.subarray(19, 21)),
      dayTotal: decodeUint(e.subarray(21, 24)),
      weekTotal: decodeUint(e.subarray(24, 27)),
    };
    const prev = entries[entries.length - 1];
    if (entry.counter > counter || (prev && (entry.counter <= prev.counter || entry.time < prev.time))) {
      throw new TlvError(`transit log entry ${i} out of order`);
    }
    entries.push(entry);
  }
  return { counter, entries };
}

export function transitLogDigest(bytes: Uint8Array): Uint8Array {
  return sha256(bytes);
}

export function encodeTransitTap(t: TransitTap): Uint8Array {
  if (t.logDigest.length !== 32) throw new TlvError(`log digest of ${t.logDigest.length} bytes`);
  return concatBytes(
    t.logDigest,
    Uint8Array.from([kindByte(t.kind, t.transfer)]),
    encodeUint(t.operator, 2),
    encodeUint(t.station, 2),
    encodeUint(t.day, 2),
    encodeUint(t.refund, 3),
  );
}

export function decodeTransitTap(bytes: Uint8Array): TransitTap {
  if (bytes.length !== TRANSIT_TAP_BYTES) throw new TlvError(`transit tap of ${bytes.length} bytes`);
  const tap: TransitTap = {
    logDigest: bytes.slice(0, 32),
    ...readKind(bytes[32]!),
    operator: decodeUint(bytes.subarray(33, 35)),
    station: decodeUint(bytes.subarray(35, 37)),
    day: decodeUint(bytes.subarray(37, 39)),
    refund: decodeUint(bytes.subarray(39, 42)),
  };
  if (tap.refund > 0 && tap.kind !== TAP_OFF) throw new TlvError('only a tap-off refunds');
  return tap;
}

/** The newest entry of an operator, if the log still holds one. */
export function lastOf(log: TransitLog, operator: number): TransitEntry | undefined {
  for (let i = log.entries.length - 1; i >= 0; i--) if (log.entries[i]!.operator === operator) return log.entries[i];
  return undefined;
}

/**
 * The entry a payment adds: the wallet computes the running totals itself from its newest entry of the
 * same operator (a new day or week starts from zero; a refund never takes a total below zero).
 */
export function nextEntry(log: TransitLog, tap: TransitTap, fare: number, time: number, counter: number): TransitEntry {
  const last = lastOf(log, tap.operator);
  const day = last && last.day === tap.day ? last.dayTotal : 0;
  const week = last && weekOf(last.day) === weekOf(tap.day) ? last.weekTotal : 0;
  const net = (total: number) => Math.min(MAX_TRANSIT_AMOUNT, Math.max(0, total + fare - tap.refund));
  return {
    kind: tap.kind,
    transfer: tap.transfer,
    time,
    operator: tap.operator,
    station: tap.station,
    fare,
    refund: tap.refund,
    counter,
    day: tap.day,
    dayTotal: net(day),
    weekTotal: net(week),
  };
}

/** The log after a payment: the entry appended, the oldest dropped when full (totals ride in the newest). */
export function appendEntry(log: TransitLog, entry: TransitEntry): TransitLog {
  const entries = [...log.entries, entry];
  while (entries.length > TRANSIT_LOG_ENTRIES) entries.shift();
  return { counter: entry.counter, entries };
}

/** For JSON (the wallet file, vectors): the log as hex. */
export function transitLogHex(log: TransitLog): string {
  return toHex(encodeTransitLog(log));
}

export function transitLogFromHex(hex: string): TransitLog {
  return decodeTransitLog(fromHex(hex));
}

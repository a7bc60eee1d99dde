// What the terminal knows about time when its clock does not: the latest time it knows has passed and how
// long it has been offline, both counted forward with uptime and kept in the journal (record
// RECORD_CLOCK, and inside every risk checkpoint), so that a power cycle that loses the wall time
// cannot turn the offline clock back. Rules (docs/JOURNAL.md, "Clock state"):
//   - the floor (`lastKnownTime`) only moves forward: a time earlier than it is refused;
//   - date checks use the later of the wall clock and the floor;
//   - time offline counts uptime since the last settlement, across reboots, with or without a wall time.
import { decodeFields, required, decodeUint, encodeTlv, encodeUint, TlvError } from '../protocol/tlv';

const VERSION = 1;
const T = { version: 0x80, lastKnownTime: 0x81, settledAt: 0x82, offlineSeconds: 0x83 } as const;
/** Encoded size: four short fields. */
export const CLOCK_STATE_BYTES = 3 + 7 + 7 + 6;

export interface ClockStateFields {
  /** Unix seconds the terminal knows have passed (a lower bound on now); 0 when it never knew. */
  lastKnownTime: number;
  /** Unix seconds of the last settlement (provisioning counts as one); undefined before the first. */
  settledAt: number | undefined;
  /** Seconds of uptime since the last settlement, over every boot. */
  offlineSeconds: number;
}

export class ClockState implements ClockStateFields {
  lastKnownTime = 0;
  settledAt: number | undefined;
  offlineSeconds = 0;
  /** Monotonic ms (Clock.now) up to which uptime has been counted in this boot. */
  #countedMs: number | undefined;

  constructor(fields: Partial<ClockStateFields> = {}) {
    this.settledAt = fields.settledAt;
    this.lastKnownTime = Math.max(fields.lastKnownTime ?? 0, fields.settledAt ?? 0);
    this.offlineSeconds = fields.offlineSeconds ?? 0;
  }

  /** Counts the uptime since the last call into both the floor and the time offline. */
  advance(nowMs: number): void {
    if (this.#countedMs === undefined || nowMs < this.#countedMs) {
      this.#countedMs = nowMs;
      return;
    }
    const seconds = Math.floor((nowMs - this.#countedMs) / 1000);
    if (seconds <= 0) return;
    this.#countedMs += seconds * 1000;
    if (this.lastKnownTime > 0) this.lastKnownTime += seconds;
    this.offlineSeconds += seconds;
  }

  /** The later of the wall time and the floor; the floor alone when the wall time is unknown. */
  effectiveTime(wall: number | undefined, nowMs: number): number {
    this.advance(nowMs);
    return wall === undefined ? this.lastKnownTime : Math.max(wall, this.lastKnownTime);
  }

  /**
   * A time the terminal learnt (its clock, a receipt, the service). Moves the floor forward; returns
   * false, changing nothing, for a time earlier than the floor (the clock never moves backwards).
   */
  observe(time: number, nowMs?: number): boolean {
    if (nowMs !== undefined) this.advance(nowMs);
    if (time < this.lastKnownTime) return false;
    this.lastKnownTime = time;
    // Count whole seconds from this reading on, so that the floor never runs ahead of a right clock.
    if (nowMs !== undefined) this.#countedMs = nowMs;
    // A terminal that never settled starts its offline window when it first knows the time.
    this.settledAt ??= time;
    return true;
  }

  /** Everything is acknowledged at `time` (never before the floor): the offline window starts again. */
  settled(time: number, nowMs?: number): void {
    if (nowMs !== undefined) this.advance(nowMs);
    const at = Math.max(time, this.lastKnownTime);
    this.lastKnownTime = at;
    this.settledAt = at;
    this.offlineSeconds = 0;
  }

  /** Seconds offline: the uptime counted, or the floor's distance from the settlement if larger. */
  secondsOffline(nowMs: number): number {
    this.advance(nowMs);
    const byTime = this.settledAt === undefined || this.lastKnownTime === 0 ? 0 : this.lastKnownTime - this.settledAt;
    return Math.max(this.offlineSeconds, byTime);
  }

  /**
   * Takes in a state read back from the journal: the floor is the later one; the time offline is the
   * one of the later settlement (an older record's count ended when that settlement reset it).
   */
  merge(other: ClockStateFields): void {
    this.lastKnownTime = Math.max(this.lastKnownTime, other.lastKnownTime);
    const mine = this.settledAt ?? 0;
    const theirs = other.settledAt ?? 0;
    if (theirs > mine) {
      this.settledAt = other.settledAt;
      this.offlineSeconds = other.offlineSeconds;
    } else if (theirs === mine) {
      this.offlineSeconds = Math.max(this.offlineSeconds, other.offlineSeconds);
    }
  }

  encode(): Uint8Array {
    return encodeTlv([
      { tag: T.version, value: encodeUint(VERSION, 1) },
      { tag: T.lastKnownTime, value: encodeUint(this.lastKnownTime, 5) },
      { tag: T.settledAt, value: encodeUint(this.settledAt ?? 0, 5) },
      { tag: T.offlineSeconds, value: encodeUint(this.offlineSeconds, 4) },
    ]);
  }

  /** Reads a stored state (untrusted bytes: a torn or foreign record). Throws TlvError. */
  static decode(bytes: Uint8Array): ClockState {
    const f = decodeFields(
      bytes,
      { [T.version]: { min: 1, max: 1 }, [T.lastKnownTime]: { min: 5, max: 5 }, [T.settledAt]: { min: 5, max: 5 }, [T.offlineSeconds]: { min: 4, max: 4 } },
      CLOCK_STATE_BYTES,
    );
    if (required(f, T.version)[0] !== VERSION) throw new TlvError(`clock state version ${required(f, T.version)[0]}`);
    const settledAt = decodeUint(required(f, T.settledAt));
    return new ClockState({
      lastKnownTime: decodeUint(required(f, T.lastKnownTime)),
      settledAt: settledAt === 0 ? undefined : settledAt,
      offlineSeconds: decodeUint(required(f, T.offlineSeconds)),
    });
  }
}

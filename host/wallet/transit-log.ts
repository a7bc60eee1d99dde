// The wallet's side of the transit log (firmware/core/protocol/transit-log.ts): what its secure element
// keeps beside the balance and the counter, answers to READ TRANSIT LOG, and checks before it signs a
// PAY that names a log: the digest must be of the log it holds right now (a tampered or replayed log
// is refused before any debit), and a refund must not exceed the charge of the journey it closes.
import { equalBytes } from '../../firmware/base/bytes';
import {
  appendEntry,
  encodeTransitLog,
  lastOf,
  nextEntry,
  TAP_OFF,
  TAP_ON,
  transitLogDigest,
  type TransitEntry,
  type TransitTap,
} from '../../firmware/core/protocol/transit-log';

export class WalletTransitLog {
  #entries: TransitEntry[];

  constructor(entries: TransitEntry[] = []) {
    this.#entries = [...entries];
  }

  get entries(): TransitEntry[] {
    return [...this.#entries];
  }

  /** The log as READ TRANSIT LOG answers it, with the wallet's current counter. */
  read(counter: number): Uint8Array {
    return encodeTransitLog({ counter, entries: this.#entries });
  }

  /** Why the wallet must refuse to sign this tap, or undefined when it may. */
  refusal(tap: TransitTap, counter: number): string | undefined {
    if (!equalBytes(tap.logDigest, transitLogDigest(this.read(counter)))) return 'the request names another transit log';
    if (tap.kind === TAP_OFF) {
      const open = lastOf({ counter, entries: this.#entries }, tap.operator);
      if (!open || open.kind !== TAP_ON) return 'a tap-off with no journey open';
      if (tap.refund > open.fare) return `a refund of ${tap.refund} for a journey charged ${open.fare}`;
      if (tap.day !== open.day) return 'a tap-off on another day than its tap-on';
    } else if (tap.refund > 0) {
      return 'only a tap-off refunds';
    }
    return undefined;
  }

  /** Adds the entry of a payment just made (counter already moved). */
  add(tap: TransitTap, fare: number, time: number, counter: number): void {
    const log = { counter: counter - 1, entries: this.#entries };
    this.#entries = appendEntry(log, nextEntry(log, tap, fare, time, counter)).entries;
  }
}

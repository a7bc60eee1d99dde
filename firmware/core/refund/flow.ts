// The merchant's refund on the keypad (docs/PROTOCOL.md "Offline refunds"): C from idle, the merchant
// PIN (provisioned as a salted SHA-256, at most MAX_PIN_TRIES wrong in a row, counted in the journal so
// a reboot does not reset them), then the payment (its terminal sequence, or # for the newest), the
// amount (# alone: all that is left), then the paying card. The terminal's state machine hands keys and
// cards here while a refund is under way and shows the screens this returns.
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, equalBytes, utf8Encode } from '../../base/bytes';
import type { CardLink } from '../../base/ports';
import { decline, type Decline } from '../../base/reasons';
import { rethrowIfProgrammerError } from '../../base/errors';
import type { Log } from '../../base/platform';
import { present } from '../../base/assert';
import type { Journaled, Original, RefundDesk } from './desk';

/** Journal record type of the merchant PIN's wrong tries in a row (keyed: the newest counts). */
export const RECORD_REFUND_PIN = 0x0b;
export const MAX_PIN_TRIES = 3;
const MAX_DIGITS = 9;

/** The merchant PIN as provisioned: SHA-256(salt || PIN digits). */
export interface MerchantPin {
  salt: Uint8Array;
  hash: Uint8Array;
}

export function hashMerchantPin(salt: Uint8Array, pin: string): Uint8Array {
  return sha256(concatBytes(salt, utf8Encode(pin)));
}

export type RefundScreen =
  | { step: 'pin'; digits: number; triesLeft?: number }
  | { step: 'pick'; digits: string; recent: { terminalSeq: number; amount: number }[] }
  | { step: 'amount'; terminalSeq: number; left: number; digits: string }
  | { step: 'tap'; amount: number; terminalSeq: number }
  | { step: 'done'; amount: number; balanceAfter: number; recovered: number }
  | { step: 'refused'; reason: string };

/** What a key or a card did: the screen to show, and whether the flow is over (back to idle after it). */
export interface FlowStep {
  screen: RefundScreen;
  done: boolean;
  /** Beep pattern for the step. */
  beep: 'key' | 'approved' | 'declined';
  /** A refund journaled (for the outcome effect). */
  refunded?: { amount: number; refundSeq: number; journalSeq: number; walletId: string };
}

/** What the terminal is provisioned with for refunds; one object for the terminal's life. */
export interface RefundSetup {
  desk: RefundDesk;
  pin: MerchantPin;
  /** Wrong PINs in a row so far (read back from the journal at boot), kept here as they change. */
  pinFailures: number;
  /** Journals the count (record RECORD_REFUND_PIN), so a reboot does not give the tries back. */
  savePinFailures: (n: number) => Promise<void>;
}

export interface RefundFlowOptions {
  setup: RefundSetup;
  /** Hands out the refund's terminal sequence (never one a payment or an intent has). */
  takeSeq: () => number;
  log: Log;
  /** Each refund record made durable (desk.ts `Journaled`): the day totals count it. */
  journaled?: Journaled;
}

export class RefundFlow {
  #o: RefundFlowOptions;
  #step: 'pin' | 'pick' | 'amount' | 'tap' | 'over' = 'pin';
  #digits = '';
  #original: Original | undefined;
  #amount = 0;

  constructor(options: RefundFlowOptions) {
    this.#o = options;
  }

  get waitingForCard(): boolean {
    return this.#step === 'tap';
  }

  /** The first screen, or the refusal when the PIN is locked. */
  start(): FlowStep {
    if (this.#o.setup.pinFailures >= MAX_PIN_TRIES) return this.#refuse(decline('refundLocked', 'too many wrong merchant PINs'));
    return { screen: { step: 'pin', digits: 0 }, done: false, beep: 'key' };
  }

  async key(key: string): Promise<FlowStep> {
    if (key === '*') return this.#refuse(decline('cancelled'));
    const digit = key.length === 1 && key >= '0' && key <= '9';
    if (digit && this.#digits.length < MAX_DIGITS) this.#digits += key;
    else if (key === 'B') this.#digits = this.#digits.slice(0, -1);
    else if (key === '#') return this.#enter();
    return { screen: this.#screen(), done: false, beep: 'key' };
  }

  async card(link: CardLink): Promise<FlowStep> {
    const original = this.#original;
    if (this.#step !== 'tap' || !original) return { screen: this.#screen(), done: false, beep: 'key' };
    this.#step = 'over';
    const r = await this.#o.setup.desk.refund(link, original, this.#amount, this.#o.takeSeq(), this.#o.journaled);
    if (r.kind === 'refused') return this.#refuse(r.decline);
    return {
      screen: { step: 'done', amount: r.amount, balanceAfter: r.balanceAfter, recovered: r.recovered },
      done: true,
      beep: 'approved',
      refunded: { amount: r.amount, refundSeq: r.refundSeq, journalSeq: r.journalSeq, walletId: original.walletId },
    };
  }

  async #enter(): Promise<FlowStep> {
    const digits = this.#digits;
    this.#digits = '';
    if (this.#step === 'pin') {
      if (digits.length < 4) return { screen: this.#screen(), done: false, beep: 'key' };
      if (!equalBytes(hashMerchantPin(this.#o.setup.pin.salt, digits), this.#o.setup.pin.hash)) {
        const failures = this.#o.setup.pinFailures + 1;
        await this.#savePinFailures(failures);
        this.#o.log('warn', 'refund', `wrong merchant PIN (${failures} in a row)`);
        if (failures >= MAX_PIN_TRIES) return this.#refuse(decline('refundLocked', 'too many wrong merchant PINs'));
        return { screen: { step: 'pin', digits: 0, triesLeft: MAX_PIN_TRIES - failures }, done: false, beep: 'declined' };
      }
      if (this.#o.setup.pinFailures > 0) await this.#savePinFailures(0);
      this.#step = 'pick';
      return { screen: this.#screen(), done: false, beep: 'key' };
    }
    if (this.#step === 'pick') {
      const seq = digits === '' ? this.#o.setup.desk.recent()[0]?.terminalSeq : Number(digits);
      const original = seq === undefined ? undefined : this.#o.setup.desk.original(seq);
      if (!original || original.amount === 0) return this.#refuse(decline('refundUnknown', `payment ${seq ?? '(none)'} is not in the journal`));
      if (original.refunded >= original.amount) return this.#refuse(decline('refundOverOriginal', `payment ${seq} is refunded in full`));
      this.#original = original;
      this.#step = 'amount';
      return { screen: this.#screen(), done: false, beep: 'key' };
    }
    if (this.#step === 'amount') {
      const o = present(this.#original, 'the payment being refunded');
      const left = o.amount - o.refunded;
      const amount = digits === '' ? left : Number(digits);
      if (amount === 0) return { screen: this.#screen(), done: false, beep: 'key' };
      if (amount > left) return this.#refuse(decline('refundOverOriginal', `${amount} asked, ${left} left of payment ${o.terminalSeq}`));
      this.#amount = amount;
      this.#step = 'tap';
      return { screen: this.#screen(), done: false, beep: 'key' };
    }
    return { screen: this.#screen(), done: false, beep: 'key' };
  }

  async #savePinFailures(n: number): Promise<void> {
    this.#o.setup.pinFailures = n;
    try {
      await this.#o.setup.savePinFailures(n);
    } catch (e) {
      rethrowIfProgrammerError(e);
      this.#o.log('warn', 'refund', `merchant PIN tries not saved: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  #screen(): RefundScreen {
    switch (this.#step) {
      case 'pin':
        return { step: 'pin', digits: this.#digits.length };
      case 'pick':
        return { step: 'pick', digits: this.#digits, recent: this.#o.setup.desk.recent() };
      case 'amount': {
        const o = present(this.#original, 'the payment being refunded');
        return { step: 'amount', terminalSeq: o.terminalSeq, left: o.amount - o.refunded, digits: this.#digits };
      }
      default:
        return { step: 'tap', amount: this.#amount, terminalSeq: this.#original?.terminalSeq ?? 0 };
    }
  }

  #refuse(d: Decline): FlowStep {
    this.#step = 'over';
    if (d.code !== 'cancelled') this.#o.log('info', 'refund', `refund not made: ${d.code}${d.detail ? `: ${d.detail}` : ''}`);
    return { screen: { step: 'refused', reason: d.text }, done: true, beep: 'declined' };
  }
}

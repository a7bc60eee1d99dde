// The terminal's state machine: events in (keys, card present/removed, ticks, network), effects out
// (display, beep, LEDs, NFC polling, outcomes). Merchant mode: idle -> amount entry -> waiting for a
// card -> exchange (-> PIN) -> result -> idle. Transit mode: waiting with the fixed fare -> exchange ->
// result -> waiting. Deferred transit verifications are finished on ticks while nothing else happens,
// one signature a tick, only where no rider has to wait for it (see DeferredSchedule).
import { silentLog, type Clock, type Log, type RandomBytes } from '../../base/platform';
import type { CardLink, DurableLog } from '../../base/ports';
import { decodeReceipt, openReceipt, receiptFacts, type Receipt } from '../protocol/receipt';
import { issuerKeyFor } from '../crypto/certificate';
import type { Verifier } from '../crypto/verifier';
import type { HashPort } from '../../base/hash';
import type { Mode, RiskEngine } from '../risk/engine';
import { decline, type Decline } from '../../base/reasons';
import { ClockState } from '../risk/clock-state';
import { readBalance, Tap, verifyPendingStep, type PendingVerification, type Recovery, type TapResult, type VerifyBeforeOpen } from './tap';
import { InDoubt } from './in-doubt';
import { present } from '../../base/assert';
import type { MerchantPlace } from '../protocol/purpose';
import type { TransitFares } from './fare-tap';
import type { FareDecision } from '../fares/engine';
import { TAP_OFF, TAP_ON } from '../protocol/transit-log';
import { isProgrammerError, rethrowIfProgrammerError } from '../../base/errors';
import { RefundFlow, type FlowStep, type RefundScreen, type RefundSetup } from '../refund/flow';
import { dayTotalsText, type DayTotal } from '../risk/day-totals';
import { decodeRefundRecord, decodeRefundRequest } from '../protocol/refund';

export type Key = '0' | '1' | '2' | '3' | '4' | '5' | '6' | '7' | '8' | '9' | 'A' | 'B' | 'C' | 'D' | '*' | '#';

export type TerminalEvent =
  | { type: 'key'; key: Key }
  | { type: 'card'; link: CardLink }
  | { type: 'card-removed' }
  | { type: 'tick' }
  | { type: 'network'; up: boolean };

/** What the display should say; firmware/ui/ draws it (screens.ts) or spells it out (text.ts). */
/** An earlier in-doubt payment of the wallet in the field, settled at this tap: shown with its result. */
export interface Earlier {
  outcome: Recovery['outcome'];
  amount: number;
}

export type Screen =
  | { kind: 'idle' }
  | { kind: 'amount'; amount: number }
  | { kind: 'tap'; amount: number; mode: Mode }
  | { kind: 'processing' }
  | { kind: 'pin'; digits: number; triesLeft?: number }
  | { kind: 'approved'; amount: number; balanceAfter: number; earlier?: Earlier }
  | { kind: 'declined'; reason: string; earlier?: Earlier }
  | { kind: 'timedOut' }
  | { kind: 'cancelled' }
  /** A card tapped before an amount: say what to do (the card is not read). */
  | { kind: 'amountFirst' }
  /** A card tapped while the amount is keyed, before # */
  | { kind: 'confirmFirst'; amount: number }
  /** The balance enquiry waits for a card. */
  | { kind: 'enquiry' }
  | { kind: 'balance'; amount: number }
  /** The enquiry could not read the card. */
  | { kind: 'enquiryFailed'; reason: string }
  /**
   * The terminal's offline status (payments not yet settled, minutes since the offline window began)
   * and today's totals (firmware/core/risk/day-totals.ts).
   */
  | { kind: 'status'; online: boolean; pending: number; minutesSinceSync?: number; today?: DayTotal }
  /** D on the status screen: the day closed before today (none yet: undefined), for closing the day. */
  | { kind: 'previousDay'; total?: DayTotal; yesterday: boolean }
  /** A merchant's offline refund, step by step (firmware/core/refund/flow.ts). */
  | ({ kind: 'refund' } & RefundScreen)
  /** A message of the device itself (boot, faults), line by line. */
  | { kind: 'notice'; lines: string[] };

export type Effect =
  | { type: 'display'; screen: Screen }
  | { type: 'beep'; pattern: 'key' | 'approved' | 'declined' }
  | { type: 'led'; color: 'off' | 'green' | 'red' }
  | { type: 'nfc'; poll: boolean }
  | { type: 'outcome'; approved: true; amount: number; terminalSeq: number; journalSeq: number; walletId: string; deferred: boolean; fare?: FareDecision }
  | { type: 'outcome'; approved: false; amount: number; decline: Decline; walletId?: string }
  | { type: 'verified'; terminalSeq: number; ok: boolean; decline?: Decline }
  /** An offline refund journaled. */
  | { type: 'refunded'; amount: number; refundSeq: number; journalSeq: number; walletId: string }
  /** An earlier in-doubt payment of this wallet, resolved (or not) at this contact. */
  | ({ type: 'recovered'; walletId: string } & Recovery);

export type State = 'idle' | 'amount' | 'waiting' | 'enquiry' | 'exchange' | 'pin' | 'result' | 'refund';

/** Merchant idle keys: a balance enquiry (then tap), and the terminal's offline status. */
export const KEY_BALANCE: Key = 'A';
export const KEY_STATUS: Key = 'D';
/** Merchant idle key: an offline refund, behind the merchant PIN. */
export const KEY_REFUND: Key = 'C';

export interface TerminalOptions {
  mode: Mode;
  terminalId: string;
  merchantId: string;
  /** Transit: the fixed fare in minor units. */
  fare?: number;
  verifier: Verifier;
  risk: RiskEngine;
  journal: DurableLog;
  clock: Clock;
  random: RandomBytes;
  log?: Log;
  /** Open intents rebuilt at boot (default: none). */
  inDoubt?: InDoubt;
  /** First terminal sequence number to use (default: one past the risk state's last). */
  nextSeq?: number;
  timeouts?: Partial<Timeouts>;
  /** Transit: verify signatures before the gate opens (see TapContext.verifyBeforeOpen). */
  verifyBeforeOpen?: VerifyBeforeOpen;
  /** Transit: when the gate spends idle time on deferred verifications. */
  schedule?: Partial<DeferredSchedule>;
  /**
   * Boot's work left for idle time (a native primitive's P-256 known answers), one piece a slot, a slot
   * as the periodic checkpoint's: true when it did a piece (the slot is then taken), false when none is left.
   */
  idleWork?: () => boolean;
  /** The merchant category and region provisioned (bound balances, protocol/purpose.ts). */
  place?: MerchantPlace;
  /** Transit: fare rules and this validator's station; without them every tap pays `fare`. */
  fares?: TransitFares;
  /** SHA-256 for the transit log's digest (default: noble's; the device passes its native one). */
  sha256?: HashPort['sha256'];
  /** Merchant: offline refunds (absent: the C key says they are not set up). */
  refunds?: RefundSetup;
  /**
   * Writes the state checkpoint now (the journal's `checkpoint()`): the day totals' close at midnight
   * is a change no record says, so a boot's replay must start after it (absent: not written).
   */
  saveState?: () => void;
  /**
   * Writes the journal's periodic state checkpoint if the next `records` appends would otherwise write
   * it inside a tap (the journal's `checkpointAhead`); true when it wrote one. Called in an idle slot,
   * so the gate's decision never waits for a checkpoint (absent: the journal writes it inside the tap).
   */
  periodicCheckpoint?: (records: number) => boolean;
}

/** What one payment's tap journals: its intent before PAY, its receipt after. */
const TAP_RECORDS = 2;

export interface Timeouts {
  /** Amount entry or PIN entry left untouched. */
  entryMs: number;
  /** Waiting for a card (merchant). */
  cardMs: number;
  /** How long a result stays on the display. */
  resultMs: number;
  /**
   * How often the clock state (last known time, time offline) is written to the journal while the
   * terminal runs: a power cut loses at most this much of the offline time counted.
   */
  clockSaveMs: number;
}

/**
 * When a transit gate checks what it deferred: one signature a tick, and only where no rider waits for
 * it. While the result shows the gate takes no card (the rider walks through), so a check starts there
 * only if it ends before the screen does; while the gate waits for a card, only once it has been quiet
 * for a while, or when the backlog is high (before the exposure cap makes every rider wait for
 * verification before the gate opens). A rider who taps during a check waits at most one signature.
 */
export interface DeferredSchedule {
  /**
   * How long one signature check takes on this device, ms; the terminal raises it to the longest check
   * it has timed (267 ms: native P-256 on an ESP32-S3, docs/DEVICE.md).
   */
  verifyMs: number;
  /** A gate waiting for a card starts a check once no card has come for this long (ms)... */
  quietMs: number;
  /** ...or while this many approvals wait for their checks. */
  backlogHighWater: number;
}

const DEFAULT_SCHEDULE: DeferredSchedule = { verifyMs: 300, quietMs: 3_000, backlogHighWater: 16 };

/** Journal record type of the clock state (firmware/core/risk/clock-state.ts); keyed: the latest counts. */
export const RECORD_CLOCK = 0x20;

const DEFAULT_TIMEOUTS: Timeouts = { entryMs: 60_000, cardMs: 30_000, resultMs: 2_500, clockSaveMs: 10 * 60_000 };
// A gate passes 30-45 riders a minute: the result shows just long enough to read, then the next can tap.
const TRANSIT_RESULT_MS = 800;
const MAX_AMOUNT_DIGITS = 9;

export class Terminal {
  readonly mode: Mode;
  readonly fare: number;
  #o: TerminalOptions;
  #log: Log;
  #timeouts: Timeouts;
  #state: State = 'idle';
  #digits = '';
  #pin = '';
  #amount = 0;
  #deadline: number | undefined;
  #tap: Tap | undefined;
  #nextSeq: number;
  #pending: PendingVerification[] = [];
  /** Until idleWork says none is left. */
  #idleWorkLeft = true;
  #schedule: DeferredSchedule;
  /** When the gate last began to wait for a card (monotonic ms): its quiet time counts from here. */
  #waitingSinceMs = 0;
  #online = false;
  #clockSavedMs: number | undefined;
  /** The result on screen is an information screen (balance, status) that any key closes. */
  #closeOnKey = false;
  /** The information screen on display (#closeOnKey), for the key that turns its page. */
  #shown: Screen | undefined;
  readonly inDoubt: InDoubt;
  #queue: Promise<unknown> = Promise.resolve();
  /** The first bug an event met: every later event is refused with it. */
  #bug: unknown;
  #refund: RefundFlow | undefined;
  /** The day totals' closes already logged (DayTotals.closes). */
  #closesLogged: number;

  constructor(options: TerminalOptions) {
    if (options.mode === 'transit' && !(options.fare !== undefined && Number.isSafeInteger(options.fare) && options.fare > 0)) {
      throw new RangeError('a transit terminal needs a positive fare');
    }
    this.#o = options;
    this.mode = options.mode;
    this.fare = options.fare ?? 0;
    this.#log = options.log ?? silentLog;
    const resultMs = options.mode === 'transit' ? TRANSIT_RESULT_MS : DEFAULT_TIMEOUTS.resultMs;
    this.#timeouts = { ...DEFAULT_TIMEOUTS, resultMs, ...options.timeouts };
    this.#nextSeq = options.nextSeq ?? options.risk.lastTerminalSeq + 1;
    this.#schedule = { ...DEFAULT_SCHEDULE, ...options.schedule };
    this.inDoubt = options.inDoubt ?? new InDoubt();
    this.#closesLogged = options.risk.totals.closes;
  }

  get fares(): TransitFares | undefined {
    return this.#o.fares;
  }

  /** New fare rules (a signed update took effect): the next tap is priced by them. */
  setFares(fares: TransitFares | undefined): void {
    this.#o.fares = fares;
  }

  get state(): State {
    return this.#state;
  }

  /**
   * A card in the field now gets an answer: a payment, a balance, or what to do first (an amount, its
   * confirmation). The runner keeps a search running while this holds.
   */
  get answersCard(): boolean {
    const state = this.#state;
    if (state === 'refund') return this.#refund?.waitingForCard === true;
    return state === 'waiting' || state === 'enquiry' || state === 'amount' || (state === 'idle' && this.mode === 'merchant');
  }

  get online(): boolean {
    return this.#online;
  }

  /** Deferred approvals whose signatures are not yet checked. */
  get pendingVerifications(): number {
    return this.#pending.length;
  }

  /** The first screen; call once at boot. */
  start(): Effect[] {
    return this.#toIdle([]);
  }

  /**
   * Handles one event; events are processed one after another in arrival order. An operating error
   * rejects its own event only. A bug (isProgrammerError) rejects its event and every later one: the
   * state machine's state can no longer be trusted, and the main loop restarts the device.
   */
  handle(event: TerminalEvent): Promise<Effect[]> {
    const run = this.#queue.then(() => {
      if (this.#bug !== undefined) throw this.#bug;
      return this.#handle(event);
    });
    this.#queue = run.catch((e: unknown) => {
      if (isProgrammerError(e)) this.#bug = e;
    });
    return run;
  }

  /**
   * Boot: re-applies a journaled receipt to the risk state (a checkpoint's older ones are skipped) and
   * queues deferred ones for verification again. Throws TlvError for a receipt that does not parse.
   */
  restore(receipt: Receipt, o: { afterCheckpoint?: boolean; offline?: boolean } = {}): void {
    const applied = this.#o.risk.applyReceipt(receipt, o);
    this.#restored(receipt.terminalSeq, receipt, applied);
  }

  /**
   * restore() from a journal record's bytes: only the receipt's facts are read (receiptFacts); a
   * deferred receipt, which verification needs whole, is decoded whole. Returns its terminal
   * sequence. Throws TlvError.
   */
  restoreRecord(payload: Uint8Array, o: { afterCheckpoint?: boolean; offline?: boolean } = {}): number {
    const facts = receiptFacts(payload);
    if (facts.deferred) this.restore(decodeReceipt(payload), o);
    else this.#restored(facts.terminalSeq, undefined, this.#o.risk.applyFacts(facts, o));
    return facts.terminalSeq;
  }

  #restored(terminalSeq: number, receipt: Receipt | undefined, applied: boolean): void {
    if (terminalSeq >= this.#nextSeq) this.#nextSeq = terminalSeq + 1;
    if (!applied || !receipt?.deferred) return;
    const c = openReceipt(receipt);
    try {
      // Dates were checked at the tap; the key is what verification needs.
      const key = issuerKeyFor(c.certificate, this.#o.verifier.keyring);
      this.#pending.push({ terminalSeq, amount: c.request.amount, certificate: c.certificate, key, request: receipt.request, response: c.response });
    } catch (e) {
      rethrowIfProgrammerError(e);
      // Its issuer key is gone: the payment can never be verified here.
      this.#o.risk.deferredDone(c.certificate.walletId, c.request.amount, false);
    }
  }

  /** Boot: a refund record after the checkpoint, counted in the day totals as its tap counted it. Throws TlvError. */
  restoreRefund(payload: Uint8Array): void {
    const request = decodeRefundRequest(decodeRefundRecord(payload).request);
    this.#o.risk.totals.refunded(request.amount, request.terminalTime || undefined);
  }

  /** Boot: takes in a clock state read back from the journal (record RECORD_CLOCK). Throws TlvError. */
  restoreClock(payload: Uint8Array): void {
    this.#o.risk.clock.merge(ClockState.decode(payload));
  }

  /** Finishes every deferred verification (before an upload). Returns the effects it produced. */
  verifyAllPending(): Effect[] {
    const out: Effect[] = [];
    while (this.#pending.length > 0) this.#verifyStep(out);
    return out;
  }

  /** The time one signature check is budgeted at now (ms): the schedule's, or the longest timed. */
  get verifyMs(): number {
    return this.#schedule.verifyMs;
  }

  async #handle(e: TerminalEvent): Promise<Effect[]> {
    const out: Effect[] = [];
    switch (e.type) {
      case 'key':
        return this.#key(e.key, out);
      case 'card':
        return this.#card(e.link, out);
      case 'card-removed':
        if (this.#state === 'pin') return await this.#finish({ kind: 'declined', decline: decline('cardLost') }, out);
        return out;
      case 'network':
        this.#online = e.up;
        return out;
      case 'tick':
        await this.#saveClock();
        this.#checkDay();
        return this.#tick(out);
    }
  }

  async #saveClock(): Promise<void> {
    const now = this.#o.clock.now();
    if (this.#clockSavedMs === undefined) this.#clockSavedMs = now;
    if (now - this.#clockSavedMs < this.#timeouts.clockSaveMs) return;
    // A gate journals it where the periodic checkpoint goes, so that the checkpoint written there
    // still leaves room for the next tap's records (TAP_RECORDS): no tap waits for one.
    if (this.mode === 'transit' && !this.#idleSlot(now)) return;
    this.#clockSavedMs = now;
    const { risk, journal } = this.#o;
    risk.clock.advance(now);
    try {
      await journal.append(RECORD_CLOCK, risk.clock.encode());
    } catch (e) {
      rethrowIfProgrammerError(e);
      this.#log('warn', 'time', `clock state not saved: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  async #tick(out: Effect[]): Promise<Effect[]> {
    const now = this.#o.clock.now();
    if (this.#deadline !== undefined && now >= this.#deadline) {
      if (this.#state === 'result') return this.#toIdle(out);
      if (this.#state === 'pin') return await this.#finish({ kind: 'declined', decline: decline('timeout') }, out);
      if (this.#state === 'waiting' || this.#state === 'amount' || this.#state === 'enquiry' || this.#state === 'refund') {
        out.push({ type: 'display', screen: { kind: 'timedOut' } });
        return this.#toIdle(out);
      }
    }
    // The checkpoint first (one in four taps' slots): a deferred check takes the next tick.
    if (this.#o.periodicCheckpoint && this.#idleSlot(now) && this.#checkpointStep()) return out;
    if (this.#o.idleWork && this.#idleWorkLeft && this.#idleSlot(now)) {
      this.#idleWorkLeft = this.#o.idleWork();
      if (this.#idleWorkLeft) return out;
    }
    if (this.#pending.length > 0 && this.#timeToVerify(now)) this.#verifyStep(out);
    return out;
  }

  /** Room for the periodic checkpoint: where a deferred check could go, or a merchant's result screen. */
  #idleSlot(now: number): boolean {
    if (this.#state === 'result') return this.#deadline !== undefined && now + this.#schedule.verifyMs <= this.#deadline;
    if (this.mode !== 'transit') return this.#state === 'idle';
    return this.#state === 'waiting' && now - this.#waitingSinceMs >= this.#schedule.quietMs;
  }

  #checkpointStep(): boolean {
    try {
      return present(this.#o.periodicCheckpoint, 'periodicCheckpoint')(TAP_RECORDS);
    } catch (e) {
      rethrowIfProgrammerError(e);
      this.#log('warn', 'journal', `periodic checkpoint not written: ${e instanceof Error ? e.message : String(e)}`);
      return false;
    }
  }

  /**
   * The known time (clock, or the floor when the clock is unknown) passed midnight: today's totals
   * become the previous day's, and the checkpoint records it. Logs every close, whoever made it (a
   * receipt of a later day closes the day too).
   */
  #checkDay(): void {
    const { risk, clock } = this.#o;
    const closed = risk.totals.rollTo(risk.totals.dayOf(risk.clock.effectiveTime(clock.wallTime(), clock.now())));
    if (closed) {
      try {
        this.#o.saveState?.();
      } catch (e) {
        rethrowIfProgrammerError(e);
        this.#log('warn', 'totals', `day close not checkpointed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    if (risk.totals.closes === this.#closesLogged) return;
    this.#closesLogged = risk.totals.closes;
    const previous = risk.totals.previous;
    if (previous) this.#log('info', 'totals', `day closed ${dayTotalsText(previous)}`);
  }

  #timeToVerify(now: number): boolean {
    if (this.mode !== 'transit') return this.#state === 'idle';
    const s = this.#schedule;
    if (this.#state === 'result') return this.#deadline !== undefined && now + s.verifyMs <= this.#deadline;
    if (this.#state !== 'waiting') return false;
    return now - this.#waitingSinceMs >= s.quietMs || this.#pending.length >= s.backlogHighWater;
  }

  /** One signature of the oldest deferred approval; its outcome once both are checked. */
  #verifyStep(out: Effect[]): void {
    const p = present(this.#pending[0], 'pending verification');
    const started = this.#o.clock.now();
    const step = verifyPendingStep(this.#o.verifier, p);
    const took = this.#o.clock.now() - started;
    if (took > this.#schedule.verifyMs) this.#schedule.verifyMs = took;
    if (step === 'more') return;
    this.#pending.shift();
    this.#o.risk.deferredDone(p.certificate.walletId, p.amount, step === undefined);
    if (step) this.#log('warn', 'risk', `deferred payment ${p.terminalSeq} failed verification (${step.code}): wallet ${p.certificate.walletId} denied`);
    out.push(step ? { type: 'verified', terminalSeq: p.terminalSeq, ok: false, decline: step } : { type: 'verified', terminalSeq: p.terminalSeq, ok: true });
  }

  async #key(key: Key, out: Effect[]): Promise<Effect[]> {
    const digit = key >= '0' && key <= '9' && key.length === 1;
    switch (this.#state) {
      case 'idle':
        if (this.mode === 'merchant' && key === KEY_BALANCE) {
          this.#state = 'enquiry';
          this.#deadline = this.#o.clock.now() + this.#timeouts.cardMs;
          out.push({ type: 'beep', pattern: 'key' }, { type: 'display', screen: { kind: 'enquiry' } }, { type: 'nfc', poll: true });
          return out;
        }
        if (this.mode === 'merchant' && key === KEY_STATUS) {
          out.push({ type: 'beep', pattern: 'key' });
          this.#logTotals();
          return this.#info(this.#statusScreen(), out);
        }
        if (this.mode === 'merchant' && key === KEY_REFUND) return this.#startRefund(out);
        if (this.mode === 'merchant' && digit && key !== '0') {
          this.#digits = key;
          this.#state = 'amount';
          this.#deadline = this.#o.clock.now() + this.#timeouts.entryMs;
          out.push({ type: 'beep', pattern: 'key' });
          this.#showAmount(out);
        }
        return out;
      case 'amount':
        this.#deadline = this.#o.clock.now() + this.#timeouts.entryMs;
        out.push({ type: 'beep', pattern: 'key' });
        if (digit && this.#digits.length < MAX_AMOUNT_DIGITS) this.#digits += key;
        else if (key === 'B') this.#digits = this.#digits.slice(0, -1);
        else if (key === '*') return this.#toIdle(out);
        else if (key === '#' && Number(this.#digits) > 0) return this.#toWaiting(Number(this.#digits), out);
        if (this.#digits === '') return this.#toIdle(out);
        this.#showAmount(out);
        return out;
      case 'enquiry':
        if (key === '*') return this.#toIdle(out);
        return out;
      case 'refund':
        return this.#refundStep(await present(this.#refund, 'refund under way').key(key), out);
      case 'result':
        // D on the status screen turns to the day before, and back
        if (this.#closeOnKey && key === KEY_STATUS && this.#shown?.kind === 'status') {
          out.push({ type: 'beep', pattern: 'key' });
          return this.#info(this.#previousDayScreen(), out);
        }
        // an information screen closes on a key, and the key counts: a digit starts the amount
        if (this.#closeOnKey) return this.#key(key, this.#toIdle(out));
        return out;
      case 'waiting':
        if (key === '*' && this.mode === 'merchant') {
          out.push({ type: 'outcome', approved: false, amount: this.#amount, decline: decline('cancelled') });
          out.push({ type: 'display', screen: { kind: 'cancelled' } });
          return this.#toIdle(out);
        }
        return out;
      case 'pin':
        this.#deadline = this.#o.clock.now() + this.#timeouts.entryMs;
        out.push({ type: 'beep', pattern: 'key' });
        if (digit && this.#pin.length < 12) this.#pin += key;
        else if (key === 'B') this.#pin = this.#pin.slice(0, -1);
        else if (key === '*') return await this.#finish({ kind: 'declined', decline: decline('cancelled') }, out);
        else if (key === '#' && this.#pin.length >= 4) {
          const pin = this.#pin;
          this.#pin = '';
          this.#state = 'exchange';
          return this.#finish(await present(this.#tap, 'tap awaiting the PIN').enterPin(pin), out);
        }
        out.push({ type: 'display', screen: { kind: 'pin', digits: this.#pin.length } });
        return out;
      default:
        return out;
    }
  }

  async #card(link: CardLink, out: Effect[]): Promise<Effect[]> {
    if (this.#state === 'refund') {
      const flow = present(this.#refund, 'refund under way');
      if (!flow.waitingForCard) return out;
      out.push({ type: 'display', screen: { kind: 'processing' } });
      return this.#refundStep(await flow.card(link), out);
    }
    if (this.#state === 'enquiry') {
      const r = await readBalance(link, this.#log);
      out.push({ type: 'beep', pattern: r.kind === 'balance' ? 'key' : 'declined' });
      return this.#info(r.kind === 'balance' ? { kind: 'balance', amount: r.balance } : { kind: 'enquiryFailed', reason: r.decline.text }, out);
    }
    // A card before the amount, or while it is keyed, gets an answer, not silence (see answersCard).
    if (this.#state === 'idle' && this.mode === 'merchant') {
      out.push({ type: 'beep', pattern: 'declined' });
      return this.#info({ kind: 'amountFirst' }, out);
    }
    if (this.#state === 'amount') {
      out.push({ type: 'beep', pattern: 'declined' }, { type: 'display', screen: { kind: 'confirmFirst', amount: Number(this.#digits) } });
      return out;
    }
    if (this.#state !== 'waiting') return out;
    this.#state = 'exchange';
    this.#deadline = undefined;
    out.push({ type: 'display', screen: { kind: 'processing' } });
    const seq = this.#takeSeq();
    this.#tap = new Tap({
      mode: this.mode,
      terminalId: this.#o.terminalId,
      merchantId: this.#o.merchantId,
      currency: this.#o.risk.config.currency,
      verifier: this.#o.verifier,
      risk: this.#o.risk,
      journal: this.#o.journal,
      clock: this.#o.clock,
      random: this.#o.random,
      log: this.#log,
      verifyBeforeOpen: this.#o.verifyBeforeOpen,
      inDoubt: this.inDoubt,
      place: this.#o.place,
      ...(this.#o.fares ? { fares: this.#o.fares } : {}),
      ...(this.#o.sha256 ? { sha256: this.#o.sha256 } : {}),
      link,
      amount: this.#amount,
      terminalSeq: seq,
    });
    return this.#finish(await this.#tap.start(), out);
  }

  /** Never a number an intent, receipt or refund already has, whatever the boot rebuilt. */
  #takeSeq(): number {
    const seq = Math.max(this.#nextSeq, this.inDoubt.lastSeq + 1, this.#o.risk.lastTerminalSeq + 1);
    this.#nextSeq = seq + 1;
    // The checkpoint carries inDoubt.lastSeq: a refund's number survives a reboot as a payment's does.
    this.inDoubt.lastSeq = Math.max(this.inDoubt.lastSeq, seq);
    return seq;
  }

  #startRefund(out: Effect[]): Effect[] {
    out.push({ type: 'beep', pattern: 'key' });
    const setup = this.#o.refunds;
    if (!setup) return this.#info({ kind: 'refund', step: 'refused', reason: decline('refundUnavailable').text }, out);
    const totals = this.#o.risk.totals;
    this.#refund = new RefundFlow({ setup, takeSeq: () => this.#takeSeq(), log: this.#log, journaled: (amount, time) => totals.refunded(amount, time) });
    this.#state = 'refund';
    return this.#refundStep(this.#refund.start(), out, false);
  }

  #refundStep(step: FlowStep, out: Effect[], beep = true): Effect[] {
    if (beep) out.push({ type: 'beep', pattern: step.beep });
    if (step.refunded) out.push({ type: 'refunded', ...step.refunded });
    out.push({ type: 'display', screen: { kind: 'refund', ...step.screen } });
    if (step.done) {
      this.#refund = undefined;
      out.push({ type: 'nfc', poll: false }, { type: 'led', color: step.beep === 'approved' ? 'green' : 'red' });
      this.#state = 'result';
      this.#closeOnKey = true;
      this.#deadline = this.#o.clock.now() + this.#timeouts.resultMs;
      return out;
    }
    this.#deadline = this.#o.clock.now() + (this.#refund?.waitingForCard ? this.#timeouts.cardMs : this.#timeouts.entryMs);
    if (this.#refund?.waitingForCard) out.push({ type: 'nfc', poll: true });
    return out;
  }

  async #finish(result: TapResult, out: Effect[]): Promise<Effect[]> {
    if (result.kind === 'pin') {
      this.#state = 'pin';
      this.#pin = '';
      this.#deadline = this.#o.clock.now() + this.#timeouts.entryMs;
      const screen: Screen = result.triesLeft === undefined ? { kind: 'pin', digits: 0 } : { kind: 'pin', digits: 0, triesLeft: result.triesLeft };
      out.push({ type: 'display', screen });
      return out;
    }
    const tap = this.#tap;
    this.#tap = undefined;
    if (tap && result.kind !== 'approved') await tap.close();
    const earlier = tap ? this.#recoveries(tap, out) : undefined;
    this.#state = 'result';
    this.#deadline = this.#o.clock.now() + this.#timeouts.resultMs;
    out.push({ type: 'nfc', poll: false });
    if (result.kind === 'approved') {
      if (result.pending) this.#pending.push(result.pending);
      this.#log('info', 'tap', `approved ${result.amount} seq ${result.terminalSeq}${result.deferred ? ' (deferred)' : ''}`);
      if (result.fare) this.#log('info', 'fares', fareText(result.fare, this.#o.fares?.station ?? 0));
      out.push(
        {
          type: 'outcome', approved: true, amount: result.amount, terminalSeq: result.terminalSeq, journalSeq: result.journalSeq, walletId: result.walletId, deferred: result.deferred,
          ...(result.fare ? { fare: result.fare } : {}),
        },
        { type: 'display', screen: earlier ? { kind: 'approved', amount: result.amount, balanceAfter: result.balanceAfter, earlier } : { kind: 'approved', amount: result.amount, balanceAfter: result.balanceAfter } },
        { type: 'led', color: 'green' },
        { type: 'beep', pattern: 'approved' },
      );
    } else {
      const o: Effect = { type: 'outcome', approved: false, amount: this.#amount, decline: result.decline };
      if (result.walletId !== undefined) o.walletId = result.walletId;
      const screen: Screen = earlier ? { kind: 'declined', reason: result.decline.text, earlier } : { kind: 'declined', reason: result.decline.text };
      out.push(o, { type: 'display', screen }, { type: 'led', color: 'red' }, { type: 'beep', pattern: 'declined' });
    }
    return out;
  }

  /** Effects for the earlier in-doubt payments this tap settled, and what the display tells the holder. */
  #recoveries(tap: Tap, out: Effect[]): Earlier | undefined {
    let earlier: Earlier | undefined;
    for (const r of tap.recovered) {
      out.push({ type: 'recovered', walletId: present(tap.walletId, 'wallet of a recovering tap'), ...r });
      this.#log('info', 'tap', `earlier payment ${r.terminalSeq} of ${r.amount}: ${r.outcome}`);
      earlier = { outcome: r.outcome, amount: r.amount };
    }
    return earlier;
  }

  #showAmount(out: Effect[]): void {
    const amount = Number(this.#digits);
    out.push({ type: 'display', screen: { kind: 'amount', amount } });
  }

  #toWaiting(amount: number, out: Effect[]): Effect[] {
    // the gate has been free since the result screen's end, however late the tick that noticed
    const now = this.#o.clock.now();
    this.#waitingSinceMs = this.#state === 'result' && this.#deadline !== undefined ? Math.min(now, this.#deadline) : now;
    this.#amount = amount;
    this.#state = 'waiting';
    this.#deadline = this.mode === 'merchant' ? this.#o.clock.now() + this.#timeouts.cardMs : undefined;
    out.push({ type: 'display', screen: { kind: 'tap', amount, mode: this.mode } }, { type: 'nfc', poll: true });
    return out;
  }

  /** An information screen: stays twice the result time, or until a key. */
  #info(screen: Screen, out: Effect[]): Effect[] {
    if (this.#state === 'enquiry') out.push({ type: 'nfc', poll: false });
    this.#state = 'result';
    this.#closeOnKey = true;
    this.#shown = screen;
    this.#deadline = this.#o.clock.now() + this.#timeouts.resultMs * 2;
    out.push({ type: 'display', screen });
    return out;
  }

  #statusScreen(): Screen {
    const risk = this.#o.risk;
    const now = this.#o.clock.wallTime();
    // minutes since the offline window began: the last settlement, or when the time was first known
    const since = now !== undefined && risk.settledAt !== undefined ? Math.max(0, Math.floor((now - risk.settledAt) / 60)) : undefined;
    const screen: Screen = { kind: 'status', online: this.#online, pending: risk.offlineCount, today: { ...risk.totals.today } };
    if (since !== undefined) screen.minutesSinceSync = since;
    return screen;
  }

  #previousDayScreen(): Screen {
    const { today, previous } = this.#o.risk.totals;
    const yesterday = previous?.day !== undefined && today.day !== undefined && previous.day === today.day - 1;
    return previous ? { kind: 'previousDay', total: { ...previous }, yesterday } : { kind: 'previousDay', yesterday };
  }

  /** The day totals on the serial log, on demand (the D key). */
  #logTotals(): void {
    this.#checkDay();
    const { today, previous } = this.#o.risk.totals;
    this.#log('info', 'totals', `today ${dayTotalsText(today)}${previous ? `; previous day ${dayTotalsText(previous)}` : ''}`);
  }

  #toIdle(out: Effect[]): Effect[] {
    this.#closeOnKey = false;
    this.#shown = undefined;
    this.#digits = '';
    this.#pin = '';
    this.#tap = undefined;
    this.#refund = undefined;
    if (this.mode === 'transit') {
      out.push({ type: 'led', color: 'off' });
      return this.#toWaiting(this.fare, out);
    }
    this.#state = 'idle';
    this.#deadline = undefined;
    out.push({ type: 'display', screen: { kind: 'idle' } }, { type: 'led', color: 'off' }, { type: 'nfc', poll: false });
    return out;
  }
}

/** One log line on how a fare was made, for the console and the simulator. */
function fareText(f: FareDecision, station: number): string {
  const how = [f.transfer ? 'transfer' : '', f.capped ? 'capped' : ''].filter((x) => x !== '').join(', ');
  const tail = how ? ` (${how})` : '';
  if (f.kind === TAP_OFF) return `tap-off at station ${station}: journey fare ${f.fare}, refund ${f.refund}${tail}`;
  if (f.kind === TAP_ON) return `tap-on at station ${station}: charged ${f.amount}, the most a journey from here costs${tail}`;
  return `ride at station ${station}: ${f.amount}${tail}`;
}

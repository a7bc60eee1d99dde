// The terminal's offline risk state and rules: caps since the last settlement, per-wallet limits by
// class and per day, the deny list, per-wallet counters, the CVM threshold, transit's deferred
// verification and its unverified-exposure cap. State is rebuilt at boot from a checkpoint (encode /
// decode) plus the receipts journaled after it (applyReceipt).
import { TaplineError } from '../../base/errors';
import { fromHex, hex64At } from '../../base/bytes';
import { WalletTable, MAX_FORGOTTEN, WALLET_RECORD, UNKNOWN_DAY, type WalletState } from './wallet-table';
import type { Certificate, PayResponse } from '../protocol/messages';
import { openReceipt, type Receipt, type ReceiptFacts } from '../protocol/receipt';
import { decodeFields, required, decodeUint, encodeTlv, encodeTlvInto, encodeUint, tlvLength, TlvError, type FieldRule, type Tlv, type TlvWriter } from '../protocol/tlv';
import { ClockState, CLOCK_STATE_BYTES } from './clock-state';
import { DenyList, DenyListError } from './deny-list';
import { DayTotals, DAY_TOTALS_BYTES } from './day-totals';
import type { RiskConfig, WalletClassLimits } from './config';
import { DeclineError } from '../../base/reasons';
import { assert } from '../../base/assert';

export type Mode = 'merchant' | 'transit';

const DAY = 86400;

export interface Assessment {
  /** The wallet must report the holder verified. */
  cvmRequired: boolean;
  /** Transit, low amount, room under the exposure cap: approve before the signatures are checked. */
  mayDefer: boolean;
}

export interface TapFacts {
  certificate: Certificate;
  amount: number;
  mode: Mode;
  /** Unix seconds, undefined when the terminal does not know the time. */
  time: number | undefined;
  /** Monotonic ms (Clock.now). */
  nowMs: number;
}

export interface Approval {
  walletId: string;
  counter: number;
  amount: number;
  terminalSeq: number;
  time: number | undefined;
  deferred: boolean;
  nowMs?: number;
  /** Counted even below lastTerminalSeq: a recovered in-doubt payment, or a record replayed after the checkpoint. */
  late?: boolean;
  /** Counts toward the offline totals (default true; false for a receipt the service already acknowledged). */
  offline?: boolean;
}

/** A deny-list change from the settlement service; applied only if newer than what the terminal has. */
export interface DenyDelta {
  version: number;
  addWallets: string[];
  addSerials: string[];
  removeWallets: string[];
  removeSerials: string[];
}

export interface RiskOptions {
  config: RiskConfig;
  /** Unix seconds of the last settlement (provisioning counts as one). */
  settledAt?: number;
  /** Most wallets remembered (counters, daily totals); the least recently seen is forgotten first. */
  maxWallets?: number;
  /** Most wallets on the deny list (default 16,384). */
  maxDenied?: number;
  /** The merchant's day for the day totals: minutes east of UTC (default 0). */
  utcOffsetMinutes?: number;
  /** Most serials on the deny list (default 4,096: they live in the checkpoint, which must stay under 64 KiB). */
  maxDeniedSerials?: number;
}

export class RiskStateError extends TaplineError {
  override readonly name: string = 'RiskStateError';
}

// 3: the service's deny list left the checkpoint (it is stored once, by the update store); wallets
// carry the time of their last approval, for anti-passback across a reboot.
const CHECKPOINT_VERSION = 3;
const CK = {
  version: 0x80,
  lastTerminalSeq: 0x81,
  clock: 0x82,
  deferredLoss: 0x83,
  offlineAmount: 0x84,
  offlineCount: 0x85,
  unverifiedExposure: 0x86,
  denyWallets: 0x88,
  denySerials: 0x89,
  wallets: 0x8a,
  // optional: a checkpoint written before the day totals existed reads as no trade yet
  dayTotals: 0x8b,
  // a delta's in place of wallets: the wallets changed since its full checkpoint, and the ids of those it forgot
  walletsChanged: 0x8c,
  walletsForgotten: 0x8d,
} as const;

interface Counters {
  /** Highest terminal sequence number applied: replaying older receipts is a no-op. */
  lastTerminalSeq: number;
  offlineAmount: number;
  offlineCount: number;
  /** Value approved before verification and not verified yet, plus what failed (kept until settlement). */
  unverifiedExposure: number;
  /** Value of deferred approvals whose verification failed since the last settlement: losses. */
  deferredLoss: number;
  /** Some wallet's total is on UNKNOWN_DAY. */
  unknownDaySpends: boolean;
}

export class RiskEngine {
  readonly config: RiskConfig;
  readonly maxWallets: number;
  readonly maxDenied: number;
  readonly maxDeniedSerials: number;
  /** Last known time, settlement time and time offline, counted forward with uptime (clock-state.ts). */
  readonly clock: ClockState;
  // The counters in one plain object that a method takes into a local once: on XS a #private read
  // costs ~70 computrons, a plain property ~1, and record() touches them a dozen times a receipt.
  #n: Counters = { lastTerminalSeq: 0, offlineAmount: 0, offlineCount: 0, unverifiedExposure: 0, deferredLoss: 0, unknownDaySpends: false };
  /** The service's deny list: the update store's own object (held once, compactly), never a copy. */
  #denyList = DenyList.EMPTY;
  /** Wallets this terminal denied itself (a failed deferred verification): the checkpoint keeps them. */
  #localDeny = new Set<string>();
  #denySerials = new Set<string>();
  #wallets: WalletTable;
  /** The merchant's totals of today and the day before (day-totals.ts). */
  #totals: DayTotals;

  constructor(options: RiskOptions) {
    this.config = options.config;
    this.clock = new ClockState({ settledAt: options.settledAt });
    this.#totals = new DayTotals(options.utcOffsetMinutes);
    this.maxWallets = options.maxWallets ?? 1000;
    this.#wallets = new WalletTable(this.maxWallets);
    this.maxDenied = options.maxDenied ?? 16384;
    this.maxDeniedSerials = Math.min(options.maxDeniedSerials ?? 4096, this.maxDenied);
  }

  /** Highest terminal sequence number applied. */
  get lastTerminalSeq(): number {
    return this.#n.lastTerminalSeq;
  }

  /** The merchant's day totals: payments counted by record(), refunds by their caller. */
  get totals(): DayTotals {
    return this.#totals;
  }

  /** Offline payments since the last settlement: their value and count. */
  get offlineAmount(): number {
    return this.#n.offlineAmount;
  }

  get offlineCount(): number {
    return this.#n.offlineCount;
  }

  /** Value approved before verification and not verified yet, plus what failed. */
  get unverifiedExposure(): number {
    return this.#n.unverifiedExposure;
  }

  /** Value of deferred approvals whose verification failed since the last settlement. */
  get deferredLoss(): number {
    return this.#n.deferredLoss;
  }

  /** Version of the deny list applied. */
  get denyVersion(): number {
    return this.#denyList.version;
  }

  get settledAt(): number | undefined {
    return this.clock.settledAt;
  }

  /** Latest time the terminal knows has passed: a lower bound on now when it has lost the time. */
  get lastKnownTime(): number {
    return this.clock.lastKnownTime;
  }

  /**
   * The terminal learnt the time (its clock, the service). It only ever moves the lower bound forward:
   * an earlier time returns false and changes nothing.
   */
  observeTime(time: number, nowMs?: number): boolean {
    return this.clock.observe(time, nowMs);
  }

  isDenied(cert: Certificate): boolean {
    return this.#walletDenied(cert.walletId) || this.#denySerials.has(cert.serial);
  }

  #walletDenied(walletId: string): boolean {
    return this.#denyList.has(walletId) || this.#localDeny.has(walletId);
  }

  /** Everything decidable before the wallet signs. Throws DeclineError. */
  assess(f: TapFacts): Assessment {
    const n = this.#n;
    const { certificate: cert, amount } = f;
    if (this.#walletDenied(cert.walletId)) throw new DeclineError('walletDenied', `wallet ${cert.walletId}`);
    if (this.#denySerials.has(cert.serial)) throw new DeclineError('serialDenied', `serial ${cert.serial}`);
    if (amount > this.config.maxTransaction) throw new DeclineError('overTransactionCap', `${amount} > ${this.config.maxTransaction}`);
    const limits = this.limitsFor(cert);
    if (amount > limits.single) throw new DeclineError('overWalletSingleLimit', `${amount} > ${limits.single}`);
    const day = this.#day(f.time);
    if (day !== UNKNOWN_DAY && n.unknownDaySpends) this.#dateUnknownDays(day);
    const wallet = this.#wallets.get(cert.walletId);
    const dayTotal = wallet ? this.#dayTotal(wallet, day) : 0;
    if (dayTotal + amount > limits.daily) throw new DeclineError('overWalletDailyLimit', `${dayTotal} + ${amount} > ${limits.daily}`);
    if (n.offlineAmount + amount > this.config.maxOfflineAmount) {
      throw new DeclineError('overOfflineAmount', `${n.offlineAmount} + ${amount} > ${this.config.maxOfflineAmount}`);
    }
    if (n.offlineCount + 1 > this.config.maxOfflineCount) throw new DeclineError('overOfflineCount', `${n.offlineCount} payments`);
    if (f.time === undefined && amount > this.config.unknownTimeMaxAmount) {
      throw new DeclineError('timeUnknown', `${amount} > ${this.config.unknownTimeMaxAmount}`);
    }
    // Checked with the time unknown too: the uptime counted since the settlement, across reboots, and the
    // floor under the clock are both evidence of how long the terminal has been offline.
    const offline = Math.max(this.clock.secondsOffline(f.nowMs), f.time === undefined || this.settledAt === undefined ? 0 : f.time - this.settledAt);
    if (offline > this.config.maxOfflineSeconds) throw new DeclineError('offlineTooLong', `${offline} s since settlement`);
    const passback = this.config.transit.passbackSeconds;
    if (f.mode === 'transit' && passback > 0 && wallet && this.#sinceLastTap(wallet, f) < passback) {
      throw new DeclineError('passback', `wallet ${cert.walletId}`);
    }
    const t = this.config.transit;
    return {
      cvmRequired: amount > this.config.cvmThreshold,
      mayDefer:
        f.mode === 'transit' &&
        amount <= t.deferredMaxAmount &&
        n.unverifiedExposure + amount <= t.unverifiedExposureCap &&
        // Every deferral may be a forgery: defer only while one more loss still fits under the cap.
        n.deferredLoss + amount <= t.deferredLossCap,
    };
  }

  /**
   * Seconds since the wallet's last approval here: by the monotonic clock within this boot, else by
   * unix time across a reboot, where the floor stands in for an unknown clock (it is behind the real
   * time, so the gap can only look shorter: a refusal, never a second ride).
   */
  #sinceLastTap(w: WalletState, f: TapFacts): number {
    if (w.lastTapMs !== undefined) return (f.nowMs - w.lastTapMs) / 1000;
    if (w.lastTapTime === undefined) return Infinity;
    return Math.max(f.time ?? 0, this.clock.lastKnownTime) - w.lastTapTime;
  }

  /** The tighter of the class table and the certificate's own limits. */
  limitsFor(cert: Certificate): WalletClassLimits {
    const byClass = this.config.walletClasses[cert.walletClass];
    if (!byClass) throw new DeclineError('unknownWalletClass', `class ${cert.walletClass}`);
    return { single: Math.min(byClass.single, cert.singleLimit), daily: Math.min(byClass.daily, cert.dailyLimit) };
  }

  /** Checks the wallet's answer: its counter must have moved past anything seen here. Throws DeclineError. */
  checkResponse(cert: Certificate, response: PayResponse, cvmRequired: boolean): void {
    const wallet = this.#wallets.get(cert.walletId);
    if (wallet && response.counter <= wallet.counter) {
      throw new DeclineError('counterReplay', `wallet ${cert.walletId}: counter ${response.counter} after ${wallet.counter}`);
    }
    if (cvmRequired && !response.holderVerified) throw new DeclineError('holderNotVerified', `wallet ${cert.walletId}`);
  }

  /** Counts an approved (journaled) payment. */
  record(a: Approval): void {
    const n = this.#n;
    if (a.terminalSeq <= n.lastTerminalSeq && !a.late) return;
    n.lastTerminalSeq = Math.max(n.lastTerminalSeq, a.terminalSeq);
    if (a.time !== undefined) this.clock.observe(a.time, a.nowMs);
    if (a.offline !== false) {
      n.offlineAmount += a.amount;
      n.offlineCount += 1;
    }
    if (a.deferred) n.unverifiedExposure += a.amount;
    this.#totals.paid(a.amount, a.time);
    const day = this.#day(a.time);
    const prior = this.#wallets.get(a.walletId);
    const wallet: WalletState = {
      counter: Math.max(a.counter, prior?.counter ?? 0),
      day,
      dayTotal: (prior ? this.#dayTotal(prior, day) : 0) + a.amount,
      lastTapMs: a.nowMs,
      lastTapTime: a.time ?? (a.nowMs === undefined ? undefined : this.clock.lastKnownTime) ?? prior?.lastTapTime,
    };
    if (day === UNKNOWN_DAY) n.unknownDaySpends = true;
    this.#wallets.set(a.walletId, wallet);
    assert(n.lastTerminalSeq >= a.terminalSeq, 'record: lastTerminalSeq covers the approval');
    this.#assertInvariants();
  }

  /** The highest counter seen from a wallet here (0: none remembered). */
  counterOf(walletId: string): number {
    return this.#wallets.get(walletId)?.counter ?? 0;
  }

  /**
   * Boot replay: applies a journaled receipt. Without `afterCheckpoint`, those up to lastTerminalSeq
   * are skipped; with it (the record is newer than the checkpoint) it counts whatever its number, so a
   * recovered in-doubt payment is not lost. `offline: false` for one the service has acknowledged.
   * Throws TlvError.
   */
  applyReceipt(receipt: Receipt, o: { afterCheckpoint?: boolean; offline?: boolean } = {}): boolean {
    if (receipt.terminalSeq <= this.#n.lastTerminalSeq && !o.afterCheckpoint) return false;
    const { certificate, request, response } = openReceipt(receipt);
    const facts = { terminalSeq: receipt.terminalSeq, walletId: certificate.walletId, counter: response.counter, amount: request.amount, terminalTime: request.terminalTime };
    return this.applyFacts({ ...facts, deferred: receipt.deferred }, o);
  }

  /** applyReceipt on a receipt's facts (receiptFacts: what a boot reads of each journaled receipt). */
  applyFacts(f: ReceiptFacts, o: { afterCheckpoint?: boolean; offline?: boolean } = {}): boolean {
    if (f.terminalSeq <= this.#n.lastTerminalSeq && !o.afterCheckpoint) return false;
    this.record({
      walletId: f.walletId,
      counter: f.counter,
      amount: f.amount,
      terminalSeq: f.terminalSeq,
      time: f.terminalTime || undefined,
      deferred: f.deferred,
      late: o.afterCheckpoint,
      offline: o.offline,
    });
    return true;
  }

  /**
   * A deferred verification finished. A success gives its exposure back; a failure is a loss: it keeps
   * its exposure, counts towards the loss cap until the next settlement, and deny-lists the wallet id
   * (which stops only that id: a forger brings a new one each time, the loss cap stops the forger).
   */
  deferredDone(walletId: string, amount: number, verified: boolean): void {
    if (verified) {
      this.#n.unverifiedExposure = Math.max(0, this.#n.unverifiedExposure - amount);
      return;
    }
    this.#n.deferredLoss += amount;
    try {
      this.#deny(this.#localDeny, walletId);
    } catch (e) {
      // A full deny list must not undo the loss just counted.
      if (!(e instanceof RiskStateError)) throw e;
    }
  }

  /** The service acknowledged the receipts up to `terminalSeq` and told the time: the caps start again. */
  settled(time: number, nowMs?: number): void {
    this.clock.settled(time, nowMs);
    this.#n.offlineAmount = 0;
    this.#n.offlineCount = 0;
    // The failed receipts went up with the rest: the service has them, deferral may start again.
    this.#n.unverifiedExposure = Math.max(0, this.#n.unverifiedExposure - this.#n.deferredLoss);
    this.#n.deferredLoss = 0;
    assert(this.#n.offlineAmount === 0 && this.#n.offlineCount === 0, 'settled: the caps start again from zero');
    this.#assertInvariants();
  }

  /**
   * The service's list of this version, as the update store holds it (the same object, not copied).
   * Older than or as old as the one held: false, nothing changes. A wallet the terminal denied itself
   * and the service has now taken off its list is no longer denied. Throws RiskStateError.
   */
  useDenyList(list: DenyList): boolean {
    if (list.version <= this.#denyList.version) return false;
    if (list.size > this.maxDenied) throw new RiskStateError(`deny list of ${list.size} wallets: at most ${this.maxDenied}`);
    for (const id of this.#localDeny) if (this.#denyList.has(id) && !list.has(id)) this.#localDeny.delete(id);
    this.#denyList = list;
    this.#assertInvariants();
    return true;
  }

  /** A change to the deny list as ids (tests, and a terminal without an update store). Throws RiskStateError. */
  applyDenyDelta(d: DenyDelta): boolean {
    if (d.version <= this.#denyList.version) return false;
    const bytes = (id: string) => {
      if (!/^[0-9a-f]{16}$/.test(id)) throw new RiskStateError(`deny-list entry "${id}" is not 16 hex digits`);
      return fromHex(id);
    };
    let next: DenyList;
    try {
      next = this.#denyList.applied(d.version, d.addWallets.map(bytes), d.removeWallets.map(bytes));
    } catch (e) {
      if (e instanceof DenyListError) throw new RiskStateError(e.message);
      throw e;
    }
    if (next.size > this.maxDenied) throw new RiskStateError(`deny list holds ${this.maxDenied} entries`);
    for (const id of d.removeSerials) this.#denySerials.delete(id);
    for (const id of d.addSerials) this.#deny(this.#denySerials, id);
    for (const id of d.removeWallets) this.#localDeny.delete(id);
    this.#denyList = next;
    this.#assertInvariants();
    return true;
  }

  /**
   * What holds after every change: totals are non-negative with a safe integer sum, and the wallet table stays
   * within the bound the constructor set.
   */
  #assertInvariants(): void {
    const n = this.#n;
    const denyVersion = this.#denyList.version;
    // no array, no loop: this runs on every approval
    const sum = n.lastTerminalSeq + n.offlineAmount + n.offlineCount + n.unverifiedExposure + n.deferredLoss + denyVersion;
    assert(
      n.lastTerminalSeq >= 0 && n.offlineAmount >= 0 && n.offlineCount >= 0 && n.unverifiedExposure >= 0 && n.deferredLoss >= 0 && denyVersion >= 0 && Number.isSafeInteger(sum),
      'risk totals are non-negative and their sum a safe integer',
    );
    assert(this.#wallets.size <= this.maxWallets, 'wallet table within maxWallets');
  }

  #deny(set: Set<string>, id: string): void {
    if (!/^[0-9a-f]{16}$/.test(id)) throw new RiskStateError(`deny-list entry "${id}" is not 16 hex digits`);
    const max = set === this.#denySerials ? this.maxDeniedSerials : this.maxDenied;
    if (set.size >= max && !set.has(id)) throw new RiskStateError(`deny list holds ${max} entries`);
    set.add(id);
  }

  /**
   * The day a payment counts on. With the time unknown it is UNKNOWN_DAY: such a payment may have been
   * made on any day from the last known one on, so it counts towards the day of every later payment
   * until one with a known time carries it (see #dayTotal). The later of clock and floor decides.
   */
  #day(time: number | undefined): number {
    if (time === undefined) return UNKNOWN_DAY;
    return Math.floor(Math.max(time, this.clock.lastKnownTime) / DAY);
  }

  /** The time is known again: payments made while it was not count on this day (they may have been today). */
  #dateUnknownDays(day: number): void {
    this.#wallets.redate(UNKNOWN_DAY, day);
    this.#n.unknownDaySpends = false;
  }

  /** What the wallet spent on `day` as far as the terminal can tell (totals of an unknown day always count). */
  #dayTotal(w: WalletState, day: number): number {
    if (w.day === day || w.day === UNKNOWN_DAY) return w.dayTotal;
    // A payment on a known day, checked with the time unknown: the day is still the last known one or later.
    if (day === UNKNOWN_DAY && w.day >= Math.floor(this.clock.lastKnownTime / DAY)) return w.dayTotal;
    return 0;
  }

  /** Wallets on the deny list (the service's and the terminal's own). */
  get deniedWallets(): number {
    let own = 0;
    for (const id of this.#localDeny) if (!this.#denyList.has(id)) own++;
    return this.#denyList.size + own;
  }

  /**
   * A compact checkpoint of the state, but for the service's deny list (the update store keeps that,
   * once; boot hands it back through useDenyList): the terminal's own denials and the serials stay.
   */
  encode(): Uint8Array {
    return encodeTlv(this.#fields());
  }

  /** The checkpoint as a field of an enclosing message, written in place (no copy of its own). */
  encodeAs(tag: number): TlvWriter {
    const fields = this.#fields();
    return { tag, length: tlvLength(fields), write: (out, at) => encodeTlvInto(fields, out, at) };
  }

  /**
   * The state as a delta of the last full checkpoint (rebase): every field as encodeAs writes it but the
   * wallet table, of which only what changed since. Undefined when only a full checkpoint can say it.
   */
  encodeDeltaAs(tag: number): TlvWriter | undefined {
    const table = this.#wallets;
    const length = table.changedLength;
    if (length === undefined) return undefined;
    const fields = this.#fields(false);
    fields.push({ tag: CK.walletsChanged, length, write: (out, at) => table.encodeChangedInto(out, at) }, { tag: CK.walletsForgotten, value: table.forgottenIds() });
    return { tag, length: tlvLength(fields), write: (out, at) => encodeTlvInto(fields, out, at) };
  }

  /** A full checkpoint of this state is durable: deltas count from it. */
  rebase(): void {
    this.#wallets.rebase();
  }

  #fields(withWallets = true): Array<Tlv | TlvWriter> {
    const ids = (set: Set<string>) => {
      const out = new Uint8Array(set.size * 8);
      let i = 0;
      for (const id of set) out.set(fromHex(id), 8 * i++);
      return out;
    };
    return [
      { tag: CK.version, value: encodeUint(CHECKPOINT_VERSION, 1) },
      { tag: CK.lastTerminalSeq, value: encodeUint(this.#n.lastTerminalSeq, 4) },
      { tag: CK.clock, value: this.clock.encode() },
      { tag: CK.deferredLoss, value: encodeUint(this.#n.deferredLoss, 6) },
      { tag: CK.offlineAmount, value: encodeUint(this.#n.offlineAmount, 6) },
      { tag: CK.offlineCount, value: encodeUint(this.#n.offlineCount, 4) },
      { tag: CK.unverifiedExposure, value: encodeUint(this.#n.unverifiedExposure, 6) },
      { tag: CK.denyWallets, value: ids(this.#localDeny) },
      { tag: CK.denySerials, value: ids(this.#denySerials) },
      // the table writes its records straight into the checkpoint: one copy of up to 26 KB, not two
      ...(withWallets ? [{ tag: CK.wallets, length: this.#wallets.encodedLength, write: (out: Uint8Array, at: number) => this.#wallets.encodeInto(out, at) }] : []),
      { tag: CK.dayTotals, value: this.#totals.encode() },
    ];
  }

  /**
   * Rebuilds an engine from a checkpoint (untrusted bytes: a torn or foreign record), and with `delta`
   * (encodeDeltaAs's bytes) from the full checkpoint's wallets and everything else the delta's. Throws TlvError.
   */
  static decode(full: Uint8Array, options: RiskOptions, delta?: Uint8Array): RiskEngine {
    const engine = new RiskEngine(options);
    const maxIds = Math.max(engine.maxDenied, engine.maxDeniedSerials) * 8;
    const rules: Record<number, FieldRule> = {
      [CK.version]: { min: 1, max: 1 },
      [CK.lastTerminalSeq]: { min: 4, max: 4 },
      [CK.clock]: { min: 1, max: CLOCK_STATE_BYTES },
      [CK.deferredLoss]: { min: 6, max: 6 },
      [CK.offlineAmount]: { min: 6, max: 6 },
      [CK.offlineCount]: { min: 4, max: 4 },
      [CK.unverifiedExposure]: { min: 6, max: 6 },
      [CK.denyWallets]: { min: 0, max: Math.min(maxIds, 0xffff) },
      [CK.denySerials]: { min: 0, max: Math.min(maxIds, 0xffff) },
      // a full checkpoint's (a delta has the two below instead)
      [CK.wallets]: { min: 0, max: Math.min(engine.maxWallets * WALLET_RECORD, 0xffff), optional: true },
      [CK.dayTotals]: { min: DAY_TOTALS_BYTES, max: DAY_TOTALS_BYTES, optional: true },
      [CK.walletsChanged]: { min: 0, max: Math.min(engine.maxWallets * WALLET_RECORD, 0xffff), optional: true },
      [CK.walletsForgotten]: { min: 0, max: MAX_FORGOTTEN * 8, optional: true },
    };
    const wallets = decodeFields(full, rules, 4 * 0x10000);
    // a delta says every field but the wallet table's full records, which are its full checkpoint's
    const f = delta ? decodeFields(delta, rules, 4 * 0x10000) : wallets;
    if (delta && (f.has(CK.wallets) || !f.has(CK.walletsChanged) || !f.has(CK.walletsForgotten))) throw new TlvError('a delta checkpoint holds changed wallets, not a full table');
    if (!wallets.has(CK.wallets) || wallets.has(CK.walletsChanged) || wallets.has(CK.walletsForgotten)) throw new TlvError('a full checkpoint holds the whole wallet table');
    if (required(f, CK.version)[0] !== CHECKPOINT_VERSION) throw new TlvError(`checkpoint version ${required(f, CK.version)[0]}`);
    engine.#n.lastTerminalSeq = decodeUint(required(f, CK.lastTerminalSeq));
    engine.clock.merge(ClockState.decode(required(f, CK.clock)));
    engine.#n.deferredLoss = decodeUint(required(f, CK.deferredLoss));
    engine.#n.offlineAmount = decodeUint(required(f, CK.offlineAmount));
    engine.#n.offlineCount = decodeUint(required(f, CK.offlineCount));
    engine.#n.unverifiedExposure = decodeUint(required(f, CK.unverifiedExposure));
    for (const [tag, set] of [[CK.denyWallets, engine.#localDeny], [CK.denySerials, engine.#denySerials]] as const) {
      const v = required(f, tag);
      if (v.length % 8 !== 0) throw new TlvError(`deny list of ${v.length} bytes`);
      const view = new DataView(v.buffer, v.byteOffset, v.length);
      for (let i = 0; i < v.length; i += 8) set.add(hex64At(view, i));
    }
    const totals = f.get(CK.dayTotals);
    if (totals) engine.#totals = DayTotals.decode(totals, options.utcOffsetMinutes);
    // The records' own bytes, copied in once (wallet-table.ts): 1,000 wallets decoded one by one cost
    // ~250,000 computrons of a boot on XS.
    engine.#wallets.load(required(wallets, CK.wallets), delta ? { forgotten: required(f, CK.walletsForgotten), changed: required(f, CK.walletsChanged) } : undefined);
    engine.#n.unknownDaySpends = engine.#wallets.hasDay(UNKNOWN_DAY);
    return engine;
  }
}

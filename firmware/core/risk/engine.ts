// The terminal's offline risk state and rules: caps since the last settlement, per-wallet limits by
// class and per day, the deny list, per-wallet counters, the CVM threshold, transit's deferred
// verification and its unverified-exposure cap. State is rebuilt at boot from a checkpoint (encode /
// decode) plus the receipts journaled after it (applyReceipt).
import { TaplineError } from '../../base/errors';
import { fromHex, toHex } from '../../base/bytes';
import type { Certificate, PayResponse } from '../protocol/messages';
import { openReceipt, type Receipt } from '../protocol/receipt';
import { decodeFields, decodeUint, encodeTlv, encodeUint, TlvError, type FieldRule } from '../protocol/tlv';
import type { RiskConfig, WalletClassLimits } from './config';
import { DeclineError } from '../../base/reasons';

export type Mode = 'merchant' | 'transit';

const DAY = 86400;

interface WalletState {
  counter: number;
  day: number;
  dayTotal: number;
  /** Monotonic ms of the last approval, for anti-passback; not kept across a reboot. */
  lastTapMs?: number;
}

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
  /** Most deny-list entries of each kind. */
  maxDenied?: number;
}

export class RiskStateError extends TaplineError {
  override readonly name: string = 'RiskStateError';
}

const CHECKPOINT_VERSION = 1;
const WALLET_RECORD = 8 + 4 + 4 + 6;
const CK = {
  version: 0x80,
  lastTerminalSeq: 0x81,
  settledAt: 0x82,
  lastKnownTime: 0x83,
  offlineAmount: 0x84,
  offlineCount: 0x85,
  unverifiedExposure: 0x86,
  denyVersion: 0x87,
  denyWallets: 0x88,
  denySerials: 0x89,
  wallets: 0x8a,
} as const;

export class RiskEngine {
  config: RiskConfig;
  readonly maxWallets: number;
  readonly maxDenied: number;
  /** Highest terminal sequence number applied: replaying older receipts is a no-op. */
  lastTerminalSeq = 0;
  settledAt: number | undefined;
  /** Latest wall time the terminal has known: a lower bound when it has lost the time. */
  lastKnownTime = 0;
  offlineAmount = 0;
  offlineCount = 0;
  unverifiedExposure = 0;
  denyVersion = 0;
  #denyWallets = new Set<string>();
  #denySerials = new Set<string>();
  #wallets = new Map<string, WalletState>();

  constructor(options: RiskOptions) {
    this.config = options.config;
    this.settledAt = options.settledAt;
    if (options.settledAt !== undefined) this.lastKnownTime = options.settledAt;
    this.maxWallets = options.maxWallets ?? 1000;
    this.maxDenied = options.maxDenied ?? 4096;
  }

  /** The terminal learnt the time (from the network); it only ever moves the lower bound forward. */
  observeTime(time: number): void {
    if (time > this.lastKnownTime) this.lastKnownTime = time;
    // A terminal that never settled starts its offline window when it first knows the time.
    this.settledAt ??= time;
  }

  isDenied(cert: Certificate): boolean {
    return this.#denyWallets.has(cert.walletId) || this.#denySerials.has(cert.serial);
  }

  /** Everything decidable before the wallet signs. Throws DeclineError. */
  assess(f: TapFacts): Assessment {
    const { certificate: cert, amount } = f;
    if (this.#denyWallets.has(cert.walletId)) throw new DeclineError('walletDenied', `wallet ${cert.walletId}`);
    if (this.#denySerials.has(cert.serial)) throw new DeclineError('serialDenied', `serial ${cert.serial}`);
    if (amount > this.config.maxTransaction) throw new DeclineError('overTransactionCap', `${amount} > ${this.config.maxTransaction}`);
    const limits = this.limitsFor(cert);
    if (amount > limits.single) throw new DeclineError('overWalletSingleLimit', `${amount} > ${limits.single}`);
    const wallet = this.#wallets.get(cert.walletId);
    const day = this.#day(f.time);
    const dayTotal = wallet && wallet.day === day ? wallet.dayTotal : 0;
    if (dayTotal + amount > limits.daily) throw new DeclineError('overWalletDailyLimit', `${dayTotal} + ${amount} > ${limits.daily}`);
    if (this.offlineAmount + amount > this.config.maxOfflineAmount) {
      throw new DeclineError('overOfflineAmount', `${this.offlineAmount} + ${amount} > ${this.config.maxOfflineAmount}`);
    }
    if (this.offlineCount + 1 > this.config.maxOfflineCount) throw new DeclineError('overOfflineCount', `${this.offlineCount} payments`);
    if (f.time === undefined) {
      if (amount > this.config.unknownTimeMaxAmount) throw new DeclineError('timeUnknown', `${amount} > ${this.config.unknownTimeMaxAmount}`);
    } else if (this.settledAt !== undefined && f.time - this.settledAt > this.config.maxOfflineSeconds) {
      throw new DeclineError('offlineTooLong', `${f.time - this.settledAt} s since settlement`);
    }
    const passback = this.config.transit.passbackSeconds;
    if (f.mode === 'transit' && passback > 0 && wallet?.lastTapMs !== undefined && f.nowMs - wallet.lastTapMs < passback * 1000) {
      throw new DeclineError('passback', `wallet ${cert.walletId}`);
    }
    const t = this.config.transit;
    return {
      cvmRequired: amount > this.config.cvmThreshold,
      mayDefer: f.mode === 'transit' && amount <= t.deferredMaxAmount && this.unverifiedExposure + amount <= t.unverifiedExposureCap,
    };
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
    if (a.terminalSeq <= this.lastTerminalSeq) return;
    this.lastTerminalSeq = a.terminalSeq;
    if (a.time !== undefined) this.observeTime(a.time);
    this.offlineAmount += a.amount;
    this.offlineCount += 1;
    if (a.deferred) this.unverifiedExposure += a.amount;
    const day = this.#day(a.time);
    const prior = this.#wallets.get(a.walletId);
    const wallet: WalletState = {
      counter: Math.max(a.counter, prior?.counter ?? 0),
      day,
      dayTotal: (prior && prior.day === day ? prior.dayTotal : 0) + a.amount,
      lastTapMs: a.nowMs,
    };
    this.#wallets.delete(a.walletId);
    this.#wallets.set(a.walletId, wallet);
    while (this.#wallets.size > this.maxWallets) this.#wallets.delete(this.#wallets.keys().next().value!);
  }

  /** Boot replay: applies a journaled receipt (those up to lastTerminalSeq are skipped). Throws TlvError. */
  applyReceipt(receipt: Receipt): boolean {
    if (receipt.terminalSeq <= this.lastTerminalSeq) return false;
    const { certificate, request, response } = openReceipt(receipt);
    this.record({
      walletId: certificate.walletId,
      counter: response.counter,
      amount: request.amount,
      terminalSeq: receipt.terminalSeq,
      time: request.terminalTime || undefined,
      deferred: receipt.deferred,
    });
    return true;
  }

  /** A deferred verification finished. A failure puts the wallet on the local deny list. */
  deferredDone(walletId: string, amount: number, verified: boolean): void {
    this.unverifiedExposure = Math.max(0, this.unverifiedExposure - amount);
    if (!verified) this.#deny(this.#denyWallets, walletId);
  }

  /** The service acknowledged the receipts up to `terminalSeq` and told the time: the caps start again. */
  settled(time: number): void {
    this.settledAt = time;
    this.observeTime(time);
    this.offlineAmount = 0;
    this.offlineCount = 0;
  }

  applyDenyDelta(d: DenyDelta): boolean {
    if (d.version <= this.denyVersion) return false;
    for (const id of d.removeWallets) this.#denyWallets.delete(id);
    for (const id of d.removeSerials) this.#denySerials.delete(id);
    for (const id of d.addWallets) this.#deny(this.#denyWallets, id);
    for (const id of d.addSerials) this.#deny(this.#denySerials, id);
    this.denyVersion = d.version;
    return true;
  }

  #deny(set: Set<string>, id: string): void {
    if (!/^[0-9a-f]{16}$/.test(id)) throw new RiskStateError(`deny-list entry "${id}" is not 16 hex digits`);
    if (set.size >= this.maxDenied && !set.has(id)) throw new RiskStateError(`deny list holds ${this.maxDenied} entries`);
    set.add(id);
  }

  #day(time: number | undefined): number {
    return Math.floor((time ?? this.lastKnownTime) / DAY);
  }

  /** A compact checkpoint of the whole state (anti-passback times excepted). */
  encode(): Uint8Array {
    const ids = (set: Set<string>) => {
      const out = new Uint8Array(set.size * 8);
      let i = 0;
      for (const id of set) out.set(fromHex(id), 8 * i++);
      return out;
    };
    const wallets = new Uint8Array(this.#wallets.size * WALLET_RECORD);
    let o = 0;
    for (const [id, w] of this.#wallets) {
      wallets.set(fromHex(id), o);
      wallets.set(encodeUint(w.counter, 4), o + 8);
      wallets.set(encodeUint(w.day, 4), o + 12);
      wallets.set(encodeUint(w.dayTotal, 6), o + 16);
      o += WALLET_RECORD;
    }
    return encodeTlv([
      { tag: CK.version, value: encodeUint(CHECKPOINT_VERSION, 1) },
      { tag: CK.lastTerminalSeq, value: encodeUint(this.lastTerminalSeq, 4) },
      { tag: CK.settledAt, value: encodeUint(this.settledAt ?? 0, 4) },
      { tag: CK.lastKnownTime, value: encodeUint(this.lastKnownTime, 4) },
      { tag: CK.offlineAmount, value: encodeUint(this.offlineAmount, 6) },
      { tag: CK.offlineCount, value: encodeUint(this.offlineCount, 4) },
      { tag: CK.unverifiedExposure, value: encodeUint(this.unverifiedExposure, 6) },
      { tag: CK.denyVersion, value: encodeUint(this.denyVersion, 4) },
      { tag: CK.denyWallets, value: ids(this.#denyWallets) },
      { tag: CK.denySerials, value: ids(this.#denySerials) },
      { tag: CK.wallets, value: wallets },
    ]);
  }

  /** Rebuilds an engine from a checkpoint (untrusted bytes: a torn or foreign record). Throws TlvError. */
  static decode(bytes: Uint8Array, options: RiskOptions): RiskEngine {
    const engine = new RiskEngine(options);
    const maxIds = engine.maxDenied * 8;
    const rules: Record<number, FieldRule> = {
      [CK.version]: { min: 1, max: 1 },
      [CK.lastTerminalSeq]: { min: 4, max: 4 },
      [CK.settledAt]: { min: 4, max: 4 },
      [CK.lastKnownTime]: { min: 4, max: 4 },
      [CK.offlineAmount]: { min: 6, max: 6 },
      [CK.offlineCount]: { min: 4, max: 4 },
      [CK.unverifiedExposure]: { min: 6, max: 6 },
      [CK.denyVersion]: { min: 4, max: 4 },
      [CK.denyWallets]: { min: 0, max: Math.min(maxIds, 0xffff) },
      [CK.denySerials]: { min: 0, max: Math.min(maxIds, 0xffff) },
      [CK.wallets]: { min: 0, max: Math.min(engine.maxWallets * WALLET_RECORD, 0xffff) },
    };
    const f = decodeFields(bytes, rules, 4 * 0x10000);
    if (f.get(CK.version)![0] !== CHECKPOINT_VERSION) throw new TlvError(`checkpoint version ${f.get(CK.version)![0]}`);
    const settledAt = decodeUint(f.get(CK.settledAt)!);
    engine.lastTerminalSeq = decodeUint(f.get(CK.lastTerminalSeq)!);
    engine.settledAt = settledAt === 0 ? undefined : settledAt;
    engine.lastKnownTime = decodeUint(f.get(CK.lastKnownTime)!);
    engine.offlineAmount = decodeUint(f.get(CK.offlineAmount)!);
    engine.offlineCount = decodeUint(f.get(CK.offlineCount)!);
    engine.unverifiedExposure = decodeUint(f.get(CK.unverifiedExposure)!);
    engine.denyVersion = decodeUint(f.get(CK.denyVersion)!);
    for (const [tag, set] of [[CK.denyWallets, engine.#denyWallets], [CK.denySerials, engine.#denySerials]] as const) {
      const v = f.get(tag)!;
      if (v.length % 8 !== 0) throw new TlvError(`deny list of ${v.length} bytes`);
      for (let i = 0; i < v.length; i += 8) set.add(toHex(v.subarray(i, i + 8)));
    }
    const w = f.get(CK.wallets)!;
    if (w.length % WALLET_RECORD !== 0) throw new TlvError(`wallet table of ${w.length} bytes`);
    for (let i = 0; i < w.length; i += WALLET_RECORD) {
      engine.#wallets.set(toHex(w.subarray(i, i + 8)), {
        counter: decodeUint(w.subarray(i + 8, i + 12)),
        day: decodeUint(w.subarray(i + 12, i + 16)),
        dayTotal: decodeUint(w.subarray(i + 16, i + 22)),
      });
    }
    return engine;
  }
}

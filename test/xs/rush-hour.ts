// The rush-hour gate of bench/rush-hour.bench.ts, platform-free so it runs inside XS: one transit
// validator with zone fare rules (transfers, a daily cap), riders with P-256 cards (deferred, checked
// in the gate's idle slots as the terminal schedules them) and Ed25519 cards (checked before the gate
// opens), whose transit logs vary (a new journey, a transfer, a capped day). The validator is built as
// boot builds the device's (firmware/app/state.ts TerminalStore: the journal on a flash partition with
// its state checkpoints, the risk state, the open intents), with the platform's parts given: the
// partition and, on the device-sized host, the native hashes and signature checks. Each rider's wallet
// answers are made in `prepare` (the wallet signs there, unmetered), so the metered `tap` is the
// terminal's work alone: the PAY request is predicted exactly (the fare is the same pure engine), and
// a tap that sends anything else fails loudly. The device's time runs on the terminal's own clock: a
// signature check advances it by the modelled native cost of its algorithm, a tap by its XS work so far
// (its computrons x the device's time of one, which the bench gives) when its receipt is appended, and
// by the rest once the tap is decided.
import { toHex } from '../../firmware/base/bytes';
import type { CardLink } from '../../firmware/base/ports';
import { VirtualClock, silentLog } from '../../firmware/base/platform';
import type { HashPort } from '../../firmware/base/hash';
import { ALG_ED25519, ALG_P256, verifySignature, type Alg, type VerifyFn } from '../../firmware/core/crypto/verify';
import { Keyring } from '../../firmware/core/crypto/keyring';
import { Verifier } from '../../firmware/core/crypto/verifier';
import { DEFAULT_RISK_CONFIG } from '../../firmware/core/risk/config';
import type { Flash } from '../../firmware/core/journal/flash';
import { Terminal, type Effect } from '../../firmware/core/terminal/terminal';
import { encodeState, TerminalStore } from '../../firmware/app/state';
import { RECORD_RECEIPT } from '../../firmware/core/protocol/receipt';
import { computeFare, serviceDay } from '../../firmware/core/fares/engine';
import { parseFareRules, type FareRules } from '../../firmware/core/fares/rules';
import { payCommand, readCertificateCommand, readTransitLogCommand, selectCommand } from '../../firmware/core/protocol/apdu';
import { encodePayRequest } from '../../firmware/core/protocol/messages';
import { decodeTransitLog, TAP_OFF, TAP_RIDE, transitLogDigest, type TransitEntry } from '../../firmware/core/protocol/transit-log';
import { createIssuer, issueWallet, type Issuer } from '../../host/wallet/issuer';
import { WalletEmulator } from '../../host/wallet/emulator';
import { seededRandom } from '../../host/wallet/random';
import { NOW, outcomeOf } from './core-scenarios';
import { ZONE_RULES } from './fares-scenarios';

const STATION = 1;
const CHALLENGE_BYTES = 16;
const YEAR = 365 * 86400;
const TERMINAL_ID = 'T-0001';
const OPERATOR_ID = 'M-cafe';

/** The platform's parts: a journal partition, and the device's native primitives where the host has them. */
export interface GatePlatform {
  /** An erased partition of `bytes`, and the bytes programmed on it so far. */
  partition(bytes: number): { flash: Flash; programmed(): number };
  hashes?: HashPort;
  verify?: VerifyFn;
  /** The engine's computrons so far (xsdevMeter): a tap's XS work is timed by it. */
  meter: () => number;
}

interface Rider {
  alg: Alg;
  certificate: Uint8Array;
  secretKey: Uint8Array;
  counter: number;
}

export interface TapReport {
  outcome: string;
  deferred: boolean;
  amount: number;
  /** Signature checks the tap did itself (an Ed25519 card, or the exposure cap full: verified before opening). */
  verifies: number;
  alg: string;
  /** The terminal's clock at the decision (ms since setup). */
  nowMs: number;
  /** Bytes programmed on the journal partition so far, and by this tap (its intent, receipt and any checkpoint). */
  journalBytes: number;
  tapJournalBytes: number;
  /** The tap wrote the journal's state checkpoint itself (no idle slot before it had). */
  checkpointInTap: boolean;
}

export interface TickReport {
  verifies: number;
  pending: number;
  state: string;
  nowMs: number;
}

interface Gate {
  clock: VirtualClock;
  random: (n: number) => Uint8Array;
  verifier: Verifier;
  store: TerminalStore;
  terminal: Terminal;
  programmed(): number;
}

export class RushHour {
  readonly #platform: GatePlatform;
  #w: Gate | undefined;
  #rules: FareRules = parseFareRules(ZONE_RULES);
  #riders: Rider[] = [];
  #answers = new Map<string, Uint8Array>();
  #challenges: Uint8Array[] = [];
  #seq = 0;
  #verifies = 0;
  #baseMs = 0;
  /** In a tap: the modelled ms of the signature checks it made. */
  #tapMs = 0;
  #msPerComputron = 0;
  #tapStarted = 0;
  #alg: Alg = ALG_P256;
  #inTap = false;

  constructor(platform: GatePlatform) {
    this.#platform = platform;
  }

  /**
   * `identities` distinct cards (each comes back every `identities` riders, past anti-passback), one in
   * `ed25519Every` of them Ed25519 (0: none); `verifyMs` the device's time of one native signature check.
   */
  setup(a: { identities: number; ed25519Every: number; verifyMs: { p256: number; ed25519: number } }): number {
    const platform = this.#platform;
    const random = seededRandom('rush hour');
    const clock = new VirtualClock({ start: 1000, wallTime: NOW });
    const window = { notBefore: NOW - YEAR, notAfter: NOW + YEAR };
    const issuers: Record<Alg, Issuer> = { [ALG_P256]: createIssuer(ALG_P256, random, { keyId: 1, ...window }), [ALG_ED25519]: createIssuer(ALG_ED25519, random, { keyId: 2, ...window }) };
    const inner = platform.verify ?? verifySignature;
    // counts the signature checks and lets the device's time of each pass
    const verify: VerifyFn = (alg, ...rest) => {
      this.#verifies++;
      const ms = alg === ALG_ED25519 ? a.verifyMs.ed25519 : a.verifyMs.p256;
      // inside a tap the time passes with the tap's (below): the request's time is the one predicted
      if (this.#inTap) this.#tapMs += ms;
      else clock.advance(ms);
      return inner(alg, ...rest);
    };
    // the device's cache of verified certificates (firmware/app/boot.ts)
    const verifier = new Verifier({ keyring: new Keyring([issuers[ALG_P256].key, issuers[ALG_ED25519].key]), cacheSize: 16, verify, ...(platform.hashes ? { sha256: platform.hashes.sha256 } : {}) });
    const partition = platform.partition(4 << 20);
    const store = new TerminalStore({
      flash: partition.flash,
      log: silentLog,
      // An hour at a busy gate is ~2,700 payments: a validator provisioned for it (the default 500 would refuse the 501st).
      riskOptions: { config: { ...DEFAULT_RISK_CONFIG, maxOfflineCount: 10_000, maxOfflineAmount: 10_000_000 }, settledAt: NOW - 3600 },
      ...(platform.hashes ? { journal: { sha256: platform.hashes.sha256, crc32: platform.hashes.crc32 } } : {}),
    });
    store.journal.open();
    const terminal = new Terminal({
      mode: 'transit',
      fare: 200,
      terminalId: TERMINAL_ID,
      merchantId: OPERATOR_ID,
      verifier,
      risk: store.risk,
      journal: store.journal,
      inDoubt: store.inDoubt,
      clock,
      random: (n) => {
        const c = this.#challenges.shift();
        if (!c || c.length !== n) throw new Error('rush hour: no challenge prepared');
        return c;
      },
      // boot's default where verification is native: Ed25519 before opening, P-256 deferred
      verifyBeforeOpen: [ALG_ED25519],
      schedule: { verifyMs: a.verifyMs.p256 },
      fares: { rules: this.#rules, station: STATION },
      ...(platform.hashes ? { sha256: platform.hashes.sha256 } : {}),
      periodicCheckpoint: (records) => store.journal.checkpointAhead(records),
    });
    terminal.start();
    this.#w = { clock, random, verifier, store, terminal, programmed: partition.programmed };
    this.#baseMs = clock.now();
    for (let i = 0; i < a.identities; i++) {
      const alg = a.ed25519Every > 0 && i % a.ed25519Every === a.ed25519Every - 1 ? ALG_ED25519 : ALG_P256;
      const issued = issueWallet(issuers[alg], random, { alg, walletClass: 2, notBefore: NOW - 30 * 86400, notAfter: NOW + YEAR });
      this.#riders.push({ alg, certificate: issued.certificate, secretKey: issued.keys.secretKey, counter: 0 });
    }
    // the tap's own XS work so far and its checks, at the device's speed, pass before its receipt is durable
    const journal = store.journal;
    const append = journal.append.bind(journal);
    journal.append = (type, payload) => {
      if (type === RECORD_RECEIPT && this.#inTap) {
        const now = platform.meter();
        clock.advance(this.#tapMs + (now - this.#tapStarted) * this.#msPerComputron);
        this.#tapMs = 0;
        this.#tapStarted = now;
      }
      return append(type, payload);
    };
    return this.#riders.length;
  }

  /** The rider `i` about to tap at `atMs` (model time): a card in the state its kind says, and its answers. */
  prepare(a: { i: number; atMs: number }): string {
    const w = this.#w!;
    this.#advance(a.atMs);
    const rider = this.#riders[a.i % this.#riders.length]!;
    this.#alg = rider.alg;
    const risk = w.store.risk;
    const time = Math.max(w.clock.wallTime()!, risk.lastKnownTime);
    const day = serviceDay(this.#rules, time);
    const kind = a.i % 10;
    const entries: TransitEntry[] = [];
    const counter = rider.counter + 1;
    // 3 in 10 transfer from a ride that ended 10 minutes ago elsewhere, 1 in 10 has reached the day's cap
    if (kind < 3) entries.push({ kind: TAP_OFF, transfer: false, time: time - 600, operator: 7, station: 4, fare: 0, refund: 100, counter: counter - 1, day, dayTotal: 300, weekTotal: 300 });
    if (kind === 3) entries.push({ kind: TAP_RIDE, transfer: false, time: time - 3600, operator: 7, station: 3, fare: 400, refund: 0, counter: counter - 1, day, dayTotal: 1000, weekTotal: 1000 });
    rider.counter = counter;
    const wallet = new WalletEmulator({ profile: 'card', certificate: rider.certificate, secretKey: rider.secretKey, balance: 1e6, counter: counter - 1, transitLog: entries });
    this.#answers.clear();
    const answer = (command: Uint8Array) => this.#answers.set(toHex(command), wallet.answer(command));
    answer(selectCommand());
    answer(readCertificateCommand());
    const logR = wallet.answer(readTransitLogCommand());
    this.#answers.set(toHex(readTransitLogCommand()), logR);
    const logBytes = logR.subarray(0, logR.length - 2);
    const log = decodeTransitLog(logBytes);
    const fare = computeFare({ rules: this.#rules, log, station: STATION, time, walletClass: 2 });
    const challenge = w.random(CHALLENGE_BYTES);
    this.#challenges.push(challenge);
    const request = encodePayRequest({
      challenge, amount: fare.amount, currency: risk.config.currency, terminalId: TERMINAL_ID, merchantId: OPERATOR_ID, terminalTime: time,
      terminalSeq: ++this.#seq, cvmRequired: fare.amount > risk.config.cvmThreshold,
      transit: { logDigest: transitLogDigest(logBytes), kind: fare.kind, transfer: fare.transfer, operator: this.#rules.operator, station: STATION, day: fare.day, refund: fare.refund },
    });
    answer(payCommand(request));
    return fare.transfer ? 'transfer' : fare.capped ? 'capped' : 'journey';
  }

  /** The measured tap: the card event, against the answers `prepare` made; `msPerComputron` the device's time of one. */
  async tap(a: { msPerComputron: number }): Promise<TapReport> {
    const w = this.#w!;
    const link: CardLink = {
      transceive: async (apdu) => {
        const r = this.#answers.get(toHex(apdu));
        if (!r) throw new Error(`rush hour: the terminal sent ${toHex(apdu)}, not the command predicted`);
        return r;
      },
    };
    this.#verifies = 0;
    this.#tapMs = 0;
    this.#msPerComputron = a.msPerComputron;
    const programmed = w.programmed();
    const records = w.store.journal.lastSeq;
    this.#inTap = true;
    this.#tapStarted = this.#platform.meter();
    let effects: Effect[];
    try {
      effects = await w.terminal.handle({ type: 'card', link });
    } finally {
      this.#inTap = false;
    }
    // the rest of the tap, after its receipt (a decline: all of it), before the screen shows the decision
    w.clock.advance(this.#tapMs + (this.#platform.meter() - this.#tapStarted) * a.msPerComputron);
    const outcome = outcomeOf(effects);
    const o = effects.find((e) => e.type === 'outcome');
    return {
      outcome, deferred: o?.type === 'outcome' && o.approved ? o.deferred : false, amount: o?.type === 'outcome' ? o.amount : 0, verifies: this.#verifies,
      alg: this.#alg === ALG_ED25519 ? 'Ed25519' : 'P-256', nowMs: this.#nowMs(), journalBytes: w.programmed(), tapJournalBytes: w.programmed() - programmed,
      // more records than its intent and receipt: the checkpoint's parts
      checkpointInTap: w.store.journal.lastSeq - records > 2,
    };
  }

  /**
   * What the journal's state checkpoint (every 32 records, firmware/app/state.ts) costs to make now:
   * the computrons of its snapshot alone (the risk state and open intents encoded) and its size.
   */
  checkpointCost(): { computrons: number; bytes: number } {
    const w = this.#w!;
    const started = this.#platform.meter();
    const bytes = encodeState(w.store.risk, w.store.inDoubt).length;
    return { computrons: this.#platform.meter() - started, bytes };
  }

  /** One turn of the device's loop at `atMs` (or now, if the clock is past it): what the tick checked. */
  async tick(a: { atMs: number }): Promise<TickReport> {
    const w = this.#w!;
    this.#advance(a.atMs);
    this.#verifies = 0;
    const started = this.#platform.meter();
    await w.terminal.handle({ type: 'tick' });
    // the turn's own XS work at the device's speed: a periodic checkpoint's ~95k computrons, mostly
    w.clock.advance((this.#platform.meter() - started) * this.#msPerComputron);
    return { verifies: this.#verifies, pending: w.terminal.pendingVerifications, state: w.terminal.state, nowMs: this.#nowMs() };
  }

  #nowMs(): number {
    return this.#w!.clock.now() - this.#baseMs;
  }

  #advance(atMs: number): void {
    const now = this.#nowMs();
    if (atMs > now) this.#w!.clock.advance(atMs - now);
  }
}

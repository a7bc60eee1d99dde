// The rush-hour gate of bench/rush-hour.bench.ts, platform-free so it runs inside XS: one transit
// validator with zone fare rules (transfers, a daily cap), riders with P-256 cards (deferred, checked
// in the gate's idle slots as the terminal schedules them) and Ed25519 cards (checked before the gate
// opens), whose transit logs vary (a new journey, a transfer, a capped day). Each rider's wallet
// answers are made in `prepare` (the wallet signs there, unmetered), so the metered `tap` is the
// terminal's work alone: the PAY request is predicted exactly (the fare is the same pure engine), and
// a tap that sends anything else fails loudly. The device's time runs on the terminal's own clock: a
// signature check advances it by the modelled native cost of its algorithm, a tap by the modelled
// cost of its XS work (given by the bench) before its receipt is durable.
import { toHex } from '../../firmware/base/bytes';
import type { CardLink } from '../../firmware/base/ports';
import { ALG_ED25519, ALG_P256, type Alg, type VerifyFn } from '../../firmware/core/crypto/verify';
import { RECORD_RECEIPT } from '../../firmware/core/protocol/receipt';
import { computeFare, serviceDay } from '../../firmware/core/fares/engine';
import { parseFareRules, type FareRules } from '../../firmware/core/fares/rules';
import { payCommand, readCertificateCommand, readTransitLogCommand, selectCommand } from '../../firmware/core/protocol/apdu';
import { encodePayRequest } from '../../firmware/core/protocol/messages';
import { decodeTransitLog, TAP_OFF, TAP_RIDE, transitLogDigest, type TransitEntry } from '../../firmware/core/protocol/transit-log';
import { issueWallet, type Issuer } from '../../host/wallet/issuer';
import { WalletEmulator } from '../../host/wallet/emulator';
import { NOW, outcomeOf, World } from './core-scenarios';
import { ZONE_RULES } from './fares-scenarios';

const STATION = 1;
const CHALLENGE_BYTES = 16;

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
  journalBytes: number;
}

export interface TickReport {
  verifies: number;
  pending: number;
  state: string;
  nowMs: number;
}

export class RushHour {
  #w: World | undefined;
  #rules: FareRules = parseFareRules(ZONE_RULES);
  #riders: Rider[] = [];
  #answers = new Map<string, Uint8Array>();
  #challenges: Uint8Array[] = [];
  #seq = 0;
  #verifies = 0;
  #baseMs = 0;
  #tapMs = 0;
  #alg: Alg = ALG_P256;
  #inTap = false;

  /**
   * `identities` distinct cards (each comes back every `identities` riders, past anti-passback), one in
   * `ed25519Every` of them Ed25519 (0: none); `verifyMs` the device's time of one native signature check.
   */
  setup(a: { identities: number; ed25519Every: number; verifyMs: { p256: number; ed25519: number } }): number {
    const w = new World({
      alg: ALG_P256,
      mode: 'transit',
      // the default is Ed25519 before opening when native: the bench models native checks
      verifyBeforeOpen: [ALG_ED25519],
      schedule: { verifyMs: a.verifyMs.p256 },
      journalBytes: 4 << 20,
      fares: { rules: this.#rules, station: STATION },
      // An hour at a busy gate is ~2,700 payments: a validator provisioned for it (the default 500 would refuse the 501st).
      config: { maxOfflineCount: 10_000, maxOfflineAmount: 10_000_000 },
      challenges: (n) => {
        const c = this.#challenges.shift();
        if (!c || c.length !== n) throw new Error('rush hour: no challenge prepared');
        return c;
      },
    });
    this.#w = w;
    this.#baseMs = w.clock.now();
    const random = w.random;
    const ed = w.newIssuer(ALG_ED25519, 2);
    w.verifier.replaceKeys([w.issuer.key, ed.key]);
    for (let i = 0; i < a.identities; i++) {
      const alg = a.ed25519Every > 0 && i % a.ed25519Every === a.ed25519Every - 1 ? ALG_ED25519 : ALG_P256;
      const issuer: Issuer = alg === ALG_ED25519 ? ed : w.issuer;
      const issued = issueWallet(issuer, random, { alg, walletClass: 2, notBefore: NOW - 30 * 86400, notAfter: NOW + 365 * 86400 });
      this.#riders.push({ alg, certificate: issued.certificate, secretKey: issued.keys.secretKey, counter: 0 });
    }
    // counts the signature checks and lets the device's time of each pass (the verifier's own primitive, wrapped)
    const verifier = w.verifier as { verify: VerifyFn };
    const inner = verifier.verify;
    verifier.verify = (alg, ...rest) => {
      this.#verifies++;
      const ms = alg === ALG_ED25519 ? a.verifyMs.ed25519 : a.verifyMs.p256;
      // inside a tap the time passes with the tap's (below): the request's time is the one predicted
      if (this.#inTap) this.#tapMs += ms;
      else w.clock.advance(ms);
      return inner(alg, ...rest);
    };
    // the tap's own XS work, at the device's speed, passes before its receipt is durable
    const journal = w.journal;
    const append = journal.append.bind(journal);
    journal.append = (type, payload) => {
      if (type === RECORD_RECEIPT) w.clock.advance(this.#tapMs);
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
    const time = Math.max(w.clock.wallTime()!, w.risk.lastKnownTime);
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
      challenge, amount: fare.amount, currency: w.risk.config.currency, terminalId: 'T-0001', merchantId: 'M-cafe', terminalTime: time,
      terminalSeq: ++this.#seq, cvmRequired: fare.amount > w.risk.config.cvmThreshold,
      transit: { logDigest: transitLogDigest(logBytes), kind: fare.kind, transfer: fare.transfer, operator: this.#rules.operator, station: STATION, day: fare.day, refund: fare.refund },
    });
    answer(payCommand(request));
    return fare.transfer ? 'transfer' : fare.capped ? 'capped' : 'journey';
  }

  /** The measured tap: the card event, against the answers `prepare` made; `tapMs` its modelled XS time. */
  async tap(a: { tapMs: number }): Promise<TapReport> {
    const w = this.#w!;
    const link: CardLink = {
      transceive: async (apdu) => {
        const r = this.#answers.get(toHex(apdu));
        if (!r) throw new Error(`rush hour: the terminal sent ${toHex(apdu)}, not the command predicted`);
        return r;
      },
    };
    this.#verifies = 0;
    this.#tapMs = a.tapMs;
    this.#inTap = true;
    let effects;
    try {
      effects = await w.send({ type: 'card', link });
    } finally {
      this.#inTap = false;
    }
    const outcome = outcomeOf(effects);
    const o = effects.find((e) => e.type === 'outcome');
    return {
      outcome, deferred: o?.type === 'outcome' && o.approved ? o.deferred : false, amount: o?.type === 'outcome' ? o.amount : 0, verifies: this.#verifies,
      alg: this.#alg === ALG_ED25519 ? 'Ed25519' : 'P-256', nowMs: this.#nowMs(), journalBytes: w.journal.used,
    };
  }

  /** One turn of the device's loop at `atMs` (or now, if the clock is past it): what the tick checked. */
  async tick(a: { atMs: number }): Promise<TickReport> {
    const w = this.#w!;
    this.#advance(a.atMs);
    this.#verifies = 0;
    await w.send({ type: 'tick' });
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

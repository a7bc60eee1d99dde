// The rush-hour gate of bench/rush-hour.bench.ts, platform-free so it runs inside XS: one transit
// validator with zone fare rules (transfers, a daily cap), riders with P-256 cards whose transit logs
// vary (a new journey, a transfer, a capped day), taps deferred and verified when the bench's device
// model says the gate has time. Each rider's wallet answers are made in `prepare` (the wallet signs
// there, unmetered), so the metered `tap` is the terminal's work alone: the PAY request is predicted
// exactly (the fare is the same pure engine), and a tap that sends anything else fails loudly.
import { toHex } from '../../firmware/base/bytes';
import type { CardLink } from '../../firmware/base/ports';
import { ALG_P256, type VerifyFn } from '../../firmware/core/crypto/verify';
import { computeFare, serviceDay } from '../../firmware/core/fares/engine';
import { parseFareRules, type FareRules } from '../../firmware/core/fares/rules';
import { payCommand, readCertificateCommand, readTransitLogCommand, selectCommand } from '../../firmware/core/protocol/apdu';
import { encodePayRequest } from '../../firmware/core/protocol/messages';
import { decodeTransitLog, TAP_OFF, TAP_RIDE, transitLogDigest, type TransitEntry } from '../../firmware/core/protocol/transit-log';
import { issueWallet } from '../../host/wallet/issuer';
import { WalletEmulator } from '../../host/wallet/emulator';
import { NOW, outcomeOf, World } from './core-scenarios';
import { ZONE_RULES } from './fares-scenarios';

const STATION = 1;
const CHALLENGE_BYTES = 16;

interface Rider {
  certificate: Uint8Array;
  secretKey: Uint8Array;
  counter: number;
}

export interface TapReport {
  outcome: string;
  deferred: boolean;
  amount: number;
  /** Signature checks the tap did itself (the exposure cap full: verified before opening). */
  verifies: number;
}

export class RushHour {
  #w: World | undefined;
  #rules: FareRules = parseFareRules(ZONE_RULES);
  #riders: Rider[] = [];
  #answers = new Map<string, Uint8Array>();
  #challenges: Uint8Array[] = [];
  #seq = 0;
  #atMs = 0;
  #verifies = 0;

  /** `identities` distinct cards (each comes back every `identities` riders, past anti-passback). */
  setup(a: { identities: number }): number {
    const w = new World({
      alg: ALG_P256,
      mode: 'transit',
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
    const random = w.random;
    for (let i = 0; i < a.identities; i++) {
      const issued = issueWallet(w.issuer, random, { alg: ALG_P256, walletClass: 2, notBefore: NOW - 30 * 86400, notAfter: NOW + 365 * 86400 });
      this.#riders.push({ certificate: issued.certificate, secretKey: issued.keys.secretKey, counter: 0 });
    }
    // counts the signature checks (the primitive is the verifier's own, wrapped)
    const verifier = w.verifier as { verify: VerifyFn };
    const inner = verifier.verify;
    verifier.verify = (...args) => {
      this.#verifies++;
      return inner(...args);
    };
    return this.#riders.length;
  }

  /** The rider `i` about to tap at `atMs` (model time): a card in the state its kind says, and its answers. */
  prepare(a: { i: number; atMs: number }): string {
    const w = this.#w!;
    this.#advance(a.atMs);
    const rider = this.#riders[a.i % this.#riders.length]!;
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

  /** The measured tap: the card event, against the answers `prepare` made. */
  async tap(): Promise<TapReport> {
    const w = this.#w!;
    const link: CardLink = {
      transceive: async (apdu) => {
        const r = this.#answers.get(toHex(apdu));
        if (!r) throw new Error(`rush hour: the terminal sent ${toHex(apdu)}, not the command predicted`);
        return r;
      },
    };
    this.#verifies = 0;
    const effects = await w.send({ type: 'card', link });
    const outcome = outcomeOf(effects);
    const o = effects.find((e) => e.type === 'outcome');
    return { outcome, deferred: o?.type === 'outcome' && o.approved ? o.deferred : false, amount: o?.type === 'outcome' ? o.amount : 0, verifies: this.#verifies };
  }

  /** Back to waiting once the result has shown (no verification happens in this tick). */
  async ready(a: { atMs: number }): Promise<string> {
    this.#advance(a.atMs);
    await this.#w!.send({ type: 'tick' });
    return this.#w!.terminal.state;
  }

  /** One deferred verification at `atMs`, as a tick runs it: how many signatures it checked. */
  async verifyOne(a: { atMs: number }): Promise<{ verifies: number; ok: boolean; pending: number }> {
    const w = this.#w!;
    this.#advance(a.atMs);
    this.#verifies = 0;
    let ok = false;
    for (let i = 0; i < 2 && this.#verifies === 0; i++) {
      const effects = await w.send({ type: 'tick' });
      ok = effects.some((e) => e.type === 'verified' && e.ok);
    }
    return { verifies: this.#verifies, ok, pending: w.terminal.pendingVerifications };
  }

  get pending(): number {
    return this.#w!.terminal.pendingVerifications;
  }

  #advance(atMs: number): void {
    if (atMs > this.#atMs) {
      this.#w!.clock.advance(atMs - this.#atMs);
      this.#atMs = atMs;
    }
  }
}

// Tap scenarios that run unchanged on Node (test/core-terminal.test.ts) and on XS
// (test/xs/core.guest.ts): a world of issuers, wallets and one terminal, and each attack or decline.
// Platform-free: deterministic randomness and a virtual clock.
import { silentLog, VirtualClock, type Clock } from '../../firmware/base/platform';
import { CardLostError, JournalFullError, type CardLink, type DurableLog } from '../../firmware/base/ports';
import { AssertionError } from '../../firmware/base/errors';
import { Keyring, type IssuerKey } from '../../firmware/core/crypto/keyring';
import { Verifier } from '../../firmware/core/crypto/verifier';
import { ALG_ED25519, ALG_P256, algName, verifySignature, type Alg, type VerifyFn } from '../../firmware/core/crypto/verify';
import { RiskEngine, type Mode } from '../../firmware/core/risk/engine';
import { DEFAULT_RISK_CONFIG, type RiskConfig } from '../../firmware/core/risk/config';
import { screenLines } from '../../firmware/ui/text';
import { Terminal, type DeferredSchedule, type Effect, type Key } from '../../firmware/core/terminal/terminal';
import type { VerifyBeforeOpen } from '../../firmware/core/terminal/tap';
import { decodeCommand, encodeCommand, encodeResponse, decodeResponse, INS_PAY, INS_READ_CERTIFICATE } from '../../firmware/core/protocol/apdu';
import {
  decodeCertificate,
  decodePayRequest,
  encodeCertificate,
  encodePayRequest,
  type PayRequest,
} from '../../firmware/core/protocol/messages';
import { decodeReceipt, RECORD_RECEIPT } from '../../firmware/core/protocol/receipt';
import { verifyReceipt } from '../../firmware/core/crypto/receipt';
import { RECORD_RELEASE } from '../../firmware/core/protocol/intent';
import { MAX_OPEN_INTENTS } from '../../firmware/core/terminal/in-doubt';
import { decodeTlv, encodeTlv } from '../../firmware/core/protocol/tlv';
import { createIssuer, issueWallet, signCertificate, type Issuer } from '../../host/wallet/issuer';
import { WalletEmulator, type WalletProfile } from '../../host/wallet/emulator';
import { seededRandom } from '../../host/wallet/random';
import type { RandomBytes } from '../../firmware/base/platform';
import type { TransitFares } from '../../firmware/core/terminal/fare-tap';
import type { TransitEntry } from '../../firmware/core/protocol/transit-log';
import { TerminalStore } from '../../firmware/app/state';
import { RamFlash } from '../../host/flash/ram-flash';

export const NOW = 1_790_000_000; // 2026-09-21
const YEAR = 365 * 86400;
const YUAN = 100;

/** An in-memory DurableLog with a byte capacity (the real journal lives in firmware/core/journal). */
export class MemoryJournal implements DurableLog {
  /** Receipts; intents and releases (the terminal's own bookkeeping) go to `bookkeeping`. */
  records: { type: number; payload: Uint8Array }[] = [];
  bookkeeping: { type: number; payload: Uint8Array }[] = [];
  used = 0;
  failWith: Error | undefined;
  constructor(readonly capacity = 1 << 20) {}
  canAppend(bytes: number): boolean {
    return this.used + bytes <= this.capacity;
  }
  async append(type: number, payload: Uint8Array): Promise<number> {
    if (this.failWith) throw this.failWith;
    if (!this.canAppend(payload.length)) throw new JournalFullError();
    (type === RECORD_RECEIPT ? this.records : this.bookkeeping).push({ type, payload: payload.slice() });
    this.used += payload.length;
    return this.records.length + this.bookkeeping.length;
  }
}

export interface WorldOptions {
  alg?: Alg;
  mode?: Mode;
  seed?: string;
  /** Terminal wall time; null: the terminal does not know it. */
  time?: number | null;
  config?: Partial<RiskConfig>;
  fare?: number;
  settledAt?: number;
  journalBytes?: number;
  /** Transit: check signatures before the gate opens (the device with native verification). */
  verifyBeforeOpen?: VerifyBeforeOpen;
  /** Transit: when the gate checks deferred signatures. */
  schedule?: Partial<DeferredSchedule>;
  /** The signature primitive (default: noble). */
  verify?: VerifyFn;
  /** The merchant category and region provisioned (purpose-bound funds). */
  place?: { category: number; region: number };
  /** Transit: fare rules and the validator's station (test/xs/fares-scenarios.ts). */
  fares?: TransitFares;
  /** Where the terminal's challenges come from (default: the world's seeded random). */
  challenges?: RandomBytes;
}

export interface WalletSpec {
  alg?: Alg;
  profile?: WalletProfile;
  walletClass?: number;
  balance?: number;
  pin?: string;
  holderVerified?: boolean;
  notBefore?: number;
  notAfter?: number;
  issuer?: Issuer;
  singleLimit?: number;
  concession?: number;
  concessionUntil?: number;
  transitLog?: TransitEntry[];
  counter?: number;
}

export class World {
  readonly random: RandomBytes;
  readonly clock: VirtualClock;
  readonly issuer: Issuer;
  readonly keyring: Keyring;
  readonly verifier: Verifier;
  readonly risk: RiskEngine;
  readonly journal: MemoryJournal;
  readonly terminal: Terminal;
  readonly alg: Alg;
  effects: Effect[] = [];

  constructor(o: WorldOptions = {}) {
    this.alg = o.alg ?? ALG_P256;
    this.random = seededRandom(o.seed ?? 'world');
    this.clock = new VirtualClock({ start: 1000, wallTime: o.time === null ? undefined : (o.time ?? NOW) });
    this.issuer = createIssuer(this.alg, this.random, { keyId: 1, notBefore: NOW - YEAR, notAfter: NOW + YEAR });
    this.keyring = new Keyring([this.issuer.key]);
    this.verifier = new Verifier({ keyring: this.keyring, cacheSize: 8, ...(o.verify ? { verify: o.verify } : {}) });
    this.risk = new RiskEngine({ config: { ...DEFAULT_RISK_CONFIG, ...o.config }, settledAt: o.settledAt ?? NOW - 3600 });
    this.journal = new MemoryJournal(o.journalBytes);
    this.terminal = new Terminal({
      mode: o.mode ?? 'merchant',
      fare: o.fare ?? 2 * YUAN,
      terminalId: 'T-0001',
      merchantId: 'M-cafe',
      verifier: this.verifier,
      risk: this.risk,
      journal: this.journal,
      clock: this.clock,
      random: o.challenges ?? this.random,
      verifyBeforeOpen: o.verifyBeforeOpen,
      ...(o.schedule ? { schedule: o.schedule } : {}),
      place: o.place,
      ...(o.fares ? { fares: o.fares } : {}),
    });
    this.effects.push(...this.terminal.start());
  }

  newIssuer(alg: Alg, keyId: number, window: { notBefore?: number; notAfter?: number } = {}): Issuer {
    return createIssuer(alg, this.random, { keyId, notBefore: window.notBefore ?? NOW - YEAR, notAfter: window.notAfter ?? NOW + YEAR });
  }

  wallet(s: WalletSpec = {}): WalletEmulator {
    const alg = s.alg ?? this.alg;
    const issued = issueWallet(s.issuer ?? this.issuer, this.random, {
      alg,
      walletClass: s.walletClass ?? 2,
      notBefore: s.notBefore ?? NOW - 30 * 86400,
      notAfter: s.notAfter ?? NOW + YEAR,
      singleLimit: s.singleLimit,
      ...(s.concession !== undefined ? { concession: s.concession } : {}),
      ...(s.concessionUntil !== undefined ? { concessionUntil: s.concessionUntil } : {}),
    });
    return new WalletEmulator({
      profile: s.profile ?? 'card',
      certificate: issued.certificate,
      secretKey: issued.keys.secretKey,
      balance: s.balance ?? 10_000 * YUAN,
      pin: s.pin,
      holderVerified: s.holderVerified,
      ...(s.transitLog ? { transitLog: s.transitLog } : {}),
      ...(s.counter !== undefined ? { counter: s.counter } : {}),
    });
  }

  /** A wallet whose certificate carries a random issuer signature and a fresh wallet id (a forgery). */
  forgedWallet(): WalletEmulator {
    const issued = issueWallet(this.issuer, this.random, { alg: this.alg, walletClass: 2, notBefore: NOW - 86400, notAfter: NOW + YEAR });
    const c = decodeCertificate(issued.certificate);
    const certificate = encodeCertificate(c, this.random(64));
    return new WalletEmulator({ profile: 'card', certificate, secretKey: issued.keys.secretKey, balance: 10_000 * YUAN });
  }

  async send(...events: Parameters<Terminal['handle']>[0][]): Promise<Effect[]> {
    const out: Effect[] = [];
    for (const e of events) out.push(...(await this.terminal.handle(e)));
    this.effects.push(...out);
    return out;
  }

  async keys(text: string): Promise<Effect[]> {
    return this.send(...[...text].map((k) => ({ type: 'key' as const, key: k as Key })));
  }

  /** Keys the amount (merchant), taps `link`, returns "approved", "pin" or the decline code. */
  async tap(link: CardLink, amount?: number): Promise<string> {
    if (this.terminal.mode === 'merchant') await this.keys(`${amount ?? 1250}#`);
    return outcomeOf(await this.send({ type: 'card', link }));
  }

  /** Lets the result screen time out, back to idle (or waiting, in transit). */
  async next(): Promise<void> {
    this.clock.advance(5000);
    await this.send({ type: 'tick' });
    if (this.terminal.mode === 'merchant' && this.terminal.state !== 'idle') throw new Error(`terminal stuck in ${this.terminal.state}`);
  }
}

/** Counts the signature checks from now on: call the result to read the count. */
function countVerifies(w: World): () => number {
  const verifier = w.verifier as { verify: VerifyFn };
  const inner = verifier.verify;
  let n = 0;
  verifier.verify = (...args) => (n++, inner(...args));
  return () => {
    verifier.verify = inner;
    return n;
  };
}

export function outcomeOf(effects: Effect[]): string {
  for (const e of effects) if (e.type === 'outcome') return e.approved ? 'approved' : e.decline.code;
  if (effects.some((e) => e.type === 'display' && e.screen.kind === 'pin')) return 'pin';
  return 'none';
}

/** A link between terminal and wallet that rewrites what passes: the attacker in the middle. */
export class Relay implements CardLink {
  constructor(
    readonly wallet: CardLink,
    readonly rewrite: { command?: (apdu: Uint8Array) => Uint8Array; response?: (command: Uint8Array, rapdu: Uint8Array) => Uint8Array },
  ) {}
  async transceive(apdu: Uint8Array): Promise<Uint8Array> {
    const c = this.rewrite.command ? this.rewrite.command(apdu) : apdu;
    const r = await this.wallet.transceive(c);
    return this.rewrite.response ? this.rewrite.response(apdu, r) : r;
  }
}

function isIns(apdu: Uint8Array, ins: number): boolean {
  return apdu.length > 1 && apdu[1] === ins;
}

function rewritePay(change: (r: PayRequest) => PayRequest) {
  return (apdu: Uint8Array) => {
    if (!isIns(apdu, INS_PAY)) return apdu;
    const c = decodeCommand(apdu);
    return encodeCommand({ ...c, data: encodePayRequest(change(decodePayRequest(c.data))) });
  };
}

function rewriteResponse(ins: number, change: (data: Uint8Array) => Uint8Array) {
  return (apdu: Uint8Array, rapdu: Uint8Array) => {
    if (!isIns(apdu, ins)) return rapdu;
    const r = decodeResponse(rapdu);
    return encodeResponse(change(r.data), r.sw);
  };
}

/** Each scenario returns what the terminal did: "approved", or the decline code. */
export type Scenario = (alg: Alg) => Promise<string>;

export const SCENARIOS: Record<string, { expect: string; run: Scenario }> = {
  'transit: the periodic checkpoint after the decision, in the result screen, never inside a tap': {
    expect: 'taps 10: checkpoints inside taps 0, in result screens 2, each after the receipt; at most 8 records to replay',
    run: async (alg) => {
      const w = new World({ alg, mode: 'transit' });
      const store = new TerminalStore({ flash: new RamFlash({ blocks: 16 }), log: silentLog, riskOptions: { config: DEFAULT_RISK_CONFIG, settledAt: NOW - 3600 } });
      store.journal.open();
      const journal = store.journal;
      const terminal = new Terminal({
        mode: 'transit', fare: 2 * YUAN, terminalId: 'T-0001', merchantId: 'M-metro', verifier: w.verifier, risk: store.risk, journal, inDoubt: store.inDoubt,
        clock: w.clock, random: w.random, periodicCheckpoint: (records) => journal.checkpointAhead(records),
      });
      terminal.start();
      const checkpointSeq = () => journal.lastCheckpointSeq;
      let inTaps = 0;
      let inScreens = 0;
      let replay = 0;
      for (let i = 0; i < 10; i++) {
        const before = checkpointSeq();
        const outcome = outcomeOf(await terminal.handle({ type: 'card', link: w.wallet() }));
        if (outcome !== 'approved') return `tap ${i}: ${outcome}`;
        const receiptSeq = journal.lastSeq;
        if (checkpointSeq() !== before) inTaps++;
        replay = Math.max(replay, journal.lastSeq - checkpointSeq());
        // the loop's next turn, the result on screen (the gate open), then the screen taken down
        w.clock.advance(50);
        await terminal.handle({ type: 'tick' });
        if (checkpointSeq() > receiptSeq) inScreens++;
        else if (checkpointSeq() !== before) return `tap ${i}: a checkpoint before its receipt`;
        w.clock.advance(2000);
        await terminal.handle({ type: 'tick' });
      }
      return `taps 10: checkpoints inside taps ${inTaps}, in result screens ${inScreens}, each after the receipt; at most ${replay} records to replay`;
    },
  },
  'an accepted payment, end to end': {
    expect: 'approved',
    run: async (alg) => {
      const w = new World({ alg });
      const wallet = w.wallet();
      const result = await w.tap(wallet, 1250);
      // The receipt is journaled and re-verifies as the settlement service would.
      const receipt = decodeReceipt(w.journal.records[0]!.payload);
      const check = verifyReceipt(receipt, [w.issuer.key], NOW);
      if (!check.ok || check.request.amount !== 1250 || wallet.balance !== 10_000 * YUAN - 1250) return 'receipt mismatch';
      return result;
    },
  },
  'a returning wallet (certificate cached)': {
    expect: 'approved',
    run: async (alg) => {
      const w = new World({ alg });
      const wallet = w.wallet();
      await w.tap(wallet, 100);
      await w.next();
      const cachedBefore = w.verifier.cached;
      const r = await w.tap(wallet, 200);
      return cachedBefore === 1 ? r : 'not cached';
    },
  },
  'a replayed old response (same terminal)': {
    expect: 'counterReplay',
    run: async (alg) => {
      const w = new World({ alg });
      const wallet = w.wallet();
      let recorded: Uint8Array | undefined;
      await w.tap(new Relay(wallet, { response: (c, r) => (isIns(c, INS_PAY) ? (recorded = r) : r) }), 100);
      await w.next();
      return w.tap(new Relay(wallet, { response: (c, r) => (isIns(c, INS_PAY) ? recorded! : r) }), 100);
    },
  },
  'a replayed old response (another terminal)': {
    expect: 'badSignature',
    run: async (alg) => {
      const w = new World({ alg });
      const wallet = w.wallet();
      let recorded: Uint8Array | undefined;
      await w.tap(new Relay(wallet, { response: (c, r) => (isIns(c, INS_PAY) ? (recorded = r) : r) }), 100);
      const other = new World({ alg, seed: 'other terminal' });
      other.keyring.replace([w.issuer.key]);
      return other.tap(new Relay(wallet, { response: (c, r) => (isIns(c, INS_PAY) ? recorded! : r) }), 100);
    },
  },
  'the amount changed on the way': {
    expect: 'badSignature',
    run: async (alg) => {
      const w = new World({ alg });
      return w.tap(new Relay(w.wallet(), { command: rewritePay((r) => ({ ...r, amount: 1 })) }), 5000);
    },
  },
  'the terminal id changed on the way': {
    expect: 'badSignature',
    run: async (alg) => {
      const w = new World({ alg });
      return w.tap(new Relay(w.wallet(), { command: rewritePay((r) => ({ ...r, terminalId: 'T-evil' })) }), 5000);
    },
  },
  'a certificate from an unknown issuer key': {
    expect: 'unknownIssuer',
    run: async (alg) => {
      const w = new World({ alg });
      return w.tap(w.wallet({ issuer: w.newIssuer(alg, 99) }));
    },
  },
  'an expired certificate': {
    expect: 'certificateExpired',
    run: async (alg) => {
      const w = new World({ alg });
      return w.tap(w.wallet({ notBefore: NOW - 100 * 86400, notAfter: NOW - 86400 }));
    },
  },
  'a certificate not yet valid': {
    expect: 'certificateNotYetValid',
    run: async (alg) => {
      const w = new World({ alg });
      return w.tap(w.wallet({ notBefore: NOW + 86400 }));
    },
  },
  'an expired issuer key': {
    expect: 'issuerKeyExpired',
    run: async (alg) => {
      const w = new World({ alg });
      const old = w.newIssuer(alg, 2, { notBefore: NOW - 2 * YEAR, notAfter: NOW - 86400 });
      w.verifier.replaceKeys([w.issuer.key, old.key]);
      return w.tap(w.wallet({ issuer: old }));
    },
  },
  'an issuer key not yet valid': {
    expect: 'issuerKeyNotYetValid',
    run: async (alg) => {
      const w = new World({ alg });
      const next = w.newIssuer(alg, 3, { notBefore: NOW + 86400, notAfter: NOW + 2 * YEAR });
      w.verifier.replaceKeys([w.issuer.key, next.key]);
      return w.tap(w.wallet({ issuer: next }));
    },
  },
  'a revoked issuer key': {
    expect: 'issuerKeyRevoked',
    run: async (alg) => {
      const w = new World({ alg });
      const wallet = w.wallet();
      await w.tap(wallet, 100);
      await w.next();
      w.verifier.replaceKeys([{ ...w.issuer.key, revoked: true }]);
      return w.tap(wallet, 100);
    },
  },
  'a deny-listed wallet': {
    expect: 'walletDenied',
    run: async (alg) => {
      const w = new World({ alg });
      const wallet = w.wallet();
      w.risk.applyDenyDelta({ version: 1, addWallets: [wallet.info.walletId], addSerials: [], removeWallets: [], removeSerials: [] });
      return w.tap(wallet);
    },
  },
  'a deny-listed certificate serial': {
    expect: 'serialDenied',
    run: async (alg) => {
      const w = new World({ alg });
      const wallet = w.wallet();
      w.risk.applyDenyDelta({ version: 1, addWallets: [], addSerials: [wallet.info.serial], removeWallets: [], removeSerials: [] });
      return w.tap(wallet);
    },
  },
  'a counter rollback (a cloned wallet)': {
    expect: 'counterReplay',
    run: async (alg) => {
      const w = new World({ alg });
      const issued = issueWallet(w.issuer, w.random, { alg, walletClass: 2, notBefore: NOW - 86400, notAfter: NOW + YEAR });
      const original = new WalletEmulator({ profile: 'card', certificate: issued.certificate, secretKey: issued.keys.secretKey, balance: 100_000, counter: 5 });
      const clone = new WalletEmulator({ profile: 'card', certificate: issued.certificate, secretKey: issued.keys.secretKey, balance: 100_000, counter: 0 });
      if ((await w.tap(original, 100)) !== 'approved') return 'original declined';
      await w.next();
      return w.tap(clone, 100);
    },
  },
  'algorithm confusion: the certificate relabels the issuer algorithm': {
    expect: 'algorithmMismatch',
    run: async (alg) => {
      const w = new World({ alg });
      const other = alg === ALG_P256 ? ALG_ED25519 : ALG_P256;
      // An issuer of the other algorithm that reuses the trusted key's id.
      const impostor = createIssuer(other, w.random, { keyId: w.issuer.key.keyId, notBefore: NOW - YEAR, notAfter: NOW + YEAR });
      return w.tap(w.wallet({ issuer: impostor }));
    },
  },
  'algorithm confusion: the issuer algorithm byte flipped in transit': {
    expect: 'algorithmMismatch',
    run: async (alg) => {
      const w = new World({ alg });
      const other = alg === ALG_P256 ? ALG_ED25519 : ALG_P256;
      const flip = rewriteResponse(INS_READ_CERTIFICATE, (data) => {
        const c = decodeCertificate(data);
        return encodeCertificate({ ...c, issuerAlg: other }, c.signature);
      });
      return w.tap(new Relay(w.wallet(), { response: flip }));
    },
  },
  'algorithm confusion: a wallet key of the other algorithm': {
    expect: 'badCertificate',
    run: async (alg) => {
      const w = new World({ alg });
      const other = alg === ALG_P256 ? ALG_ED25519 : ALG_P256;
      // The attacker swaps in a wallet key of the other algorithm, keeping the issuer's signature.
      const mine = w.wallet({ alg: other });
      const swap = rewriteResponse(INS_READ_CERTIFICATE, (data) => {
        const c = decodeCertificate(data);
        const m = mine.info;
        return encodeCertificate({ ...c, alg: m.alg, publicKey: m.publicKey }, c.signature);
      });
      return w.tap(new Relay(w.wallet(), { response: swap }));
    },
  },
  'a truncated certificate': {
    expect: 'protocol',
    run: async (alg) => {
      const w = new World({ alg });
      return w.tap(new Relay(w.wallet(), { response: rewriteResponse(INS_READ_CERTIFICATE, (d) => d.subarray(0, d.length - 5)) }));
    },
  },
  'an oversized certificate field': {
    expect: 'protocol',
    run: async (alg) => {
      const w = new World({ alg });
      const grow = rewriteResponse(INS_READ_CERTIFICATE, (d) =>
        encodeTlv(decodeTlv(d, { maxBytes: 255, maxFields: 20 }).map((f) => (f.tag === 0x82 ? { tag: f.tag, value: new Uint8Array(9) } : f))),
      );
      return w.tap(new Relay(w.wallet(), { response: grow }));
    },
  },
  'a duplicated response field': {
    expect: 'protocol',
    run: async (alg) => {
      const w = new World({ alg });
      const dup = rewriteResponse(INS_PAY, (d) => {
        const fields = decodeTlv(d, { maxBytes: 255, maxFields: 20 });
        return encodeTlv([fields[0]!, ...fields]);
      });
      return w.tap(new Relay(w.wallet(), { response: dup }));
    },
  },
  'a cap evaded by splitting one purchase': {
    expect: 'overWalletDailyLimit',
    run: async (alg) => {
      // 1,500 yuan is over the terminal's 1,000 yuan cap; class 3 wallets may spend 2,000 a day.
      const w = new World({ alg, config: { maxTransaction: 1_000 * YUAN } });
      const wallet = w.wallet({ walletClass: 3, profile: 'phone', holderVerified: true });
      if ((await w.tap(wallet, 1_500 * YUAN)) !== 'overTransactionCap') return 'whole purchase not capped';
      await w.next();
      const parts = [];
      for (let i = 0; i < 3; i++) {
        parts.push(await w.tap(wallet, 750 * YUAN));
        await w.next();
      }
      return parts[0] === 'approved' && parts[1] === 'approved' ? parts[2]! : `parts: ${parts.join(',')}`;
    },
  },
  'over the per-transaction cap': {
    expect: 'overTransactionCap',
    run: async (alg) => {
      const w = new World({ alg });
      return w.tap(w.wallet({ walletClass: 1 }), 2_001 * YUAN);
    },
  },
  'over the cumulative offline amount': {
    expect: 'overOfflineAmount',
    run: async (alg) => {
      const w = new World({ alg, config: { maxOfflineAmount: 150 * YUAN } });
      await w.tap(w.wallet(), 100 * YUAN);
      await w.next();
      return w.tap(w.wallet(), 100 * YUAN);
    },
  },
  'over the offline count': {
    expect: 'overOfflineCount',
    run: async (alg) => {
      const w = new World({ alg, config: { maxOfflineCount: 1 } });
      await w.tap(w.wallet(), 100);
      await w.next();
      return w.tap(w.wallet(), 100);
    },
  },
  'offline for too long': {
    expect: 'offlineTooLong',
    run: async (alg) => {
      const w = new World({ alg, settledAt: NOW - 8 * 86400 });
      return w.tap(w.wallet());
    },
  },
  'the time unknown, above the safe amount': {
    expect: 'timeUnknown',
    run: async (alg) => {
      const w = new World({ alg, time: null });
      if ((await w.tap(w.wallet(), 20 * YUAN)) !== 'approved') return 'small payment declined';
      await w.next();
      return w.tap(w.wallet(), 80 * YUAN);
    },
  },
  'a wallet class the terminal does not know': {
    expect: 'unknownWalletClass',
    run: async (alg) => {
      const w = new World({ alg });
      return w.tap(w.wallet({ walletClass: 9 }));
    },
  },
  'over the wallet class single limit': {
    expect: 'overWalletSingleLimit',
    run: async (alg) => {
      const w = new World({ alg });
      return w.tap(w.wallet({ walletClass: 4 }), 600 * YUAN);
    },
  },
  'over the wallet daily total at this terminal': {
    expect: 'overWalletDailyLimit',
    run: async (alg) => {
      const w = new World({ alg });
      const wallet = w.wallet({ walletClass: 4, profile: 'phone', holderVerified: true });
      await w.tap(wallet, 450 * YUAN);
      await w.next();
      await w.tap(wallet, 450 * YUAN);
      await w.next();
      return w.tap(wallet, 450 * YUAN);
    },
  },
  'a phone that did not verify its holder, above the CVM threshold': {
    expect: 'holderNotVerified',
    run: async (alg) => {
      const w = new World({ alg });
      const phone = w.wallet({ profile: 'phone', holderVerified: false });
      if ((await w.tap(phone, 500 * YUAN)) !== 'pin') return 'no PIN prompt';
      return outcomeOf(await w.keys('1234#'));
    },
  },
  'a phone that verified its holder, above the CVM threshold': {
    expect: 'approved',
    run: async (alg) => {
      const w = new World({ alg });
      return w.tap(w.wallet({ profile: 'phone', holderVerified: true }), 500 * YUAN);
    },
  },
  'a card with its PIN keyed on the terminal': {
    expect: 'approved',
    run: async (alg) => {
      const w = new World({ alg });
      const card = w.wallet({ pin: '2468' });
      if ((await w.tap(card, 500 * YUAN)) !== 'pin') return 'no PIN prompt';
      const wrong = await w.keys('1111#');
      if (!wrong.some((e) => e.type === 'display' && e.screen.kind === 'pin' && e.screen.triesLeft === 2)) return 'wrong PIN not reported';
      return outcomeOf(await w.keys('2468#'));
    },
  },
  'a card whose PIN gets blocked': {
    expect: 'pinBlocked',
    run: async (alg) => {
      const w = new World({ alg });
      await w.tap(w.wallet({ pin: '2468' }), 500 * YUAN);
      await w.keys('1111#');
      await w.keys('1111#');
      return outcomeOf(await w.keys('1111#'));
    },
  },
  'a wallet without the balance': {
    expect: 'insufficientBalance',
    run: async (alg) => {
      const w = new World({ alg });
      return w.tap(w.wallet({ balance: 1000 }), 1001);
    },
  },
  'a wallet that refuses the payment': {
    expect: 'walletRefused',
    run: async (alg) => {
      const w = new World({ alg });
      return w.tap(new Relay(w.wallet(), { response: (c, r) => (isIns(c, INS_PAY) ? Uint8Array.from([0x6f, 0x00]) : r) }));
    },
  },
  'a card that is not a tapline wallet': {
    expect: 'cardError',
    run: async (alg) => {
      const w = new World({ alg });
      return w.tap({ transceive: async () => Uint8Array.from([0x6a, 0x82]) });
    },
  },
  'the card removed during the exchange': {
    expect: 'cardLost',
    run: async (alg) => {
      const w = new World({ alg });
      const wallet = w.wallet();
      return w.tap({ transceive: async (a) => (isIns(a, INS_PAY) ? Promise.reject(new CardLostError()) : wallet.transceive(a)) });
    },
  },
  'the PAY answer lost after the wallet signed: recovered from its log at the next tap': {
    expect: 'approved, earlier recovered',
    run: async (alg) => {
      const w = new World({ alg });
      const wallet = w.wallet();
      const lost = await w.tap({ transceive: async (a) => {
        const r = await wallet.transceive(a);
        if (isIns(a, INS_PAY)) throw new CardLostError();
        return r;
      } }, 3000);
      if (lost !== 'cardLost' || w.terminal.inDoubt.open.length !== 1) return `first tap ${lost}`;
      wallet.removed();
      await w.next();
      const effects = await (async () => (await w.keys('1250#'), w.send({ type: 'card', link: wallet })))();
      const recovered = effects.find((e) => e.type === 'recovered');
      const receipts = w.journal.records.map((r) => decodeReceipt(r.payload));
      const ok = receipts.map((r) => verifyReceipt(r, [w.issuer.key], NOW).ok);
      if (receipts.length !== 2 || ok.includes(false) || wallet.balance !== 10_000 * YUAN - 4250) return 'receipts do not match the debits';
      if (new Set(receipts.map((r) => r.terminalSeq)).size !== 2 || w.risk.offlineAmount !== 4250) return 'sequence reused or totals wrong';
      const shown = effects.some((e) => e.type === 'display' && screenLines(e.screen).includes('prev paid 30.00'));
      return `${outcomeOf(effects)}, earlier ${recovered?.type === 'recovered' && shown ? recovered.outcome : 'not recovered'}`;
    },
  },
  'PAY lost before the wallet: released at the next tap': {
    expect: 'approved, earlier released',
    run: async (alg) => {
      const w = new World({ alg });
      const wallet = w.wallet();
      await w.tap({ transceive: async (a) => (isIns(a, INS_PAY) ? Promise.reject(new CardLostError()) : wallet.transceive(a)) });
      wallet.removed();
      await w.next();
      const effects = await (async () => (await w.keys('1250#'), w.send({ type: 'card', link: wallet })))();
      const r = effects.find((e) => e.type === 'recovered');
      const released = w.journal.bookkeeping.filter((b) => b.type === RECORD_RELEASE).length;
      if (w.journal.records.length !== 1 || released !== 1 || w.terminal.inDoubt.open.length !== 0) return 'journal does not match';
      return `${outcomeOf(effects)}, earlier ${r?.type === 'recovered' ? r.outcome : 'none'}`;
    },
  },
  'too many payments in doubt': {
    expect: 'inDoubtFull',
    run: async (alg) => {
      const w = new World({ alg });
      for (let i = 0; i < MAX_OPEN_INTENTS; i++) {
        const wallet = w.wallet();
        await w.tap({ transceive: async (a) => (isIns(a, INS_PAY) ? Promise.reject(new CardLostError()) : wallet.transceive(a)) });
        await w.next();
      }
      return w.tap(w.wallet());
    },
  },
  'the journal full': {
    expect: 'journalFull',
    run: async (alg) => {
      const w = new World({ alg, journalBytes: 300 });
      const wallet = w.wallet();
      const r = await w.tap(wallet);
      // Refused before the wallet signed: its balance and counter did not move.
      return wallet.counter === 0 && wallet.balance === 10_000 * YUAN ? r : 'wallet was charged';
    },
  },
  'the journal failing to write': {
    expect: 'storageError',
    run: async (alg) => {
      const w = new World({ alg });
      w.journal.failWith = new Error('flash write failed');
      return w.tap(w.wallet());
    },
  },
  'waiting for a card too long': {
    expect: 'none',
    run: async (alg) => {
      const w = new World({ alg });
      await w.keys('500#');
      w.clock.advance(31_000);
      const out = await w.send({ type: 'tick' });
      return w.terminal.state === 'idle' && out.some((e) => e.type === 'display' && e.screen.kind === 'timedOut') ? 'none' : 'still waiting';
    },
  },
  'a cancelled payment': {
    expect: 'cancelled',
    run: async (alg) => {
      const w = new World({ alg });
      await w.keys('500#');
      return outcomeOf(await w.keys('*'));
    },
  },
  'PIN entry left too long': {
    expect: 'timeout',
    run: async (alg) => {
      const w = new World({ alg });
      await w.tap(w.wallet({ pin: '2468' }), 500 * YUAN);
      w.clock.advance(61_000);
      return outcomeOf(await w.send({ type: 'tick' }));
    },
  },
  'transit: the same wallet again at once (anti-passback)': {
    expect: 'passback',
    run: async (alg) => {
      const w = new World({ alg, mode: 'transit' });
      const wallet = w.wallet();
      if ((await w.tap(wallet)) !== 'approved') return 'first tap declined';
      await w.next();
      return w.tap(wallet);
    },
  },
  'transit: a low fare approved before verification, verified when idle': {
    expect: 'approved',
    run: async (alg) => {
      const w = new World({ alg, mode: 'transit' });
      const r = await w.send({ type: 'card', link: w.wallet() });
      const deferred = r.some((e) => e.type === 'outcome' && e.approved && e.deferred);
      const before = [w.terminal.pendingVerifications, w.risk.unverifiedExposure];
      if (!deferred || before[0] !== 1 || before[1] !== 200) return 'not deferred';
      await w.next();
      // one signature a tick: the certificate's, then the payment's
      const idle = [...(await w.send({ type: 'tick' })), ...(await w.send({ type: 'tick' }))];
      const ok = w.effects.concat(idle).some((e) => e.type === 'verified' && e.ok);
      const after = [w.terminal.pendingVerifications, w.risk.unverifiedExposure];
      return ok && after[0] === 0 && after[1] === 0 ? outcomeOf(r) : 'not verified';
    },
  },
  'transit: deferred checks run one signature a tick while the result shows, only where they end before it does': {
    expect: 'certificate at +0, payment at +300; next tap: none at +600, 1 pending',
    run: async (alg) => {
      const w = new World({ alg, mode: 'transit', schedule: { verifyMs: 300 } });
      const deferred = (r: Effect[]) => r.some((e) => e.type === 'outcome' && e.approved && e.deferred);
      if (!deferred(await w.send({ type: 'card', link: w.wallet() }))) return 'not deferred';
      const steps: string[] = [];
      for (const at of [0, 300]) {
        w.clock.advance(at);
        const verifies = countVerifies(w);
        const out = await w.send({ type: 'tick' });
        steps.push(`${verifies() === 0 ? 'none' : out.some((e) => e.type === 'verified' && e.ok) ? 'payment' : 'certificate'} at +${at}`);
      }
      await w.next();
      if (!deferred(await w.send({ type: 'card', link: w.wallet() }))) return 'second not deferred';
      // 600 + 300 ms would outlast the 800 ms screen
      w.clock.advance(600);
      const verifies = countVerifies(w);
      await w.send({ type: 'tick' });
      return `${steps.join(', ')}; next tap: ${verifies() === 0 ? 'none' : 'checked'} at +600, ${w.terminal.pendingVerifications} pending`;
    },
  },
  'transit: a gate waiting for a card leaves its backlog until quiet, or until the backlog is high': {
    expect: 'quiet 0.2 s: 1 pending; quiet 3 s: 0; high water 2: 1 pending after two ticks',
    run: async (alg) => {
      const w = new World({ alg, mode: 'transit', schedule: { verifyMs: 900, quietMs: 3000 }, config: { transit: { deferredMaxAmount: 1000, unverifiedExposureCap: 10_000, deferredLossCap: 1000, passbackSeconds: 0 } } });
      await w.send({ type: 'card', link: w.wallet() });
      // 900 ms a check never fits the 800 ms screen: only the waiting gate may check
      w.clock.advance(1000);
      await w.send({ type: 'tick' });
      await w.send({ type: 'tick' });
      const early = w.terminal.pendingVerifications;
      w.clock.advance(2800);
      await w.send({ type: 'tick' });
      await w.send({ type: 'tick' });
      const quiet = w.terminal.pendingVerifications;
      const h = new World({ alg, mode: 'transit', schedule: { verifyMs: 900, quietMs: 60_000, backlogHighWater: 2 }, config: { transit: { deferredMaxAmount: 1000, unverifiedExposureCap: 10_000, deferredLossCap: 1000, passbackSeconds: 0 } } });
      for (let i = 0; i < 2; i++) {
        await h.send({ type: 'card', link: h.wallet() });
        h.clock.advance(1000);
        await h.send({ type: 'tick' });
      }
      await h.send({ type: 'tick' });
      await h.send({ type: 'tick' });
      return `quiet 0.2 s: ${early} pending; quiet 3 s: ${quiet}; high water 2: ${h.terminal.pendingVerifications} pending after two ticks`;
    },
  },
  'transit: a check slower than budgeted raises the budget, and no longer starts where it would outlast the screen': {
    expect: 'budget 500 ms; at +400: not started',
    run: async (alg) => {
      // the device model: each signature check takes 500 ms of the terminal's own clock
      let clock: VirtualClock | undefined;
      const slow: VerifyFn = (a, pk, m, sig) => (clock!.advance(500), verifySignature(a, pk, m, sig));
      const w = new World({ alg, mode: 'transit', schedule: { verifyMs: 300 }, verify: slow, config: { transit: { deferredMaxAmount: 1000, unverifiedExposureCap: 10_000, deferredLossCap: 1000, passbackSeconds: 0 } } });
      clock = w.clock;
      await w.send({ type: 'card', link: w.wallet() });
      await w.send({ type: 'tick' });
      const budget = w.terminal.verifyMs;
      await w.next();
      await w.send({ type: 'card', link: w.wallet() });
      w.clock.advance(400);
      const before = w.terminal.pendingVerifications;
      await w.send({ type: 'tick' });
      return `budget ${budget} ms; at +400: ${w.terminal.pendingVerifications === before ? 'not started' : 'started'}`;
    },
  },
  'transit, Ed25519 cards checked before the gate opens, P-256 cards deferred': {
    expect: 'Ed25519: verified before opening; P-256: deferred',
    run: async () => {
      const out: string[] = [];
      for (const a of [ALG_ED25519, ALG_P256] as Alg[]) {
        const w = new World({ alg: a, mode: 'transit', verifyBeforeOpen: [ALG_ED25519] });
        const r = await w.send({ type: 'card', link: w.wallet() });
        const o = r.find((e) => e.type === 'outcome');
        if (!o?.approved) return `${algName(a)} declined`;
        out.push(`${algName(a)}: ${o.deferred ? 'deferred' : 'verified before opening'}`);
      }
      return out.join('; ');
    },
  },
  'transit: a forged wallet opens the gate once, then is denied': {
    expect: 'walletDenied',
    run: async (alg) => {
      const w = new World({ alg, mode: 'transit' });
      const wallet = w.wallet();
      const forged = new Relay(wallet, {
        response: rewriteResponse(INS_PAY, (d) => {
          const copy = d.slice();
          copy[copy.length - 1]! ^= 1;
          return copy;
        }),
      });
      if ((await w.tap(forged)) !== 'approved') return 'forged tap not deferred';
      await w.next();
      w.terminal.verifyAllPending();
      if (!w.risk.isDenied(wallet.info)) return 'not denied';
      w.clock.advance(60_000);
      await w.send({ type: 'tick' });
      return w.tap(wallet);
    },
  },
  'transit, verifying before the gate opens: a forged wallet is refused at the gate': {
    expect: 'badSignature',
    run: async (alg) => {
      const w = new World({ alg, mode: 'transit', verifyBeforeOpen: true });
      const forged = new Relay(w.wallet(), {
        response: rewriteResponse(INS_PAY, (d) => {
          const copy = d.slice();
          copy[copy.length - 1]! ^= 1;
          return copy;
        }),
      });
      return w.tap(forged);
    },
  },
  'transit, verifying before the gate opens: a genuine wallet rides, nothing left to verify': {
    expect: 'approved',
    run: async (alg) => {
      const w = new World({ alg, mode: 'transit', verifyBeforeOpen: true });
      const outcome = await w.tap(w.wallet());
      return outcome === 'approved' && w.terminal.verifyAllPending().length === 0 ? outcome : `${outcome}, pending left`;
    },
  },
  'transit: over the unverified exposure cap, verified before approval': {
    expect: 'approved',
    run: async (alg) => {
      const w = new World({ alg, mode: 'transit', config: { transit: { deferredMaxAmount: 1000, unverifiedExposureCap: 300, deferredLossCap: 1000, passbackSeconds: 0 } } });
      const taps = [];
      for (let i = 0; i < 2; i++) {
        const r = await w.send({ type: 'card', link: w.wallet() });
        taps.push(r.find((e) => e.type === 'outcome'));
        w.clock.advance(5000);
        // One tick only takes the result screen down: no idle time to verify the first payment.
        await w.send({ type: 'tick' });
      }
      const [first, second] = taps as any[];
      if (!first?.deferred) return 'first not deferred';
      return second?.approved && !second.deferred ? 'approved' : `second ${JSON.stringify(second)}`;
    },
  },
  'transit: 40 forged certificates, a fresh wallet id on each tap': {
    // The default loss cap (10 yuan) over the 2-yuan fare: 5 forged rides, then every tap is verified first.
    expect: 'approved 5 of 40, then badCertificate',
    run: async (alg) => {
      const w = new World({ alg, mode: 'transit' });
      let approved = 0;
      let last = '';
      for (let i = 0; i < 40; i++) {
        const r = await w.tap(w.forgedWallet());
        if (r === 'approved') approved++;
        else last = r;
        // The next rider comes 5 s later: the gate has idle ticks to verify what it deferred.
        await w.next();
        await w.send({ type: 'tick' });
      }
      return `approved ${approved} of 40, then ${last}`;
    },
  },
  'transit: a card swapped between READ CERTIFICATE and PAY': {
    expect: 'cardSwapped',
    run: async (alg) => {
      const w = new World({ alg, mode: 'transit' });
      const a = w.wallet();
      const b = w.wallet();
      // The reader's view: card A (UID 04aa..., activation 1) answers up to its certificate, then a
      // re-activation finds card B, which answers PAY.
      let swapped = false;
      const link: CardLink = {
        transceive: async (apdu) => {
          if (swapped) return b.transceive(apdu);
          await b.transceive(apdu);
          const r = await a.transceive(apdu);
          if (isIns(apdu, INS_READ_CERTIFICATE)) swapped = true;
          return r;
        },
        session: () => (swapped ? '04bbbbbbbbbbbb/2' : '04aaaaaaaaaaaa/1'),
      };
      const r = await w.tap(link);
      // Refused before PAY left the terminal: B was never charged.
      return b.counter === 0 ? r : `wallet B charged (${r})`;
    },
  },
  'merchant: the PAY answered by another wallet than the certificate (verification binds them)': {
    expect: 'badSignature',
    run: async (alg) => {
      const w = new World({ alg });
      const a = w.wallet();
      const b = w.wallet();
      return w.tap({ transceive: async (apdu) => (isIns(apdu, INS_PAY) ? b.transceive(apdu) : (await b.transceive(apdu), a.transceive(apdu))) });
    },
  },
  'a relay adding 2 s to the card exchange': {
    expect: 'exchangeTooSlow',
    run: async (alg) => {
      const w = new World({ alg });
      const wallet = w.wallet();
      // 700 ms on each of SELECT, READ CERTIFICATE and PAY: no single round trip over the PAY bound.
      const relay: CardLink = { transceive: async (apdu) => (w.clock.advance(700), wallet.transceive(apdu)) };
      return w.tap(relay);
    },
  },
  'a relay holding the PAY for 10 minutes': {
    expect: 'exchangeTooSlow',
    run: async (alg) => {
      const w = new World({ alg, mode: 'transit' });
      const wallet = w.wallet();
      return w.tap({ transceive: async (apdu) => (isIns(apdu, INS_PAY) && w.clock.advance(600_000), wallet.transceive(apdu)) });
    },
  },
  'a slow but honest card (300 ms per command, 900 ms to sign) is approved': {
    expect: 'approved',
    run: async (alg) => {
      const w = new World({ alg });
      const wallet = w.wallet();
      return w.tap({ transceive: async (apdu) => (w.clock.advance(isIns(apdu, INS_PAY) ? 900 : 300), wallet.transceive(apdu)) });
    },
  },
  'time unknown: a certificate valid only from after the last known time': {
    expect: 'timeUnknown',
    run: async (alg) => {
      // The terminal last knew NOW - 3600 (its settlement); the card was issued after that.
      const w = new World({ alg, time: null });
      if ((await w.tap(w.wallet({ notBefore: NOW - 86400 }), 100)) !== 'approved') return 'older card declined';
      await w.next();
      return w.tap(w.wallet({ notBefore: NOW }), 100);
    },
  },
  'time unknown: what a wallet spent still counts once the time is known again': {
    expect: 'overWalletDailyLimit',
    run: async (alg) => {
      // Class 4: 1,000 yuan a day. 900 with the time unknown, then 450 once the clock says two days on:
      // the 900 may have been spent that very day.
      const w = new World({ alg, time: null, config: { unknownTimeMaxAmount: 500 * YUAN } });
      const wallet = w.wallet({ walletClass: 4, profile: 'phone', holderVerified: true });
      for (let i = 0; i < 2; i++) {
        if ((await w.tap(wallet, 450 * YUAN)) !== 'approved') return 'unknown-time payment declined';
        await w.next();
      }
      w.clock.setWallTime(NOW + 2 * 86400);
      return w.tap(wallet, 450 * YUAN);
    },
  },
  'time unknown: the daily total of the last known day still counts': {
    expect: 'overWalletDailyLimit',
    run: async (alg) => {
      const w = new World({ alg, config: { unknownTimeMaxAmount: 500 * YUAN } });
      const wallet = w.wallet({ walletClass: 4, profile: 'phone', holderVerified: true });
      for (let i = 0; i < 2; i++) {
        if ((await w.tap(wallet, 450 * YUAN)) !== 'approved') return 'known-time payment declined';
        await w.next();
      }
      w.clock.setWallTime(undefined);
      return w.tap(wallet, 450 * YUAN);
    },
  },
  'a clock set back behind the last known time: dates are checked at the later one': {
    expect: 'certificateExpired',
    run: async (alg) => {
      // The terminal knew NOW; its clock now says a day earlier, when the card was still valid.
      const w = new World({ alg });
      if ((await w.tap(w.wallet(), 100)) !== 'approved') return 'first declined';
      await w.next();
      w.clock.setWallTime(NOW - 86400);
      return w.tap(w.wallet({ notBefore: NOW - 30 * 86400, notAfter: NOW - 3600 }), 100);
    },
  },
  'an issuer key replaced in the keyring: a certificate cached under the old key is verified again': {
    expect: 'badCertificate',
    run: async (alg) => {
      const w = new World({ alg });
      const wallet = w.wallet();
      if ((await w.tap(wallet, 100)) !== 'approved') return 'first declined';
      await w.next();
      // The keyring update path (firmware/app/online.ts) replaces the keyring itself: key 1 is now another key.
      w.keyring.replace([w.newIssuer(alg, 1).key]);
      return w.tap(wallet, 100);
    },
  },
  'a card tapped before an amount is keyed': {
    expect: 'hint, card untouched, then a payment',
    run: async (alg) => {
      const w = new World({ alg });
      const wallet = w.wallet();
      const out = await w.send({ type: 'card', link: wallet });
      const hint = out.some((e) => e.type === 'display' && e.screen.kind === 'amountFirst' && screenLines(e.screen).join(' ') === 'enter amount then tap card');
      if (!hint || out.some((e) => e.type === 'outcome') || wallet.counter !== 0 || w.journal.records.length !== 0) return `no hint: ${JSON.stringify(out)}`;
      await w.next();
      return `hint, card untouched, then a ${(await w.tap(wallet, 300)) === 'approved' ? 'payment' : 'failure'}`;
    },
  },
  'a card tapped while the amount is keyed, before #': {
    expect: 'press # to pay 5.00',
    run: async (alg) => {
      const w = new World({ alg });
      await w.keys('500');
      const out = await w.send({ type: 'card', link: w.wallet() });
      const d = out.find((e) => e.type === 'display');
      return w.terminal.state === 'amount' && d?.type === 'display' ? screenLines(d.screen).join(' ') : `state ${w.terminal.state}`;
    },
  },
  'a balance enquiry (key A, then tap)': {
    expect: 'balance 1234.56, nothing journaled, a key closes it',
    run: async (alg) => {
      const w = new World({ alg });
      const wallet = w.wallet({ balance: 123_456 });
      await w.keys('A');
      const out = await w.send({ type: 'card', link: wallet });
      const d = out.find((e) => e.type === 'display');
      if (d?.type !== 'display' || d.screen.kind !== 'balance') return `no balance screen: ${JSON.stringify(out)}`;
      if (wallet.counter !== 0 || w.journal.records.length !== 0) return 'the enquiry paid';
      await w.keys('*');
      const closed = w.terminal.state === 'idle';
      await w.keys('A');
      await w.send({ type: 'card', link: wallet });
      // a digit closes it too, and counts as the first digit of an amount
      await w.keys('5');
      const counted = w.terminal.state === 'amount';
      return `balance ${screenLines(d.screen)[1]}, nothing journaled, ${closed && counted ? 'a key closes it' : `state ${w.terminal.state}`}`;
    },
  },
  'the status screen (key D) after an offline payment': {
    expect: 'offline, 1 pending, settled 60 min ago, today 2026-09-21, 1 paid 7.00, 0 refunded 0.00, net 7.00',
    run: async (alg) => {
      const w = new World({ alg });
      await w.tap(w.wallet(), 700);
      await w.next();
      const out = await w.keys('D');
      const d = out.find((e) => e.type === 'display');
      if (d?.type !== 'display' || d.screen.kind !== 'status') return `no status screen: ${JSON.stringify(out)}`;
      return screenLines(d.screen).join(', ');
    },
  },
  'the LEDs used are the two the board wires': {
    expect: 'off green red',
    run: async (alg) => {
      const w = new World({ alg });
      await w.tap(w.wallet(), 700);
      await w.next();
      await w.tap(w.wallet({ balance: 10 }), 700);
      const colours = new Set(w.effects.flatMap((e) => (e.type === 'led' ? [e.color as string] : [])));
      return [...colours].sort((a, b) => ['off', 'green', 'red'].indexOf(a) - ['off', 'green', 'red'].indexOf(b)).join(' ');
    },
  },
  'merchant mode verifies before approving': {
    expect: 'approved',
    run: async (alg) => {
      const w = new World({ alg });
      const r = await w.send(...[...'150#'].map((k) => ({ type: 'key' as const, key: k as Key })), { type: 'card', link: w.wallet() });
      return r.some((e) => e.type === 'outcome' && e.approved && !e.deferred) && w.terminal.pendingVerifications === 0 ? 'approved' : 'deferred';
    },
  },
  // Bugs against operating errors (firmware/base/errors.ts): an operating error declines and the next
  // tap is served; a bug is never a decline, and the terminal refuses every later event with it.
  'a bug in the middle of a tap (a TypeError from the card link)': {
    expect: 'TypeError, then TypeError again',
    run: async (alg) => programmerErrorScenario(alg, new TypeError("cannot read properties of undefined (reading 'sw')")),
  },
  'a failed assertion in the middle of a tap': {
    expect: 'AssertionError, then AssertionError again',
    run: async (alg) => programmerErrorScenario(alg, new AssertionError('request before PAY is missing')),
  },
  'a bug in the journal (an AssertionError from append) is not a storage decline': {
    expect: 'AssertionError',
    run: async (alg) => {
      const w = new World({ alg });
      w.journal.failWith = new AssertionError('head.end <= blockLength');
      return w.tap(w.wallet()).then((outcome) => `no bug: ${outcome}`, (e: Error) => e.name);
    },
  },
  'an operating error (card lost) declines and the next tap is served': {
    expect: 'cardLost, then approved',
    run: async (alg) => {
      const w = new World({ alg });
      const first = await w.tap({ transceive: () => Promise.reject(new CardLostError()) });
      await w.next();
      return `${first}, then ${await w.tap(w.wallet())}`;
    },
  },
};

async function programmerErrorScenario(alg: Alg, bug: Error): Promise<string> {
  const w = new World({ alg });
  const wallet = w.wallet();
  let calls = 0;
  // the bug strikes at the second command (READ CERTIFICATE), with the tap under way
  const buggy: CardLink = { transceive: (apdu) => (++calls === 2 ? Promise.reject(bug) : wallet.transceive(apdu)) };
  const first = await w.tap(buggy).then((outcome) => `no bug: ${outcome}`, (e: Error) => e.name);
  const later = await w.send({ type: 'tick' }).then(() => 'served', (e: Error) => `${e.name} again`);
  return `${first}, then ${later}`;
}

export { ALG_P256, ALG_ED25519 };
export type { Clock, IssuerKey };

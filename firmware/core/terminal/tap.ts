// One tap, from SELECT to the journaled receipt: the APDU exchange and the decision. The terminal's
// state machine (terminal.ts) drives it; it can pause once to collect a PIN on the keypad.
import type { Clock, Log, RandomBytes } from '../../base/platform';
import { JournalFullError, type CardLink, type DurableLog } from '../../base/ports';
import {
  ApduError,
  BALANCE_BYTES,
  decodeResponse,
  payCommand,
  readBalanceCommand,
  readCertificateCommand,
  readPurseCommand,
  recallCommand,
  selectCommand,
  SW,
  verifyPinCommand,
  type ResponseApdu,
} from '../protocol/apdu';
import {
  decodeCertificate,
  decodePayRequest,
  decodePayResponse,
  encodePayRequest,
  MAX_RESPONSE_BYTES,
  type Certificate,
  type PayRequest,
  type PayResponse,
} from '../protocol/messages';
import { encodeReceipt, RECORD_RECEIPT } from '../protocol/receipt';
import { decodeRecallResponse, encodeIntent, encodeRelease, intentReceiptFields, judgeRecall, RECORD_INTENT, RECORD_RELEASE, type Intent } from '../protocol/intent';
import type { InDoubt } from './in-doubt';
import { walletRefusal } from './wallet-refusal';
import { boundBalance, boundFields } from './bound-balance';
import type { Grant, MerchantPlace } from '../protocol/purpose';
import type { IssuerKey } from '../crypto/keyring';
import type { Alg } from '../crypto/verify';
import type { Verifier } from '../crypto/verifier';
import type { HashPort } from '../../base/hash';
import type { Assessment, Mode, RiskEngine } from '../risk/engine';
import { DeclineError, type Decline } from '../../base/reasons';
import { present } from '../../base/assert';
import { checkFollowsLog, priceTap, type PricedTap, type TransitFares } from './fare-tap';
import type { FareDecision } from '../fares/engine';
import { rethrowIfProgrammerError } from '../../base/errors';
import { toDecline } from '../protocol/decline';

export interface TapContext {
  mode: Mode;
  terminalId: string;
  merchantId: string;
  currency: number;
  verifier: Verifier;
  risk: RiskEngine;
  journal: DurableLog;
  clock: Clock;
  random: RandomBytes;
  log: Log;
  /** Open intents: journaled before PAY, closed by the receipt or a release. */
  inDoubt: InDoubt;
  /** Challenge length in bytes (16..32). */
  challengeBytes?: number;
  /**
   * Transit: check the signatures before the gate opens instead of deferring them, for every card
   * (true) or for cards whose signatures are all of the algorithms listed (where the verifier is fast
   * enough for the gate: native Ed25519 on the device, not P-256). Default false.
   */
  verifyBeforeOpen?: VerifyBeforeOpen;
  /** The terminal's merchant category and region: bound balances may pay where their grant allows. */
  place?: MerchantPlace;
  /** Transit: price each tap from the operator's fare rules and the wallet's log (fare-tap.ts). */
  fares?: TransitFares;
  /** SHA-256 for the transit log's digest (default: noble's). */
  sha256?: HashPort['sha256'];
}

/** Which transit taps check their signatures before the gate opens (TapContext.verifyBeforeOpen). */
export type VerifyBeforeOpen = boolean | readonly Alg[];

/** One tap: the terminal's context plus the card and what this tap asks of it. */
export interface TapOptions extends TapContext {
  link: CardLink;
  /** In minor units of the context's currency. */
  amount: number;
  /** The terminal sequence number the request and its journal records carry. */
  terminalSeq: number;
}

/** An approval whose signatures still have to be checked (transit, deferred). */
export interface PendingVerification {
  terminalSeq: number;
  amount: number;
  certificate: Certificate;
  key: IssuerKey;
  request: Uint8Array;
  response: PayResponse;
  /** The issuer's signature is checked (the first of the two steps, verifyPendingStep). */
  certificateChecked?: boolean;
}

export type TapResult =
  | {
      kind: 'approved';
      amount: number;
      terminalSeq: number;
      journalSeq: number;
      walletId: string;
      balanceAfter: number;
      deferred: boolean;
      pending?: PendingVerification;
      /** Transit with fare rules: how the fare was made (tap-on, tap-off and its refund, transfer, cap). */
      fare?: FareDecision;
    }
  | { kind: 'declined'; decline: Decline; walletId?: string }
  | { kind: 'pin'; triesLeft?: number };

/** What became of an earlier in-doubt payment of the wallet now in the field. */
export interface Recovery {
  terminalSeq: number;
  amount: number;
  /** recovered: its receipt is journaled; released: the wallet never signed it; unresolved: left to the service. */
  outcome: 'recovered' | 'released' | 'unresolved';
  journalSeq?: number;
}

export class Tap {
  /** The amount keyed or the fixed fare; with fare rules, what the rules price once the log is read. */
  amount: number;
  readonly terminalSeq: number;
  #ctx: TapContext;
  #link: CardLink;
  #cert: Certificate | undefined;
  #key: IssuerKey | undefined;
  #assessment: Assessment | undefined;
  /** Transit: the signatures are checked after the gate opens (PendingVerification). */
  #deferred = false;
  #request: Uint8Array | undefined;
  /** The link's session when the tap began: the certificate and the PAY must come from it. */
  #session: string | undefined;
  /** The wall time the request carries (undefined: unknown). */
  #wallTime: number | undefined;
  /** Card time spent so far (ms, round trips only). */
  #cardMs = 0;
  /** The intent is journaled and neither receipt nor release is yet. */
  #intentOpen = false;
  /** The wallet's last answer to PAY was a refusal: it holds no signature for this request. */
  #refused = false;
  #priced: PricedTap | undefined;
  readonly recovered: Recovery[] = [];
  /** The grant of the bound balance paying (undefined: free money). */
  #grant: Grant | undefined;

  constructor(options: TapOptions) {
    this.#ctx = options;
    this.#link = options.link;
    this.amount = options.amount;
    this.terminalSeq = options.terminalSeq;
  }

  get walletId(): string | undefined {
    return this.#cert?.walletId;
  }

  start(): Promise<TapResult> {
    return this.#guard(async () => {
      const { verifier, risk, clock } = this.#ctx;
      this.#session = this.#link.session?.();
      expectOk(await this.#send(selectCommand()), 'SELECT');
      const certResponse = await this.#send(readCertificateCommand());
      expectOk(certResponse, 'READ CERTIFICATE');
      const cert = decodeCertificate(certResponse.data);
      this.#cert = cert;
      const time = this.#time();
      this.#wallTime = time;
      this.#key = verifier.precheck(cert, time, risk.lastKnownTime);
      await this.#recover(cert, this.#key);
      if (this.#ctx.fares) {
        this.#priced = await priceTap((apdu) => this.#send(apdu), this.#ctx.fares, cert, time, risk.counterOf(cert.walletId), this.#ctx.sha256);
        this.amount = this.#priced.decision.amount;
      }
      this.#assessment = risk.assess({ certificate: cert, amount: this.amount, mode: this.#ctx.mode, time, nowMs: clock.now() });
      // A cached certificate leaves the payment's signature, still one P-256 verify (267 ms on an S3):
      // deferred like an uncached one's, or a returning rider would wait for it at the gate.
      if (this.#assessment.mayDefer && !beforeOpen(this.#ctx.verifyBeforeOpen, [cert.alg, cert.issuerAlg])) this.#deferred = true;
      else if (!verifier.isVerified(cert)) verifier.verifySignature(cert, this.#key);
      const place = this.#ctx.place;
      if (place) this.#grant = boundBalance(await this.#send(readPurseCommand()), cert, verifier, place, time, this.amount);
      const request: PayRequest = {
        challenge: this.#ctx.random(this.#ctx.challengeBytes ?? 16),
        amount: this.amount,
        currency: this.#ctx.currency,
        terminalId: this.#ctx.terminalId,
        merchantId: this.#ctx.merchantId,
        terminalTime: time ?? 0,
        terminalSeq: this.terminalSeq,
        cvmRequired: this.#assessment.cvmRequired,
        ...(place ? boundFields(this.#grant, place) : {}),
        ...(this.#priced ? { transit: this.#priced.tap } : {}),
      };
      this.#request = encodePayRequest(request);
      const intent = this.#intent(cert);
      // Refuse before the wallet signs: a wallet that paid must find its payment journaled.
      if (!this.#ctx.journal.canAppend(intent.bytes.length + cert.bytes.length + this.#request.length + MAX_RESPONSE_BYTES + (this.#grant?.bytes.length ?? 0) + (this.#priced?.logBytes.length ?? 0) + 64)) {
        throw new DeclineError('journalFull');
      }
      if (this.#ctx.inDoubt.full) throw new DeclineError('inDoubtFull');
      await this.#openIntent(intent);
      return this.#pay();
    });
  }

  /** The PIN keyed on the terminal, for the wallet to verify; then the payment is asked again. */
  enterPin(pin: string): Promise<TapResult> {
    return this.#guard(async () => {
      let command: Uint8Array;
      try {
        command = verifyPinCommand(pin);
      } catch (e) {
        if (e instanceof ApduError) return { kind: 'pin' };
        throw e;
      }
      const r = await this.#send(command);
      if (r.sw === SW.pinBlocked) throw new DeclineError('pinBlocked');
      if ((r.sw & 0xfff0) === SW.pinWrongBase) return { kind: 'pin', triesLeft: r.sw & 0x0f };
      if (r.sw === SW.insNotSupported) throw new DeclineError('holderNotVerified', 'the wallet takes no PIN from the terminal');
      expectOk(r, 'VERIFY');
      return this.#pay();
    });
  }

  async #pay(): Promise<TapResult> {
    const cert = present(this.#cert, 'certificate before PAY');
    const request = present(this.#request, 'request before PAY');
    this.#sameCard();
    this.#refused = false;
    const r = await this.#send(payCommand(request), this.#ctx.risk.config.payMaxMs);
    // Any status but 9000 carries no signature: the wallet did not pay.
    this.#refused = r.sw !== SW.ok;
    this.#sameCard();
    if (r.sw === SW.securityNotSatisfied) return { kind: 'pin' };
    if (r.sw === SW.insufficientBalance) throw new DeclineError('insufficientBalance');
    if (r.sw === SW.overWalletLimit) throw new DeclineError('overWalletSingleLimit', 'the wallet refused');
    const refusal = walletRefusal(r.sw);
    if (refusal) throw new DeclineError(refusal, `the wallet refused (${r.sw.toString(16)})`);
    if (r.sw === SW.transitLogMismatch && this.#priced) throw new DeclineError('transitLog', 'the wallet holds another log');
    if (r.sw !== SW.ok) throw new DeclineError('walletRefused', `PAY answered ${r.sw.toString(16)}`);
    const response = decodePayResponse(r.data);
    this.#ctx.risk.checkResponse(cert, response, present(this.#assessment, 'assessment before PAY').cvmRequired);
    if (this.#priced) checkFollowsLog(this.#priced, response);
    const deferred = this.#deferred;
    if (!deferred) this.#ctx.verifier.checkPayment(cert, request, response);
    const receipt = encodeReceipt({
      terminalSeq: this.terminalSeq, certificate: cert.bytes, request, response: r.data, deferred,
      ...(this.#grant ? { grant: this.#grant.bytes } : {}), ...this.#fareFields(),
    });
    let journalSeq: number;
    try {
      journalSeq = await this.#ctx.journal.append(RECORD_RECEIPT, receipt);
    } catch (e) {
      rethrowIfProgrammerError(e);
      if (e instanceof JournalFullError) throw new DeclineError('journalFull');
      throw new DeclineError('storageError', e instanceof Error ? e.message : String(e));
    }
    this.#intentOpen = false;
    this.#ctx.inDoubt.closed(this.terminalSeq);
    this.#ctx.risk.record({
      walletId: cert.walletId,
      counter: response.counter,
      amount: this.amount,
      terminalSeq: this.terminalSeq,
      time: this.#wallTime,
      deferred,
      nowMs: this.#ctx.clock.now(),
    });
    return {
      kind: 'approved',
      amount: this.amount,
      terminalSeq: this.terminalSeq,
      journalSeq,
      walletId: cert.walletId,
      balanceAfter: response.balanceAfter,
      deferred,
      pending: deferred ? { terminalSeq: this.terminalSeq, amount: this.amount, certificate: cert, key: present(this.#key, 'issuer key of a deferred tap'), request, response } : undefined,
      fare: this.#priced?.decision,
    };
  }

  /** A priced tap's receipt and intent fields: the transit log read and the rules' version. */
  #fareFields(): { transitLog?: Uint8Array; fareRulesVersion?: number } {
    if (!this.#priced) return {};
    const version = this.#ctx.fares?.version;
    return { transitLog: this.#priced.logBytes, ...(version !== undefined ? { fareRulesVersion: version } : {}) };
  }

  #intent(cert: Certificate): { intent: Intent; bytes: Uint8Array } {
    const intent: Intent = {
      terminalSeq: this.terminalSeq,
      walletId: cert.walletId,
      counterFloor: this.#ctx.risk.counterOf(cert.walletId),
      request: present(this.#request, 'request before the intent'),
      // a bound receipt carries its grant, a priced one the transit log and the rules' version:
      // recovery needs them as the tap would have journaled them
      ...(this.#grant ? { grant: this.#grant.bytes } : {}),
      ...this.#fareFields(),
    };
    return { intent, bytes: encodeIntent(intent) };
  }

  /** Journals the intent before PAY: from here on a cut cannot lose the payment or reuse its number. */
  async #openIntent({ intent, bytes }: { intent: Intent; bytes: Uint8Array }): Promise<void> {
    try {
      await this.#ctx.journal.append(RECORD_INTENT, bytes);
    } catch (e) {
      rethrowIfProgrammerError(e);
      if (e instanceof JournalFullError) throw new DeclineError('journalFull');
      throw new DeclineError('storageError', e instanceof Error ? e.message : String(e));
    }
    this.#ctx.inDoubt.opened(intent);
    this.#intentOpen = true;
  }

  /**
   * The tap ends without a receipt (a decline, a cancelled PIN, a timeout). If the wallet refused the
   * last PAY it holds no signature, so the intent is released; otherwise (no answer, a bad answer) it
   * stays open for the next contact with this wallet, or for the service.
   */
  async close(): Promise<void> {
    if (!this.#intentOpen || !this.#refused) return;
    this.#intentOpen = false;
    await this.#release(this.terminalSeq);
  }

  async #release(terminalSeq: number): Promise<number | undefined> {
    try {
      const seq = await this.#ctx.journal.append(RECORD_RELEASE, encodeRelease(terminalSeq));
      this.#ctx.inDoubt.closed(terminalSeq);
      return seq;
    } catch (e) {
      rethrowIfProgrammerError(e);
      // The intent stays open: harmless, it is resolved at the next contact or by the service.
      this.#ctx.log('warn', 'tap', `release of ${terminalSeq} not journaled: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  }

  /**
   * The wallet now in the field has in-doubt payments here: ask it, by challenge, for what it signed.
   * A response it signed becomes the receipt (checked as any payment is); a wallet that holds every
   * response from before the intent and not this one never signed it, and the intent is released.
   */
  async #recover(cert: Certificate, key: IssuerKey): Promise<void> {
    const { inDoubt, verifier, risk, journal, log } = this.#ctx;
    for (const intent of inDoubt.openFor(cert.walletId)) {
      const request = decodePayRequest(intent.request);
      if (request.bound && !intent.grant) {
        // An intent journaled before intents kept the grant a bound receipt must carry: the wallet's own log settles it.
        log('warn', 'tap', `in-doubt ${intent.terminalSeq}: a bound-balance payment without its grant; left to the service`);
        this.recovered.push({ terminalSeq: intent.terminalSeq, amount: request.amount, outcome: 'unresolved' });
        continue;
      }
      const r = await this.#send(recallCommand(request.challenge));
      if (r.sw !== SW.ok) {
        log('warn', 'tap', `in-doubt ${intent.terminalSeq}: RECALL answered ${r.sw.toString(16)}; left to the service`);
        this.recovered.push({ terminalSeq: intent.terminalSeq, amount: request.amount, outcome: 'unresolved' });
        return;
      }
      const recall = decodeRecallResponse(r.data);
      const verdict = judgeRecall(intent, recall);
      if (verdict === 'unsigned') {
        const journalSeq = await this.#release(intent.terminalSeq);
        log('info', 'tap', `in-doubt ${intent.terminalSeq}: the wallet never signed it; released`);
        this.recovered.push({ terminalSeq: intent.terminalSeq, amount: request.amount, outcome: journalSeq === undefined ? 'unresolved' : 'released' });
        continue;
      }
      if (verdict === 'unknown') {
        log('warn', 'tap', `in-doubt ${intent.terminalSeq}: the wallet holds responses only from counter ${recall.heldFrom}; left to the service`);
        this.recovered.push({ terminalSeq: intent.terminalSeq, amount: request.amount, outcome: 'unresolved' });
        continue;
      }
      const response = decodePayResponse(present(recall.response, 'recalled response'));
      try {
        if (!verifier.isVerified(cert)) verifier.verifySignature(cert, key);
        verifier.checkPayment(cert, intent.request, response);
      } catch (e) {
        rethrowIfProgrammerError(e);
        log('warn', 'tap', `in-doubt ${intent.terminalSeq}: recalled response does not verify (${e instanceof Error ? e.message : String(e)}); left to the service`);
        this.recovered.push({ terminalSeq: intent.terminalSeq, amount: request.amount, outcome: 'unresolved' });
        continue;
      }
      // The grant was checked (issuer, place, expiry) before the intent was journaled, as for an uncut
      // tap, and the transit log read and priced then: the receipt is the one that tap would have journaled.
      const receipt = encodeReceipt({
        terminalSeq: intent.terminalSeq, certificate: cert.bytes, request: intent.request, response: present(recall.response, 'recalled response'), deferred: false,
        ...intentReceiptFields(intent),
      });
      const journalSeq = await journal.append(RECORD_RECEIPT, receipt);
      inDoubt.closed(intent.terminalSeq);
      // Counted as a replayed receipt is, at the time its request names: not as a tap this instant,
      // which anti-passback would hold against the rider now tapping (the recovering tap itself).
      risk.record({ walletId: cert.walletId, counter: response.counter, amount: request.amount, terminalSeq: intent.terminalSeq, time: request.terminalTime || undefined, deferred: false, late: true });
      log('info', 'tap', `in-doubt ${intent.terminalSeq}: recovered ${request.amount} from the wallet's log (counter ${response.counter})`);
      this.recovered.push({ terminalSeq: intent.terminalSeq, amount: request.amount, outcome: 'recovered', journalSeq });
    }
  }

  /**
   * The wall time for this tap: the later of the clock and the floor the risk state keeps (the clock
   * never goes back); undefined when the terminal does not know it. A clock behind the floor is logged.
   */
  #time(): number | undefined {
    const { clock, risk, log } = this.#ctx;
    const wall = clock.wallTime();
    if (wall === undefined) return undefined;
    if (!risk.observeTime(wall, clock.now())) log('warn', 'time', `clock ${wall} is behind the last known time ${risk.lastKnownTime}: using the later`);
    return Math.max(wall, risk.lastKnownTime);
  }

  /** Cheap card-swap binding before the gate opens: the answers come from one card in one activation. */
  #sameCard(): void {
    const now = this.#link.session?.();
    if (now !== this.#session) throw new DeclineError('cardSwapped', `tap began on ${this.#session}, now on ${now}`);
  }

  /** One round trip, timed: the card's time for the tap and for this APDU are bounded (a relay adds to both). */
  async #send(apdu: Uint8Array, maxMs?: number): Promise<ResponseApdu> {
    const { clock, risk } = this.#ctx;
    const started = clock.now();
    const rapdu = await this.#link.transceive(apdu);
    const took = clock.now() - started;
    this.#cardMs += took;
    if (maxMs !== undefined && took > maxMs) throw new DeclineError('exchangeTooSlow', `round trip ${took} ms > ${maxMs} ms`);
    if (this.#cardMs > risk.config.exchangeMaxMs) throw new DeclineError('exchangeTooSlow', `card exchange ${this.#cardMs} ms > ${risk.config.exchangeMaxMs} ms`);
    return decodeResponse(rapdu);
  }

  /** Turns every operating error into a decline with its reason; only a bug goes on up. */
  async #guard(step: () => Promise<TapResult>): Promise<TapResult> {
    try {
      return await step();
    } catch (e) {
      const d = toDecline(e);
      this.#ctx.log(d.code === 'cardLost' ? 'info' : 'warn', 'tap', `declined ${d.code}${d.detail ? `: ${d.detail}` : ''}`);
      return { kind: 'declined', decline: d, walletId: this.#cert?.walletId };
    }
  }
}

/**
 * A balance enquiry: the wallet's own figure, unsigned, shown to its holder and never used to decide a
 * payment (the PAY response's signed balance is what a receipt keeps).
 */
export async function readBalance(link: CardLink, log: Log): Promise<{ kind: 'balance'; balance: number } | { kind: 'declined'; decline: Decline }> {
  try {
    expectOk(decodeResponse(await link.transceive(selectCommand())), 'SELECT');
    const r = decodeResponse(await link.transceive(readBalanceCommand()));
    expectOk(r, 'READ BALANCE');
    if (r.data.length !== BALANCE_BYTES) throw new ApduError(`READ BALANCE answered ${r.data.length} bytes`);
    let balance = 0;
    for (const b of r.data) balance = balance * 256 + b;
    return { kind: 'balance', balance };
  } catch (e) {
    const d = toDecline(e);
    log('warn', 'tap', `balance enquiry failed: ${d.code}${d.detail ? `: ${d.detail}` : ''}`);
    return { kind: 'declined', decline: d };
  }
}

function expectOk(r: ResponseApdu, what: string): void {
  if (r.sw !== SW.ok) throw new DeclineError('cardError', `${what} answered ${r.sw.toString(16)}`);
}

function beforeOpen(policy: VerifyBeforeOpen | undefined, algs: Alg[]): boolean {
  if (typeof policy === 'boolean' || policy === undefined) return policy === true;
  return algs.every((a) => policy.includes(a));
}

/**
 * One signature of a deferred approval's checks, so the gate can spend short idle slots on them: the
 * issuer's signature first (skipped when a tap verified the certificate meanwhile), then the wallet's.
 * 'more' when the payment's signature is still to come; else undefined (verified) or the decline.
 */
export function verifyPendingStep(verifier: Verifier, p: PendingVerification): 'more' | Decline | undefined {
  try {
    if (!p.certificateChecked) {
      p.certificateChecked = true;
      if (!verifier.isVerified(p.certificate)) {
        verifier.verifySignature(p.certificate, p.key);
        return 'more';
      }
    }
    verifier.checkPayment(p.certificate, p.request, p.response);
    return undefined;
  } catch (e) {
    return toDecline(e);
  }
}

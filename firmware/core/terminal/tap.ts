// One tap, from SELECT to the journaled receipt: the APDU exchange and the decision. The terminal's
// state machine (terminal.ts) drives it; it can pause once to collect a PIN on the keypad.
import type { Clock, Log, RandomBytes } from '../../base/platform';
import { CardLostError, JournalFullError, type CardLink, type DurableLog } from '../../base/ports';
import {
  ApduError,
  BALANCE_BYTES,
  decodeResponse,
  payCommand,
  readBalanceCommand,
  readCertificateCommand,
  selectCommand,
  SW_INSUFFICIENT_BALANCE,
  SW_OK,
  SW_OVER_WALLET_LIMIT,
  SW_PIN_BLOCKED,
  SW_PIN_WRONG_BASE,
  SW_SECURITY_NOT_SATISFIED,
  SW_INS_NOT_SUPPORTED,
  verifyPinCommand,
  type Response,
} from '../protocol/apdu';
import {
  decodeCertificate,
  decodePayResponse,
  encodePayRequest,
  MAX_RESPONSE_BYTES,
  type Certificate,
  type PayRequest,
  type PayResponse,
} from '../protocol/messages';
import { encodeReceipt, RECORD_RECEIPT } from '../protocol/receipt';
import { TlvError } from '../protocol/tlv';
import { checkPaymentSignature } from '../crypto/certificate';
import type { IssuerKey } from '../crypto/keyring';
import type { Verifier } from '../crypto/verifier';
import type { Assessment, Mode, RiskEngine } from '../risk/engine';
import { decline, DeclineError, type Decline } from '../../base/reasons';

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
  /** Challenge length in bytes (16..32). */
  challengeBytes?: number;
  /**
   * Transit: check the signatures before the gate opens instead of deferring them (set where the
   * verifier is fast enough for the gate: native code on the device). Default false.
   */
  verifyBeforeOpen?: boolean;
}

/** An approval whose signatures still have to be checked (transit, deferred). */
export interface PendingVerification {
  terminalSeq: number;
  amount: number;
  certificate: Certificate;
  key: IssuerKey;
  request: Uint8Array;
  response: PayResponse;
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
    }
  | { kind: 'declined'; decline: Decline; walletId?: string }
  | { kind: 'pin'; triesLeft?: number };

export class Tap {
  readonly amount: number;
  readonly terminalSeq: number;
  #ctx: TapContext;
  #link: CardLink;
  #cert: Certificate | undefined;
  #key: IssuerKey | undefined;
  #assessment: Assessment | undefined;
  #deferCertificate = false;
  #request: Uint8Array | undefined;
  /** The link's session when the tap began: the certificate and the PAY must come from it. */
  #session: string | undefined;
  /** The wall time the request carries (undefined: unknown). */
  #wallTime: number | undefined;
  /** Card time spent so far (ms, round trips only). */
  #cardMs = 0;

  constructor(ctx: TapContext, link: CardLink, amount: number, terminalSeq: number) {
    this.#ctx = ctx;
    this.#link = link;
    this.amount = amount;
    this.terminalSeq = terminalSeq;
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
      this.#assessment = risk.assess({ certificate: cert, amount: this.amount, mode: this.#ctx.mode, time, nowMs: clock.now() });
      if (!verifier.isVerified(cert)) {
        if (this.#assessment.mayDefer && this.#ctx.verifyBeforeOpen !== true) this.#deferCertificate = true;
        else verifier.verifySignature(cert, this.#key);
      }
      const request: PayRequest = {
        challenge: this.#ctx.random(this.#ctx.challengeBytes ?? 16),
        amount: this.amount,
        currency: this.#ctx.currency,
        terminalId: this.#ctx.terminalId,
        merchantId: this.#ctx.merchantId,
        terminalTime: time ?? 0,
        terminalSeq: this.terminalSeq,
        cvmRequired: this.#assessment.cvmRequired,
      };
      this.#request = encodePayRequest(request);
      // Refuse before the wallet signs: a wallet that paid must find its payment journaled.
      if (!this.#ctx.journal.canAppend(cert.bytes.length + this.#request.length + MAX_RESPONSE_BYTES + 32)) {
        throw new DeclineError('journalFull');
      }
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
      if (r.sw === SW_PIN_BLOCKED) throw new DeclineError('pinBlocked');
      if ((r.sw & 0xfff0) === SW_PIN_WRONG_BASE) return { kind: 'pin', triesLeft: r.sw & 0x0f };
      if (r.sw === SW_INS_NOT_SUPPORTED) throw new DeclineError('holderNotVerified', 'the wallet takes no PIN from the terminal');
      expectOk(r, 'VERIFY');
      return this.#pay();
    });
  }

  async #pay(): Promise<TapResult> {
    const cert = this.#cert!;
    const request = this.#request!;
    this.#sameCard();
    const r = await this.#send(payCommand(request), this.#ctx.risk.config.payMaxMs);
    this.#sameCard();
    if (r.sw === SW_SECURITY_NOT_SATISFIED) return { kind: 'pin' };
    if (r.sw === SW_INSUFFICIENT_BALANCE) throw new DeclineError('insufficientBalance');
    if (r.sw === SW_OVER_WALLET_LIMIT) throw new DeclineError('overWalletSingleLimit', 'the wallet refused');
    if (r.sw !== SW_OK) throw new DeclineError('walletRefused', `PAY answered ${r.sw.toString(16)}`);
    const response = decodePayResponse(r.data);
    this.#ctx.risk.checkResponse(cert, response, this.#assessment!.cvmRequired);
    const deferred = this.#deferCertificate;
    if (!deferred) checkPaymentSignature(cert, request, response, this.#ctx.verifier.verify);
    const receipt = encodeReceipt({ terminalSeq: this.terminalSeq, certificate: cert.bytes, request, response: r.data, deferred });
    let journalSeq: number;
    try {
      journalSeq = await this.#ctx.journal.append(RECORD_RECEIPT, receipt);
    } catch (e) {
      if (e instanceof JournalFullError) throw new DeclineError('journalFull');
      throw new DeclineError('storageError', e instanceof Error ? e.message : String(e));
    }
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
      pending: deferred ? { terminalSeq: this.terminalSeq, amount: this.amount, certificate: cert, key: this.#key!, request, response } : undefined,
    };
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
  async #send(apdu: Uint8Array, maxMs?: number): Promise<Response> {
    const { clock, risk } = this.#ctx;
    const started = clock.now();
    const rapdu = await this.#link.transceive(apdu);
    const took = clock.now() - started;
    this.#cardMs += took;
    if (maxMs !== undefined && took > maxMs) throw new DeclineError('exchangeTooSlow', `round trip ${took} ms > ${maxMs} ms`);
    if (this.#cardMs > risk.config.exchangeMaxMs) throw new DeclineError('exchangeTooSlow', `card exchange ${this.#cardMs} ms > ${risk.config.exchangeMaxMs} ms`);
    return decodeResponse(rapdu);
  }

  /** Turns every failure into a decline with its reason: a tap never throws. */
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

function expectOk(r: Response, what: string): void {
  if (r.sw !== SW_OK) throw new DeclineError('cardError', `${what} answered ${r.sw.toString(16)}`);
}

function toDecline(e: unknown): Decline {
  if (e instanceof DeclineError) return e.decline;
  if (e instanceof CardLostError) return decline('cardLost', e.message);
  if (e instanceof TlvError || e instanceof ApduError) return decline('protocol', e.message);
  return decline('cardError', e instanceof Error ? `${e.name}: ${e.message}` : String(e));
}

/** Finishes a deferred approval's checks: the issuer's signature, then the wallet's. */
export function verifyPending(verifier: Verifier, p: PendingVerification): Decline | undefined {
  try {
    verifier.verifySignature(p.certificate, p.key);
    checkPaymentSignature(p.certificate, p.request, p.response, verifier.verify);
    return undefined;
  } catch (e) {
    return toDecline(e);
  }
}

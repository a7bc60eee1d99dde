// The terminal's side of an offline refund (docs/PROTOCOL.md "Offline refunds"): find the original in
// the journal with what it has been refunded so far, then the exchange with the wallet that paid it
// (SELECT, READ CERTIFICATE, TERMINAL CERTIFICATE, REFUND) with the intent journaled before REFUND and
// the refund record after the wallet's signed answer, so a power cut loses neither money nor a refund.
import type { Clock, Log } from '../../base/platform';
import { JournalFullError, type CardLink, type DurableLog } from '../../base/ports';
import { DeclineError, type Decline } from '../../base/reasons';
import { rethrowIfProgrammerError } from '../../base/errors';
import { decodeResponse, readCertificateCommand, refundCommand, selectCommand, SW, terminalCertificateCommand } from '../protocol/apdu';
import { decodeCertificate, decodePayRequest, decodePayResponse, type Certificate } from '../protocol/messages';
import { decodeReceipt, RECORD_RECEIPT } from '../protocol/receipt';
import {
  decodeRefundRecord,
  decodeRefundRelease,
  decodeRefundRequest,
  decodeRefundResponse,
  encodeRefundRecord,
  encodeRefundRelease,
  encodeRefundRequest,
  encodeRefundRequestBody,
  MAX_REFUND_RECORD_BYTES,
  RECORD_REFUND,
  RECORD_REFUND_INTENT,
  RECORD_REFUND_RELEASE,
  refundRequestSignedPayload,
  refundSignedPayload,
} from '../protocol/refund';
import { toDecline } from '../protocol/decline';
import type { Verifier } from '../crypto/verifier';

/** A journal read from the oldest record it still holds (firmware/core/journal/journal.ts `replay`). */
export interface RecordReader {
  replay(afterSeq: number, visit: (r: { seq: number; type: number; payload: Uint8Array }) => boolean | void): void;
}

export interface RefundDeskOptions {
  terminalId: string;
  currency: number;
  journal: DurableLog & RecordReader;
  verifier: Verifier;
  clock: Clock;
  log: Log;
  /** The terminal's certificate (protocol/refund.ts), signed by the provisioning root key. */
  certificate: Uint8Array;
  /** Signs with the device key (P-256): the wallet checks it against the certificate. */
  sign: (message: Uint8Array) => Uint8Array;
}

/** A payment this terminal took, as its journal holds it, and its refunds so far. */
export interface Original {
  terminalSeq: number;
  walletId: string;
  counter: number;
  amount: number;
  signature: Uint8Array;
  /** Refunded (journaled refunds) plus refunds in doubt (sent, answer not journaled): never passed. */
  refunded: number;
  /** Refund intents with no record or release: sent again, first, when the wallet comes back. */
  inDoubt: { refundSeq: number; amount: number; request: Uint8Array }[];
}

export type RefundResult =
  | { kind: 'refunded'; amount: number; refundSeq: number; balanceAfter: number; journalSeq: number; recovered: number }
  | { kind: 'refused'; decline: Decline };

/** Told of a refund record made durable: its amount and time (undefined: the time was unknown). */
export type Journaled = (amount: number, time: number | undefined) => void;

const MAX_RECENT = 3;

export class RefundDesk {
  readonly #o: RefundDeskOptions;

  constructor(options: RefundDeskOptions) {
    this.#o = options;
  }

  /** The newest payments in the journal (at most 3), newest first, for the merchant to pick from. */
  recent(): { terminalSeq: number; amount: number }[] {
    const out: { terminalSeq: number; amount: number }[] = [];
    this.#o.journal.replay(0, (r) => {
      if (r.type !== RECORD_RECEIPT) return;
      try {
        const receipt = decodeReceipt(r.payload);
        const amount = decodePayRequest(receipt.request).amount;
        if (amount > 0) out.unshift({ terminalSeq: receipt.terminalSeq, amount });
        if (out.length > MAX_RECENT) out.pop();
      } catch (e) {
        rethrowIfProgrammerError(e);
      }
    });
    return out;
  }

  /**
   * The payment numbered `terminalSeq` and its refunds, from the whole journal (a refund is rare: the
   * walk costs what a boot's full read would); undefined when the journal no longer holds it.
   */
  original(terminalSeq: number): Original | undefined {
    let found: Original | undefined;
    const refunds = new Map<number, { amount: number; request: Uint8Array; done: boolean }>();
    this.#o.journal.replay(0, (r) => {
      try {
        if (r.type === RECORD_RECEIPT && !found) {
          const receipt = decodeReceipt(r.payload);
          if (receipt.terminalSeq !== terminalSeq) return;
          const request = decodePayRequest(receipt.request);
          const response = decodePayResponse(receipt.response);
          const certificate = decodeCertificate(receipt.certificate);
          found = { terminalSeq, walletId: certificate.walletId, counter: response.counter, amount: request.amount, signature: response.signature, refunded: 0, inDoubt: [] };
        } else if (r.type === RECORD_REFUND || r.type === RECORD_REFUND_INTENT) {
          const record = decodeRefundRecord(r.payload);
          const request = decodeRefundRequest(record.request);
          if (request.originalSeq !== terminalSeq) return;
          const done = r.type === RECORD_REFUND || refunds.get(record.refundSeq)?.done === true;
          refunds.set(record.refundSeq, { amount: request.amount, request: record.request, done });
        } else if (r.type === RECORD_REFUND_RELEASE) {
          refunds.delete(decodeRefundRelease(r.payload));
        }
      } catch (e) {
        rethrowIfProgrammerError(e);
        this.#o.log('error', 'refund', `record ${r.seq} (type ${r.type}) unreadable: ${e instanceof Error ? e.message : String(e)}`);
      }
    });
    if (!found) return undefined;
    for (const [refundSeq, r] of refunds) {
      found.refunded += r.amount;
      if (!r.done) found.inDoubt.push({ refundSeq, amount: r.amount, request: r.request });
    }
    return found;
  }

  /**
   * Refunds `amount` of `original` to the wallet on `link`, which must be the wallet that paid. Refunds
   * of it left in doubt by a power cut are sent again first (the wallet answers a retry with its first
   * answer, or credits it now): either way the record is journaled. `refundSeq` is the terminal sequence
   * this refund takes; `journaled` hears of each refund record once it is durable (the day totals), this
   * one's and those recovered. Never throws an operating error: a refusal says why.
   */
  async refund(link: CardLink, original: Original, amount: number, refundSeq: number, journaled?: Journaled): Promise<RefundResult> {
    const { journal, log } = this.#o;
    try {
      if (!Number.isSafeInteger(amount) || amount < 1) throw new DeclineError('refundOverOriginal', `amount ${amount}`);
      if (original.refunded + amount > original.amount) {
        throw new DeclineError('refundOverOriginal', `${original.refunded} of ${original.amount} refunded already, ${amount} more asked`);
      }
      expectOk(await this.#send(link, selectCommand()), 'SELECT');
      const certResponse = await this.#send(link, readCertificateCommand());
      expectOk(certResponse, 'READ CERTIFICATE');
      const cert = decodeCertificate(certResponse.data);
      if (cert.walletId !== original.walletId) throw new DeclineError('refundOtherWallet', `wallet ${cert.walletId}, the payment was ${original.walletId}`);
      const presented = await this.#send(link, terminalCertificateCommand(this.#o.certificate));
      this.#walletRefusal(presented.sw, 'TERMINAL CERTIFICATE');
      let recovered = 0;
      for (const d of original.inDoubt) {
        const r = await this.#exchange(link, cert, d.refundSeq, d.request, journaled);
        if (r.kind === 'refunded') recovered += d.amount;
      }
      const request = this.#request(original, amount, refundSeq);
      if (!journal.canAppend(2 * (MAX_REFUND_RECORD_BYTES + 64))) throw new DeclineError('journalFull');
      await this.#append(RECORD_REFUND_INTENT, encodeRefundRecord({ refundSeq, certificate: cert.bytes, request }));
      const r = await this.#exchange(link, cert, refundSeq, request, journaled);
      if (r.kind === 'refused') throw new DeclineError(r.decline.code, r.decline.detail);
      log('info', 'refund', `refunded ${amount} of payment ${original.terminalSeq} (refund ${refundSeq})${recovered ? `; ${recovered} in doubt recovered` : ''}`);
      return { ...r, amount, refundSeq, recovered };
    } catch (e) {
      const d = toDecline(e);
      log(d.code === 'cardLost' ? 'info' : 'warn', 'refund', `refund refused ${d.code}${d.detail ? `: ${d.detail}` : ''}`);
      return { kind: 'refused', decline: d };
    }
  }

  /** REFUND of a journaled intent: the record on a signed answer, the release on a refusal, nothing on no answer. */
  async #exchange(link: CardLink, cert: Certificate, refundSeq: number, request: Uint8Array, journaled: Journaled | undefined): Promise<{ kind: 'refunded'; balanceAfter: number; journalSeq: number } | { kind: 'refused'; decline: Decline }> {
    const r = await this.#send(link, refundCommand(request));
    if (r.sw !== SW.ok) {
      // A status word carries no signature: the wallet credited nothing for this request now. Only
      // "replayed" may mean it credited it before: that one stays in doubt.
      if (r.sw !== SW.refundReplayed) await this.#append(RECORD_REFUND_RELEASE, encodeRefundRelease(refundSeq));
      try {
        this.#walletRefusal(r.sw, 'REFUND');
      } catch (e) {
        return { kind: 'refused', decline: toDecline(e) };
      }
    }
    const response = decodeRefundResponse(r.data);
    const payload = refundSignedPayload(cert.alg, this.#o.verifier.digest(cert), request, response.tbs);
    if (!this.#o.verifier.verify(cert.alg, cert.publicKey, payload, response.signature)) {
      // Left in doubt: only a wallet signature closes it (the wallet may well have credited).
      throw new DeclineError('badSignature', 'the wallet\'s refund signature does not verify');
    }
    const journalSeq = await this.#append(RECORD_REFUND, encodeRefundRecord({ refundSeq, certificate: cert.bytes, request, response: r.data }));
    if (journaled) {
      const body = decodeRefundRequest(request);
      journaled(body.amount, body.terminalTime || undefined);
    }
    return { kind: 'refunded', balanceAfter: response.balanceAfter, journalSeq };
  }

  #request(original: Original, amount: number, refundSeq: number): Uint8Array {
    const body = {
      refundSeq,
      terminalId: this.#o.terminalId,
      walletId: original.walletId,
      originalSeq: original.terminalSeq,
      originalCounter: original.counter,
      originalAmount: original.amount,
      originalSignature: original.signature,
      amount,
      currency: this.#o.currency,
      terminalTime: this.#o.clock.wallTime() ?? 0,
    };
    return encodeRefundRequest(body, this.#o.sign(refundRequestSignedPayload(encodeRefundRequestBody(body))));
  }

  #walletRefusal(sw: number, what: string): void {
    if (sw === SW.ok) return;
    if (sw === SW.refundOverOriginal) throw new DeclineError('refundOverOriginal', 'the wallet refused');
    if (sw === SW.refundReplayed) throw new DeclineError('refundReplayed', 'the wallet refused');
    if (sw === SW.refundForged) throw new DeclineError('refundUntrusted', `${what}: the wallet does not trust this terminal`);
    if (sw === SW.refundUnknownOriginal) throw new DeclineError('refundUnknown', 'the wallet no longer holds the payment');
    throw new DeclineError('refundRefused', `${what} answered ${sw.toString(16)}`);
  }

  async #append(type: number, payload: Uint8Array): Promise<number> {
    try {
      return await this.#o.journal.append(type, payload);
    } catch (e) {
      rethrowIfProgrammerError(e);
      if (e instanceof JournalFullError) throw new DeclineError('journalFull');
      throw new DeclineError('storageError', e instanceof Error ? e.message : String(e));
    }
  }

  async #send(link: CardLink, apdu: Uint8Array) {
    return decodeResponse(await link.transceive(apdu));
  }
}

function expectOk(r: { sw: number }, what: string): void {
  if (r.sw !== SW.ok) throw new DeclineError('cardError', `${what} answered ${r.sw.toString(16)}`);
}


// The wallet's side of offline refunds (docs/PROTOCOL.md "Offline refunds"): the payments it may be
// refunded for (its own book: the last BOOK_SIZE it signed), what each has been refunded so far and the
// id of its last refund. A refund is credited only when the terminal's certificate verifies
// under the root key the wallet was personalised with, the request under that certificate's device
// key, the original is in the book exactly as the request names it, the refund id is above that original's last, and the
// refunds of that original stay within its amount. Platform-free: it runs on XS too.
import { equalBytes } from '../../firmware/base/bytes';
import { SW } from '../../firmware/core/protocol/apdu';
import { certificateDigest, type Certificate } from '../../firmware/core/protocol/messages';
import {
  encodeTerminalCertificate,
  encodeTerminalCertificateBody,
  type TerminalCertificateBody,
  decodeRefundRequest,
  decodeTerminalCertificate,
  encodeRefundResponse,
  encodeRefundResponseBody,
  refundRequestSignedPayload,
  refundSignedPayload,
  terminalCertificateSignedPayload,
  type TerminalCertificate,
} from '../../firmware/core/protocol/refund';
import { TlvError } from '../../firmware/core/protocol/tlv';
import { ALG_P256, verifySignature, type Alg } from '../../firmware/core/crypto/verify';
import { sign } from './issuer';

/** Payments kept for refunds, newest last; an older one can no longer be refunded offline. */
export const BOOK_SIZE = 32;

/** The key terminal certificates are signed with: the provisioning root key. */
export interface RefundRoot {
  alg: Alg;
  publicKey: Uint8Array;
}

/** The provisioning root key certifies a terminal's device key (tapline provision-terminal). */
export function signTerminalCertificate(root: { alg: Alg; secretKey: Uint8Array }, body: TerminalCertificateBody): Uint8Array {
  return encodeTerminalCertificate(body, sign(root, terminalCertificateSignedPayload(encodeTerminalCertificateBody(body))));
}

/** One payment the wallet signed, as its book keeps it. */
export interface BookEntry {
  counter: number;
  terminalId: string;
  terminalSeq: number;
  amount: number;
  /** The bound balance that paid (undefined: the free money): a refund goes back to it. */
  purse?: number;
  signature: Uint8Array;
  refunded: number;
  /** The id (terminal sequence) of the last refund of this payment: a later one must be above it. */
  lastRefundSeq: number;
  /** That refund's request and R-APDU, so a retry of it gets the same answer. */
  lastRequest?: Uint8Array;
  lastRapdu?: Uint8Array;
}

/** What the wallet does when a refund is accepted: moves its counter, credits, signs. */
export interface RefundWallet {
  info: Certificate;
  certificate: Uint8Array;
  /** Moves the counter and credits the purse (or the free money); returns the new counter and balance. */
  credit(purse: number | undefined, amount: number): { counter: number; balanceAfter: number };
  sign(message: Uint8Array): Uint8Array;
  /** The counter cannot move any more. */
  exhausted(): boolean;
}

export class RefundBook {
  readonly #root: RefundRoot | undefined;
  #book: BookEntry[] = [];
  /** The terminal certificate presented in this session (cleared by SELECT). */
  #terminal: TerminalCertificate | undefined;

  constructor(root: RefundRoot | undefined, book: BookEntry[] = []) {
    this.#root = root;
    this.#book = book.map((e) => ({ ...e }));
  }

  get entries(): BookEntry[] {
    return this.#book.map((e) => ({ ...e }));
  }

  /** A payment signed: it may be refunded later. */
  paid(e: Omit<BookEntry, 'refunded' | 'lastRefundSeq'>): void {
    this.#book.push({ ...e, refunded: 0, lastRefundSeq: 0 });
    if (this.#book.length > BOOK_SIZE) this.#book.shift();
  }

  endSession(): void {
    this.#terminal = undefined;
  }

  /** TERMINAL CERTIFICATE: kept for the session if the root key signed it. */
  present(data: Uint8Array): number {
    this.#terminal = undefined;
    if (!this.#root) return SW.insNotSupported;
    let cert: TerminalCertificate;
    try {
      cert = decodeTerminalCertificate(data);
    } catch (e) {
      if (e instanceof TlvError) return SW.wrongData;
      throw e;
    }
    if (!verifySignature(this.#root.alg, this.#root.publicKey, terminalCertificateSignedPayload(cert.tbs), cert.signature)) return SW.refundForged;
    this.#terminal = cert;
    return SW.ok;
  }

  /** REFUND: the R-APDU (the signed response, or a status word that says why not). */
  refund(data: Uint8Array, wallet: RefundWallet): Uint8Array {
    if (!this.#root) return status(SW.insNotSupported);
    const terminal = this.#terminal;
    if (!terminal) return status(SW.conditionsNotSatisfied);
    let request;
    try {
      request = decodeRefundRequest(data);
    } catch (e) {
      if (e instanceof TlvError) return status(SW.wrongData);
      throw e;
    }
    if (request.walletId !== wallet.info.walletId) return status(SW.wrongData);
    // Signed by the terminal the certificate names, while the certificate was valid (an unknown time counts as past).
    if (request.terminalId !== terminal.terminalId) return status(SW.refundForged);
    if (request.terminalTime === 0 || request.terminalTime > terminal.notAfter) return status(SW.refundForged);
    if (!verifySignature(ALG_P256, terminal.publicKey, refundRequestSignedPayload(request.tbs), request.signature)) return status(SW.refundForged);
    const original = this.#book.find(
      (e) => e.counter === request.originalCounter && e.terminalId === request.terminalId && e.terminalSeq === request.originalSeq,
    );
    if (!original || original.amount !== request.originalAmount || !equalBytes(original.signature, request.originalSignature)) {
      return status(SW.refundUnknownOriginal);
    }
    if (request.refundSeq <= original.lastRefundSeq) {
      // The very same refund again (its answer was lost): the same answer, not a second credit.
      if (original.lastRequest && original.lastRapdu && equalBytes(data, original.lastRequest)) return original.lastRapdu;
      return status(SW.refundReplayed);
    }
    if (original.refunded + request.amount > original.amount) return status(SW.refundOverOriginal);
    if (wallet.exhausted()) return status(SW.conditionsNotSatisfied);
    // Book, counter and balance move before the signature leaves.
    original.refunded += request.amount;
    const body = wallet.credit(original.purse, request.amount);
    const tbs = encodeRefundResponseBody(body);
    const signature = wallet.sign(refundSignedPayload(wallet.info.alg, certificateDigest(wallet.certificate), data, tbs));
    const rapdu = Uint8Array.from([...encodeRefundResponse(body, signature), SW.ok >> 8, SW.ok & 0xff]);
    original.lastRefundSeq = request.refundSeq;
    original.lastRequest = data.slice();
    original.lastRapdu = rapdu;
    return rapdu;
  }
}

function status(sw: number): Uint8Array {
  return Uint8Array.from([sw >> 8, sw & 0xff]);
}

// A receipt: what the journal stores for each approved payment and what the settlement service
// re-verifies. It keeps the exact bytes both sides exchanged, so the wallet's signature can be checked
// again anywhere, later.
import { issuerKeyFor, checkDates, checkCertificateSignature, checkPaymentSignature, type KeyLookup } from '../crypto/certificate';
import type { IssuerKey } from '../crypto/keyring';
import { verifySignature, type VerifyFn } from '../crypto/verify';
import { DeclineError, type Decline, decline } from '../../base/reasons';
import {
  decodeCertificate,
  decodePayRequest,
  decodePayResponse,
  MAX_CERTIFICATE_BYTES,
  MAX_REQUEST_BYTES,
  MAX_RESPONSE_BYTES,
  type Certificate,
  type PayRequest,
  type PayResponse,
} from './messages';
import { decodeFields, decodeUint, encodeTlv, encodeUint, TlvError, type FieldRule } from './tlv';

export const RECEIPT_VERSION = 1;
export const MAX_RECEIPT_BYTES = 600;
/** The journal record type of a receipt. */
export const RECORD_RECEIPT = 1;

const T = { version: 0x80, terminalSeq: 0x81, certificate: 0x82, request: 0x83, response: 0x84, flags: 0x85 } as const;

const RULES: Record<number, FieldRule> = {
  [T.version]: { min: 1, max: 1 },
  [T.terminalSeq]: { min: 4, max: 4 },
  [T.certificate]: { min: 1, max: MAX_CERTIFICATE_BYTES },
  [T.request]: { min: 1, max: MAX_REQUEST_BYTES },
  [T.response]: { min: 1, max: MAX_RESPONSE_BYTES },
  [T.flags]: { min: 1, max: 1 },
};

const FLAG_DEFERRED = 1;

export interface Receipt {
  /** The terminal's sequence number for the payment (also inside the request). */
  terminalSeq: number;
  /** The wallet's certificate, PAY request and PAY response, byte for byte. */
  certificate: Uint8Array;
  request: Uint8Array;
  response: Uint8Array;
  /** Approved before the wallet's signatures were verified (transit, low amount). */
  deferred: boolean;
}

export function encodeReceipt(r: Receipt): Uint8Array {
  return encodeTlv([
    { tag: T.version, value: encodeUint(RECEIPT_VERSION, 1) },
    { tag: T.terminalSeq, value: encodeUint(r.terminalSeq, 4) },
    { tag: T.certificate, value: r.certificate },
    { tag: T.request, value: r.request },
    { tag: T.response, value: r.response },
    { tag: T.flags, value: encodeUint(r.deferred ? FLAG_DEFERRED : 0, 1) },
  ]);
}

/** Parses a receipt's envelope (untrusted bytes). Throws TlvError. The inner messages are not parsed. */
export function decodeReceipt(bytes: Uint8Array): Receipt {
  const f = decodeFields(bytes, RULES, MAX_RECEIPT_BYTES);
  if (f.get(T.version)![0] !== RECEIPT_VERSION) throw new TlvError(`receipt version ${f.get(T.version)![0]}`);
  const flags = f.get(T.flags)![0]!;
  if (flags & ~FLAG_DEFERRED) throw new TlvError(`unknown receipt flags ${flags}`);
  return {
    terminalSeq: decodeUint(f.get(T.terminalSeq)!),
    certificate: f.get(T.certificate)!.slice(),
    request: f.get(T.request)!.slice(),
    response: f.get(T.response)!.slice(),
    deferred: (flags & FLAG_DEFERRED) !== 0,
  };
}

/** A receipt's messages, parsed. */
export interface ReceiptContent {
  certificate: Certificate;
  request: PayRequest;
  response: PayResponse;
}

/** Parses the messages inside a receipt. Throws TlvError. */
export function openReceipt(r: Receipt): ReceiptContent {
  const content = {
    certificate: decodeCertificate(r.certificate),
    request: decodePayRequest(r.request),
    response: decodePayResponse(r.response),
  };
  if (content.request.terminalSeq !== r.terminalSeq) {
    throw new TlvError(`receipt ${r.terminalSeq} holds a request for ${content.request.terminalSeq}`);
  }
  return content;
}

export type ReceiptCheck = ({ ok: true } & ReceiptContent) | { ok: false; reason: Decline };

/**
 * Re-verifies a receipt offline: the envelope and messages parse, the certificate is signed by a known,
 * unrevoked issuer key, issuer key and certificate were valid at the payment's time (the terminal's time
 * if it knew it, else `now`, unix seconds), and the wallet signed this exact exchange. `verify` is the
 * signature primitive: a server may pass a native one with the same contract.
 */
export function verifyReceipt(
  receipt: Receipt | Uint8Array,
  issuerKeys: IssuerKey[] | KeyLookup,
  now: number,
  verify: VerifyFn = verifySignature,
): ReceiptCheck {
  const keys: KeyLookup = Array.isArray(issuerKeys) ? new Map(issuerKeys.map((k) => [k.keyId, k])) : issuerKeys;
  try {
    const r = receipt instanceof Uint8Array ? decodeReceipt(receipt) : receipt;
    const content = openReceipt(r);
    const key = issuerKeyFor(content.certificate, keys);
    checkDates(content.certificate, key, content.request.terminalTime || now);
    checkCertificateSignature(content.certificate, key, verify);
    checkPaymentSignature(content.certificate, r.request, content.response, verify);
    return { ok: true, ...content };
  } catch (e) {
    if (e instanceof DeclineError) return { ok: false, reason: e.decline };
    if (e instanceof TlvError) return { ok: false, reason: decline('protocol', e.message) };
    throw e;
  }
}

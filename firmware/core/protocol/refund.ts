// Offline refunds (docs/PROTOCOL.md "Offline refunds"): the terminal's certificate (its device key,
// signed by the provisioning root key, which the wallet trusts), the REFUND request the terminal signs
// naming the original payment, the wallet's signed REFUND response, and the journal records of a
// refund (the record, the intent before REFUND, the release). Canonical BER-TLV like every message.
import { concatBytes, fromHex, toHex, utf8Encode } from '../../base/bytes';
import { SIGNATURE_LENGTH, type Alg } from './alg';
import { decodeFields, decodeUint, encodeTlv, encodeUint, required, TlvError, type FieldRule, type Tlv } from './tlv';
import { decodeEnvelope, encodeEnvelope } from './envelope';
import { asciiId, MAX_CERTIFICATE_BYTES, MAX_AMOUNT, readAsciiId } from './messages';

export const TERMINAL_CERTIFICATE_DOMAIN = utf8Encode('tapline/terminal/v1\u0000');
export const REFUND_REQUEST_DOMAIN = utf8Encode('tapline/refund-request/v1\u0000');
export const REFUND_DOMAIN = utf8Encode('tapline/refund/v1\u0000');

/** Journal record types (docs/JOURNAL.md): the refund, its intent (before REFUND), its release. */
export const RECORD_REFUND = 0x08;
export const RECORD_REFUND_INTENT = 0x09;
export const RECORD_REFUND_RELEASE = 0x0a;

export const MAX_TERMINAL_CERTIFICATE_BYTES = 160;
export const MAX_REFUND_REQUEST_BYTES = 220;
export const MAX_REFUND_RESPONSE_BYTES = 90;
export const MAX_REFUND_RECORD_BYTES = 600;
const P256_COMPRESSED_BYTES = 33;

function amount(name: string, value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 1 || value > MAX_AMOUNT) throw new TlvError(`${name} ${value}`);
  return encodeUint(value, 6);
}

function readAmount(name: string, value: Uint8Array): number {
  const n = decodeUint(value);
  if (n === 0) throw new TlvError(`${name} 0`);
  return n;
}

// ---- terminal certificate ----

const TC = { version: 0x80, terminalId: 0x81, merchantId: 0x82, publicKey: 0x83, notAfter: 0x84, signature: 0x85 } as const;
const TC_RULES: Record<number, FieldRule> = {
  [TC.version]: { min: 1, max: 1 },
  [TC.terminalId]: { min: 1, max: 16 },
  [TC.merchantId]: { min: 1, max: 16 },
  [TC.publicKey]: { min: P256_COMPRESSED_BYTES, max: P256_COMPRESSED_BYTES },
  [TC.notAfter]: { min: 4, max: 4 },
  [TC.signature]: { min: SIGNATURE_LENGTH, max: SIGNATURE_LENGTH },
};

/** What the provisioning root key says about a terminal: its ids and its P-256 device key (SEC1 compressed). */
export interface TerminalCertificateBody {
  terminalId: string;
  merchantId: string;
  publicKey: Uint8Array;
  /** Unix seconds: a refund later than this (by the terminal's time) is refused. */
  notAfter: number;
}

export interface TerminalCertificate extends TerminalCertificateBody {
  signature: Uint8Array;
  tbs: Uint8Array;
  bytes: Uint8Array;
}

export function encodeTerminalCertificateBody(b: TerminalCertificateBody): Uint8Array {
  if (b.publicKey.length !== P256_COMPRESSED_BYTES) throw new TlvError(`device key of ${b.publicKey.length} bytes`);
  return encodeTlv([
    { tag: TC.version, value: encodeUint(1, 1) },
    { tag: TC.terminalId, value: asciiId('terminalId', b.terminalId) },
    { tag: TC.merchantId, value: asciiId('merchantId', b.merchantId) },
    { tag: TC.publicKey, value: b.publicKey },
    { tag: TC.notAfter, value: encodeUint(b.notAfter, 4) },
  ]);
}

export function terminalCertificateSignedPayload(tbs: Uint8Array): Uint8Array {
  return concatBytes(TERMINAL_CERTIFICATE_DOMAIN, tbs);
}

export function encodeTerminalCertificate(b: TerminalCertificateBody, signature: Uint8Array): Uint8Array {
  if (signature.length !== SIGNATURE_LENGTH) throw new TlvError(`signature of ${signature.length} bytes`);
  return concatBytes(encodeTerminalCertificateBody(b), encodeTlv([{ tag: TC.signature, value: signature }]));
}

/** Parses a terminal certificate (untrusted bytes). Throws TlvError. Says nothing about its signature. */
export function decodeTerminalCertificate(bytes: Uint8Array): TerminalCertificate {
  const f = decodeFields(bytes, TC_RULES, MAX_TERMINAL_CERTIFICATE_BYTES);
  if (required(f, TC.version)[0] !== 1) throw new TlvError(`terminal certificate version ${required(f, TC.version)[0]}`);
  const signature = required(f, TC.signature);
  return {
    terminalId: readAsciiId('terminalId', required(f, TC.terminalId)),
    merchantId: readAsciiId('merchantId', required(f, TC.merchantId)),
    publicKey: required(f, TC.publicKey).slice(),
    notAfter: decodeUint(required(f, TC.notAfter)),
    signature: signature.slice(),
    tbs: bytes.slice(0, signature.byteOffset - bytes.byteOffset - 2),
    bytes: bytes.slice(),
  };
}

// ---- REFUND request ----

const Q = {
  refundSeq: 0x80,
  terminalId: 0x81,
  walletId: 0x82,
  originalSeq: 0x83,
  originalCounter: 0x84,
  originalAmount: 0x85,
  originalSignature: 0x86,
  amount: 0x87,
  currency: 0x88,
  terminalTime: 0x89,
  signature: 0x8b,
} as const;
const REQUEST_RULES: Record<number, FieldRule> = {
  [Q.refundSeq]: { min: 4, max: 4 },
  [Q.terminalId]: { min: 1, max: 16 },
  [Q.walletId]: { min: 8, max: 8 },
  [Q.originalSeq]: { min: 4, max: 4 },
  [Q.originalCounter]: { min: 4, max: 4 },
  [Q.originalAmount]: { min: 6, max: 6 },
  [Q.originalSignature]: { min: SIGNATURE_LENGTH, max: SIGNATURE_LENGTH },
  [Q.amount]: { min: 6, max: 6 },
  [Q.currency]: { min: 2, max: 2 },
  [Q.terminalTime]: { min: 4, max: 4 },
  [Q.signature]: { min: SIGNATURE_LENGTH, max: SIGNATURE_LENGTH },
};

/** What the terminal asks the wallet to credit, and the payment it gives back. */
export interface RefundRequestBody {
  /** The refund's own terminal sequence number: its id, rising per terminal. */
  refundSeq: number;
  terminalId: string;
  walletId: string;
  /** The original payment as the terminal's journal holds it: its sequence, the wallet's counter and signature, its amount. */
  originalSeq: number;
  originalCounter: number;
  originalAmount: number;
  originalSignature: Uint8Array;
  /** Minor units, at most what is left of the original. */
  amount: number;
  currency: number;
  /** Unix seconds, 0 when the terminal does not know it. */
  terminalTime: number;
}

export interface RefundRequest extends RefundRequestBody {
  /** The terminal's device-key signature over REFUND_REQUEST_DOMAIN || tbs. */
  signature: Uint8Array;
  tbs: Uint8Array;
}

export function encodeRefundRequestBody(r: RefundRequestBody): Uint8Array {
  if (r.originalSignature.length !== SIGNATURE_LENGTH) throw new TlvError('original signature must be 64 bytes');
  if (!/^[0-9a-f]{16}$/.test(r.walletId)) throw new TlvError('walletId must be 16 lowercase hex digits');
  return encodeTlv([
    { tag: Q.refundSeq, value: encodeUint(r.refundSeq, 4) },
    { tag: Q.terminalId, value: asciiId('terminalId', r.terminalId) },
    { tag: Q.walletId, value: fromHex(r.walletId) },
    { tag: Q.originalSeq, value: encodeUint(r.originalSeq, 4) },
    { tag: Q.originalCounter, value: encodeUint(r.originalCounter, 4) },
    { tag: Q.originalAmount, value: amount('original amount', r.originalAmount) },
    { tag: Q.originalSignature, value: r.originalSignature },
    { tag: Q.amount, value: amount('amount', r.amount) },
    { tag: Q.currency, value: encodeUint(r.currency, 2) },
    { tag: Q.terminalTime, value: encodeUint(r.terminalTime, 4) },
  ]);
}

export function refundRequestSignedPayload(tbs: Uint8Array): Uint8Array {
  return concatBytes(REFUND_REQUEST_DOMAIN, tbs);
}

export function encodeRefundRequest(r: RefundRequestBody, signature: Uint8Array): Uint8Array {
  if (signature.length !== SIGNATURE_LENGTH) throw new TlvError(`signature of ${signature.length} bytes`);
  return concatBytes(encodeRefundRequestBody(r), encodeTlv([{ tag: Q.signature, value: signature }]));
}

/** Parses a REFUND request (untrusted bytes). Throws TlvError. */
export function decodeRefundRequest(bytes: Uint8Array): RefundRequest {
  const f = decodeFields(bytes, REQUEST_RULES, MAX_REFUND_REQUEST_BYTES);
  const signature = required(f, Q.signature);
  const r = {
    refundSeq: decodeUint(required(f, Q.refundSeq)),
    terminalId: readAsciiId('terminalId', required(f, Q.terminalId)),
    walletId: toHex(required(f, Q.walletId)),
    originalSeq: decodeUint(required(f, Q.originalSeq)),
    originalCounter: decodeUint(required(f, Q.originalCounter)),
    originalAmount: readAmount('original amount', required(f, Q.originalAmount)),
    originalSignature: required(f, Q.originalSignature).slice(),
    amount: readAmount('amount', required(f, Q.amount)),
    currency: decodeUint(required(f, Q.currency)),
    terminalTime: decodeUint(required(f, Q.terminalTime)),
    signature: signature.slice(),
    tbs: bytes.slice(0, signature.byteOffset - bytes.byteOffset - 2),
  };
  if (r.refundSeq <= r.originalSeq) throw new TlvError(`refund ${r.refundSeq} is not after its original ${r.originalSeq}`);
  return r;
}

// ---- REFUND response ----

const R = { counter: 0x80, balanceAfter: 0x81, signature: 0x82 } as const;
const RESPONSE_RULES: Record<number, FieldRule> = {
  [R.counter]: { min: 4, max: 4 },
  [R.balanceAfter]: { min: 6, max: 6 },
  [R.signature]: { min: SIGNATURE_LENGTH, max: SIGNATURE_LENGTH },
};

export interface RefundResponseBody {
  /** The wallet's counter after the credit: a refund moves it like a payment. */
  counter: number;
  /** The balance credited after the refund (the purse's, for a bound original). */
  balanceAfter: number;
}

export interface RefundResponse extends RefundResponseBody {
  signature: Uint8Array;
  tbs: Uint8Array;
}

export function encodeRefundResponseBody(b: RefundResponseBody): Uint8Array {
  return encodeTlv([
    { tag: R.counter, value: encodeUint(b.counter, 4) },
    { tag: R.balanceAfter, value: encodeUint(b.balanceAfter, 6) },
  ]);
}

export function encodeRefundResponse(b: RefundResponseBody, signature: Uint8Array): Uint8Array {
  if (signature.length !== SIGNATURE_LENGTH) throw new TlvError(`signature of ${signature.length} bytes`);
  return concatBytes(encodeRefundResponseBody(b), encodeTlv([{ tag: R.signature, value: signature }]));
}

export function decodeRefundResponse(bytes: Uint8Array): RefundResponse {
  const f = decodeFields(bytes, RESPONSE_RULES, MAX_REFUND_RESPONSE_BYTES);
  const signature = required(f, R.signature);
  return {
    counter: decodeUint(required(f, R.counter)),
    balanceAfter: decodeUint(required(f, R.balanceAfter)),
    signature: signature.slice(),
    tbs: bytes.slice(0, signature.byteOffset - bytes.byteOffset - 2),
  };
}

/**
 * What the wallet signs for a refund: the refund domain, then its algorithm, the digest of its whole
 * certificate, the request exactly as received (the terminal's signature inside) and its response fields.
 */
export function refundSignedPayload(alg: Alg, certDigest: Uint8Array, request: Uint8Array, responseTbs: Uint8Array): Uint8Array {
  return concatBytes(
    REFUND_DOMAIN,
    encodeTlv([
      { tag: 0x80, value: encodeUint(alg, 1) },
      { tag: 0x81, value: certDigest },
      { tag: 0x82, value: request },
      { tag: 0x83, value: responseTbs },
    ]),
  );
}

// ---- journal records ----

const RECORD_VERSION = 1;
// Inside the receipt envelope (80 version, 81 terminal sequence): tag 87 holds the refund, so a refund
// record never parses as a receipt (which needs 82..85) and the service tells them apart by it.
const REFUND_TAG = 0x87;
const BODY = { certificate: 0x80, request: 0x81, response: 0x82 } as const;

export interface RefundRecord {
  /** The refund's terminal sequence (also inside the request). */
  refundSeq: number;
  /** The wallet's certificate, the REFUND request and the REFUND response, byte for byte. */
  certificate: Uint8Array;
  request: Uint8Array;
  /** Absent in an intent: journaled before REFUND is sent. */
  response?: Uint8Array;
}

const BODY_RULES: Record<number, FieldRule> = {
  [BODY.certificate]: { min: 1, max: MAX_CERTIFICATE_BYTES },
  [BODY.request]: { min: 1, max: MAX_REFUND_REQUEST_BYTES },
  [BODY.response]: { min: 1, max: MAX_REFUND_RESPONSE_BYTES, optional: true },
};
const RECORD_RULES: Record<number, FieldRule> = { [REFUND_TAG]: { min: 1, max: MAX_REFUND_RECORD_BYTES } };

/** The refund record (RECORD_REFUND, with the response) or its intent (RECORD_REFUND_INTENT, without). */
export function encodeRefundRecord(r: RefundRecord): Uint8Array {
  const body: Tlv[] = [
    { tag: BODY.certificate, value: r.certificate },
    { tag: BODY.request, value: r.request },
    ...(r.response ? [{ tag: BODY.response, value: r.response }] : []),
  ];
  return encodeEnvelope(RECORD_VERSION, r.refundSeq, [{ tag: REFUND_TAG, value: encodeTlv(body) }]);
}

/** Parses a refund record or intent (untrusted bytes). Throws TlvError. The messages inside are not parsed. */
export function decodeRefundRecord(bytes: Uint8Array): RefundRecord {
  const { terminalSeq, fields } = decodeEnvelope(bytes, 'refund', RECORD_VERSION, RECORD_RULES, MAX_REFUND_RECORD_BYTES + 16);
  const f = decodeFields(required(fields, REFUND_TAG), BODY_RULES, MAX_REFUND_RECORD_BYTES);
  const response = f.get(BODY.response);
  return {
    refundSeq: terminalSeq,
    certificate: required(f, BODY.certificate).slice(),
    request: required(f, BODY.request).slice(),
    ...(response ? { response: response.slice() } : {}),
  };
}

/** A record of a batch is a refund, not a receipt: its first field after the envelope is tag 87. */
export function isRefundRecord(bytes: Uint8Array): boolean {
  // 80 01 vv 81 04 ss ss ss ss, then the record's first field
  return bytes.length > 9 && bytes[0] === 0x80 && bytes[3] === 0x81 && bytes[9] === REFUND_TAG;
}

export function encodeRefundRelease(refundSeq: number): Uint8Array {
  return encodeUint(refundSeq, 4);
}

export function decodeRefundRelease(bytes: Uint8Array): number {
  if (bytes.length !== 4) throw new TlvError(`refund release of ${bytes.length} bytes`);
  return decodeUint(bytes);
}

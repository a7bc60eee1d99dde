// The wallet protocol's messages in canonical BER-TLV (protocol/tlv.ts): the wallet's certificate, the
// terminal's PAY request and the wallet's PAY response, and the exact bytes each signature covers.
// Every field has a fixed or bounded size, every message appears in one form only.
import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, fromHex, toHex, utf8Encode } from '../../base/bytes';
import { isAlg, type Alg, publicKeyFits, SIGNATURE_LENGTH } from './alg';
import { decodeFields, required, decodeUint, encodeTlv, encodeUint, pickFields, TlvError, type FieldRule, type Tlv } from './tlv';
import { decodeTransitTap, encodeTransitTap, TRANSIT_TAP_BYTES, type TransitTap } from './transit-log';

export const PROTOCOL_VERSION = 1;

/** Domain separation: each kind of signed data starts with its own ASCII prefix (and a NUL). */
export const CERTIFICATE_DOMAIN = utf8Encode('tapline/certificate/v1\u0000');
export const PAYMENT_DOMAIN = utf8Encode('tapline/payment/v1\u0000');

export const MAX_CERTIFICATE_BYTES = 255;
// 128 for a payment, plus a transit tap (tag 8C, 44 bytes)
export const MAX_REQUEST_BYTES = 176;
export const MAX_RESPONSE_BYTES = 128;
export const MIN_CHALLENGE_BYTES = 16;
export const MAX_CHALLENGE_BYTES = 32;
export const MAX_AMOUNT = 2 ** 48 - 1;

// ---- certificate ----

const C = {
  version: 0x80,
  serial: 0x81,
  walletId: 0x82,
  alg: 0x83,
  publicKey: 0x84,
  walletClass: 0x85,
  singleLimit: 0x86,
  dailyLimit: 0x87,
  notBefore: 0x88,
  notAfter: 0x89,
  issuerKeyId: 0x8a,
  issuerAlg: 0x8b,
  signature: 0x8c,
  // The wallet's own offline caps (optional): after the signature on the wire, inside what is signed.
  offlineAmountCap: 0x8d,
  offlineCountCap: 0x8e,
  // transit fares: a concession entitlement and the day it ends (both optional)
  concession: 0x90,
  concessionUntil: 0x91,
} as const;

const CERTIFICATE_RULES: Record<number, FieldRule> = {
  [C.version]: { min: 1, max: 1 },
  [C.serial]: { min: 8, max: 8 },
  [C.walletId]: { min: 8, max: 8 },
  [C.alg]: { min: 1, max: 1 },
  [C.publicKey]: { min: 32, max: 65 },
  [C.walletClass]: { min: 1, max: 1 },
  [C.singleLimit]: { min: 6, max: 6 },
  [C.dailyLimit]: { min: 6, max: 6 },
  [C.notBefore]: { min: 4, max: 4 },
  [C.notAfter]: { min: 4, max: 4 },
  [C.issuerKeyId]: { min: 4, max: 4 },
  [C.issuerAlg]: { min: 1, max: 1 },
  [C.signature]: { min: SIGNATURE_LENGTH, max: SIGNATURE_LENGTH },
  [C.offlineAmountCap]: { min: 6, max: 6, optional: true },
  [C.offlineCountCap]: { min: 2, max: 2, optional: true },
  [C.concession]: { min: 1, max: 1, optional: true },
  [C.concessionUntil]: { min: 4, max: 4, optional: true },
};

/** What an issuer signs about a wallet. Ids are 8 bytes, written as 16 lowercase hex digits. */
export interface CertificateBody {
  serial: string;
  walletId: string;
  alg: Alg;
  publicKey: Uint8Array;
  walletClass: number;
  /** The wallet's own limits as issued (minor units). */
  singleLimit: number;
  dailyLimit: number;
  /** Unix seconds. */
  notBefore: number;
  notAfter: number;
  issuerKeyId: number;
  /** The issuer key's algorithm, bound into the signed bytes so one algorithm cannot pass for another. */
  issuerAlg: Alg;
  /**
   * The wallet's own offline caps since its last sync with the issuer (amount in minor units, number
   * of payments), set by the issuer from the wallet class; the wallet enforces them itself.
   */
  offlineAmountCap?: number;
  offlineCountCap?: number;
  /**
   * A concession entitlement (1..255: the operator's fare rules say what each is worth), until
   * `concessionUntil` (unix seconds). Fields 90 and 91, after the signature in the encoding and signed.
   */
  concession?: number;
  concessionUntil?: number;
}

export interface Certificate extends CertificateBody {
  signature: Uint8Array;
  /** The signed part: every field but the signature, as encoded. */
  tbs: Uint8Array;
  /** The whole certificate as the wallet sent it. */
  bytes: Uint8Array;
}

function id8(name: string, hex: string): Uint8Array {
  if (!/^[0-9a-f]{16}$/.test(hex)) throw new TlvError(`${name} must be 16 lowercase hex digits`);
  return fromHex(hex);
}

function algByte(name: string, value: Uint8Array): Alg {
  const alg = decodeUint(value);
  if (!isAlg(alg)) throw new TlvError(`${name}: unknown algorithm ${alg}`);
  return alg;
}

function certificateFields(body: CertificateBody): Tlv[] {
  if (!publicKeyFits(body.alg, body.publicKey)) throw new TlvError('public key does not fit its algorithm');
  return [
    { tag: C.version, value: encodeUint(PROTOCOL_VERSION, 1) },
    { tag: C.serial, value: id8('serial', body.serial) },
    { tag: C.walletId, value: id8('walletId', body.walletId) },
    { tag: C.alg, value: encodeUint(body.alg, 1) },
    { tag: C.publicKey, value: body.publicKey },
    { tag: C.walletClass, value: encodeUint(body.walletClass, 1) },
    { tag: C.singleLimit, value: encodeUint(body.singleLimit, 6) },
    { tag: C.dailyLimit, value: encodeUint(body.dailyLimit, 6) },
    { tag: C.notBefore, value: encodeUint(body.notBefore, 4) },
    { tag: C.notAfter, value: encodeUint(body.notAfter, 4) },
    { tag: C.issuerKeyId, value: encodeUint(body.issuerKeyId, 4) },
    { tag: C.issuerAlg, value: encodeUint(body.issuerAlg, 1) },
  ];
}

function capFields(body: CertificateBody): Tlv[] {
  const out: Tlv[] = [];
  if (body.offlineAmountCap !== undefined) out.push({ tag: C.offlineAmountCap, value: encodeUint(body.offlineAmountCap, 6) });
  if (body.offlineCountCap !== undefined) out.push({ tag: C.offlineCountCap, value: encodeUint(body.offlineCountCap, 2) });
  return out;
}

function concessionFields(body: CertificateBody): Tlv[] {
  if (body.concession === undefined) {
    if (body.concessionUntil !== undefined) throw new TlvError('a concession end without a concession');
    return [];
  }
  if (!Number.isInteger(body.concession) || body.concession < 1 || body.concession > 255) throw new TlvError(`concession ${body.concession}`);
  const out: Tlv[] = [{ tag: C.concession, value: encodeUint(body.concession, 1) }];
  if (body.concessionUntil !== undefined) out.push({ tag: C.concessionUntil, value: encodeUint(body.concessionUntil, 4) });
  return out;
}

/** The bytes an issuer signs for `body`. */
export function certificateSignedPayload(tbs: Uint8Array): Uint8Array {
  return concatBytes(CERTIFICATE_DOMAIN, tbs);
}

/** What the issuer signs: every field but the signature, in order. */
export function encodeCertificateBody(body: CertificateBody): Uint8Array {
  return encodeTlv([...certificateFields(body), ...capFields(body), ...concessionFields(body)]);
}

export function encodeCertificate(body: CertificateBody, signature: Uint8Array): Uint8Array {
  if (signature.length !== SIGNATURE_LENGTH) throw new TlvError(`signature of ${signature.length} bytes`);
  return encodeTlv([...certificateFields(body), { tag: C.signature, value: signature }, ...capFields(body), ...concessionFields(body)]);
}

/** Parses a certificate (untrusted bytes). Throws TlvError. Says nothing about its signature. */
export function decodeCertificate(bytes: Uint8Array): Certificate {
  const f = decodeFields(bytes, CERTIFICATE_RULES, MAX_CERTIFICATE_BYTES);
  if (required(f, C.version)[0] !== PROTOCOL_VERSION) throw new TlvError(`certificate version ${required(f, C.version)[0]}`);
  const alg = algByte('wallet', required(f, C.alg));
  const publicKey = required(f, C.publicKey).slice();
  if (!publicKeyFits(alg, publicKey)) throw new TlvError(`public key of ${publicKey.length} bytes does not fit algorithm ${alg}`);
  const signature = required(f, C.signature);
  const sigStart = signature.byteOffset - bytes.byteOffset - 2;
  const sigEnd = sigStart + 2 + SIGNATURE_LENGTH;
  const concession = f.get(C.concession);
  const concessionUntil = f.get(C.concessionUntil);
  if (concessionUntil && !concession) throw new TlvError('a concession end without a concession');
  if (concession && concession[0] === 0) throw new TlvError('concession 0');
  const notBefore = decodeUint(required(f, C.notBefore));
  const notAfter = decodeUint(required(f, C.notAfter));
  const amountCap = f.get(C.offlineAmountCap);
  const countCap = f.get(C.offlineCountCap);
  return {
    ...(amountCap ? { offlineAmountCap: decodeUint(amountCap) } : {}),
    ...(countCap ? { offlineCountCap: decodeUint(countCap) } : {}),
    serial: toHex(required(f, C.serial)),
    walletId: toHex(required(f, C.walletId)),
    alg,
    publicKey,
    walletClass: decodeUint(required(f, C.walletClass)),
    singleLimit: decodeUint(required(f, C.singleLimit)),
    dailyLimit: decodeUint(required(f, C.dailyLimit)),
    notBefore,
    notAfter,
    issuerKeyId: decodeUint(required(f, C.issuerKeyId)),
    issuerAlg: algByte('issuer', required(f, C.issuerAlg)),
    ...(concession ? { concession: decodeUint(concession) } : {}),
    ...(concessionUntil ? { concessionUntil: decodeUint(concessionUntil) } : {}),
    signature: signature.slice(),
    tbs: concatBytes(bytes.subarray(0, sigStart), bytes.subarray(sigEnd)),
    bytes: bytes.slice(),
  };
}

const WALLET_ID = [C.walletId];

/** The wallet id (16 hex digits) of a certificate this terminal journaled, without decoding the rest (pickFields). */
export function certificateWalletId(bytes: Uint8Array): string {
  return toHex(pickFields(bytes, CERTIFICATE_RULES, WALLET_ID)[0]!);
}

export function certificateDigest(certificate: Uint8Array): Uint8Array {
  return sha256(certificate);
}

// ---- PAY request ----

const Q = {
  challenge: 0x80,
  amount: 0x81,
  currency: 0x82,
  terminalId: 0x83,
  merchantId: 0x84,
  terminalTime: 0x85,
  terminalSeq: 0x86,
  cvmRequired: 0x87,
  // Purpose-bound funds (protocol/purpose.ts): the balance that pays and where; all three or none.
  purse: 0x88,
  merchantCategory: 0x89,
  region: 0x8a,
  transit: 0x8c,
} as const;

const REQUEST_RULES: Record<number, FieldRule> = {
  [Q.challenge]: { min: MIN_CHALLENGE_BYTES, max: MAX_CHALLENGE_BYTES },
  [Q.amount]: { min: 6, max: 6 },
  [Q.currency]: { min: 2, max: 2 },
  [Q.terminalId]: { min: 1, max: 16 },
  [Q.merchantId]: { min: 1, max: 16 },
  [Q.terminalTime]: { min: 4, max: 4 },
  [Q.terminalSeq]: { min: 4, max: 4 },
  [Q.cvmRequired]: { min: 1, max: 1 },
  [Q.purse]: { min: 1, max: 1, optional: true },
  [Q.merchantCategory]: { min: 2, max: 2, optional: true },
  [Q.region]: { min: 2, max: 2, optional: true },
  [Q.transit]: { min: TRANSIT_TAP_BYTES, max: TRANSIT_TAP_BYTES, optional: true },
};

export interface PayRequest {
  /** Fresh random bytes from the terminal, 16 to 32 of them. */
  challenge: Uint8Array;
  /** Minor units. */
  amount: number;
  /** ISO 4217 numeric. */
  currency: number;
  /** Printable ASCII, 1 to 16 characters. */
  terminalId: string;
  merchantId: string;
  /** Unix seconds, 0 when the terminal does not know the time. */
  terminalTime: number;
  /** The terminal's sequence number for this payment (the receipt's number). */
  terminalSeq: number;
  /** The terminal requires the holder verified (amount above the CVM threshold). */
  cvmRequired: boolean;
  /** A bound balance pays (absent: the free money), at this merchant category and region. */
  bound?: { purse: number; merchantCategory: number; region: number };
  /** Transit with fare rules: the log the fare was computed from and the tap the wallet adds to it. */
  transit?: TransitTap;
}

/** Printable ASCII ids of 1 to 16 characters (terminal, merchant). Throws TlvError. */
export function asciiId(name: string, text: string): Uint8Array {
  if (!/^[\x21-\x7e]{1,16}$/.test(text)) throw new TlvError(`${name} must be 1 to 16 printable ASCII characters`);
  return utf8Encode(text);
}

export function readAsciiId(name: string, value: Uint8Array): string {
  let s = '';
  for (const b of value) {
    if (b < 0x21 || b > 0x7e) throw new TlvError(`${name} is not printable ASCII`);
    s += String.fromCharCode(b);
  }
  return s;
}

function flag(name: string, value: Uint8Array): boolean {
  const v = decodeUint(value);
  if (v > 1) throw new TlvError(`${name} must be 0 or 1`);
  return v === 1;
}

export function encodePayRequest(r: PayRequest): Uint8Array {
  if (r.challenge.length < MIN_CHALLENGE_BYTES || r.challenge.length > MAX_CHALLENGE_BYTES) {
    throw new TlvError(`challenge of ${r.challenge.length} bytes`);
  }
  return encodeTlv([
    { tag: Q.challenge, value: r.challenge },
    { tag: Q.amount, value: encodeUint(r.amount, 6) },
    { tag: Q.currency, value: encodeUint(r.currency, 2) },
    { tag: Q.terminalId, value: asciiId('terminalId', r.terminalId) },
    { tag: Q.merchantId, value: asciiId('merchantId', r.merchantId) },
    { tag: Q.terminalTime, value: encodeUint(r.terminalTime, 4) },
    { tag: Q.terminalSeq, value: encodeUint(r.terminalSeq, 4) },
    { tag: Q.cvmRequired, value: encodeUint(r.cvmRequired ? 1 : 0, 1) },
    ...(r.bound
      ? [
          { tag: Q.purse, value: encodeUint(r.bound.purse, 1) },
          { tag: Q.merchantCategory, value: encodeUint(r.bound.merchantCategory, 2) },
          { tag: Q.region, value: encodeUint(r.bound.region, 2) },
        ]
      : []),
    ...(r.transit ? [{ tag: Q.transit, value: encodeTransitTap(r.transit) }] : []),
  ]);
}

export function decodePayRequest(bytes: Uint8Array): PayRequest {
  const f = decodeFields(bytes, REQUEST_RULES, MAX_REQUEST_BYTES);
  const purse = f.get(Q.purse);
  const category = f.get(Q.merchantCategory);
  const region = f.get(Q.region);
  if (!(purse && category && region) && (purse || category || region)) throw new TlvError('purse, merchant category and region come together');
  if (purse && (decodeUint(purse) === 0 || decodeUint(purse) > 15)) throw new TlvError(`purse ${decodeUint(purse)} outside 1..15`);
  return {
    ...(purse && category && region ? { bound: { purse: decodeUint(purse), merchantCategory: decodeUint(category), region: decodeUint(region) } } : {}),
    challenge: required(f, Q.challenge).slice(),
    amount: decodeUint(required(f, Q.amount)),
    currency: decodeUint(required(f, Q.currency)),
    terminalId: readAsciiId('terminalId', required(f, Q.terminalId)),
    merchantId: readAsciiId('merchantId', required(f, Q.merchantId)),
    terminalTime: decodeUint(required(f, Q.terminalTime)),
    terminalSeq: decodeUint(required(f, Q.terminalSeq)),
    cvmRequired: flag('cvmRequired', required(f, Q.cvmRequired)),
    ...(f.has(Q.transit) ? { transit: decodeTransitTap(required(f, Q.transit)) } : {}),
  };
}

const REQUEST_FACTS = [Q.amount, Q.terminalTime, Q.terminalSeq];

/** The amount, time and sequence of a PAY request this terminal journaled, without decoding the rest (pickFields). */
export function payRequestFacts(bytes: Uint8Array): { amount: number; terminalTime: number; terminalSeq: number } {
  const f = pickFields(bytes, REQUEST_RULES, REQUEST_FACTS);
  return { amount: decodeUint(f[0]!), terminalTime: decodeUint(f[1]!), terminalSeq: decodeUint(f[2]!) };
}

// ---- PAY response ----

const R = {
  counter: 0x80,
  balanceAfter: 0x81,
  holderVerified: 0x82,
  signature: 0x83,
} as const;

const RESPONSE_RULES: Record<number, FieldRule> = {
  [R.counter]: { min: 4, max: 4 },
  [R.balanceAfter]: { min: 6, max: 6 },
  [R.holderVerified]: { min: 1, max: 1 },
  [R.signature]: { min: SIGNATURE_LENGTH, max: SIGNATURE_LENGTH },
};

export interface PayResponseBody {
  /** The wallet's monotonic transaction counter, after this payment. */
  counter: number;
  balanceAfter: number;
  /** The holder was verified (PIN on the wallet or terminal, or biometric on a phone). */
  holderVerified: boolean;
}

export interface PayResponse extends PayResponseBody {
  signature: Uint8Array;
  /** The signed part: every field but the signature, as encoded. */
  tbs: Uint8Array;
}

export function encodePayResponseBody(b: PayResponseBody): Uint8Array {
  return encodeTlv([
    { tag: R.counter, value: encodeUint(b.counter, 4) },
    { tag: R.balanceAfter, value: encodeUint(b.balanceAfter, 6) },
    { tag: R.holderVerified, value: encodeUint(b.holderVerified ? 1 : 0, 1) },
  ]);
}

export function encodePayResponse(b: PayResponseBody, signature: Uint8Array): Uint8Array {
  if (signature.length !== SIGNATURE_LENGTH) throw new TlvError(`signature of ${signature.length} bytes`);
  return concatBytes(encodePayResponseBody(b), encodeTlv([{ tag: R.signature, value: signature }]));
}

export function decodePayResponse(bytes: Uint8Array): PayResponse {
  const f = decodeFields(bytes, RESPONSE_RULES, MAX_RESPONSE_BYTES);
  const signature = required(f, R.signature);
  return {
    counter: decodeUint(required(f, R.counter)),
    balanceAfter: decodeUint(required(f, R.balanceAfter)),
    holderVerified: flag('holderVerified', required(f, R.holderVerified)),
    signature: signature.slice(),
    tbs: bytes.slice(0, signature.byteOffset - bytes.byteOffset - 2),
  };
}

const COUNTER = [R.counter];

/** The counter of a PAY response this terminal journaled, without decoding the rest (pickFields). */
export function payResponseCounter(bytes: Uint8Array): number {
  return decodeUint(pickFields(bytes, RESPONSE_RULES, COUNTER)[0]!);
}

/**
 * What the wallet signs: the payment domain, then a TLV of the wallet's algorithm, the digest of its
 * whole certificate, the request bytes exactly as received and the response fields before the signature.
 * Everything both sides said, so changing any byte of it (amount, terminal, challenge, counter) fails.
 * A caller that already holds the certificate's digest (the terminal's verifier) passes it.
 */
export function paymentSignedPayload(
  alg: Alg,
  certificate: Uint8Array,
  request: Uint8Array,
  responseTbs: Uint8Array,
  certDigest: Uint8Array = certificateDigest(certificate),
): Uint8Array {
  return concatBytes(
    PAYMENT_DOMAIN,
    encodeTlv([
      { tag: 0x80, value: encodeUint(alg, 1) },
      { tag: 0x81, value: certDigest },
      { tag: 0x82, value: request },
      { tag: 0x83, value: responseTbs },
    ]),
  );
}

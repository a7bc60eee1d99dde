// Receipt re-verification on the server. The checks are the payment core's own (protocol/receipt.ts,
// crypto/certificate.ts): same parsing, same key lookup, same date rules, same signed payloads. Only the
// signature primitive differs: node:crypto (OpenSSL) verifies P-256 and Ed25519 many times faster than
// the pure-JS verifier the terminal needs (bench/settlement.bench.ts measures both). The semantics match
// the core's verifySignature: P-256 over SHA-256 with r || s and high S accepted, Ed25519 per RFC 8032;
// test/settlement-verify.test.ts checks that the two agree on valid and mutated signatures.
//
// What makes it fast: parsed public keys (KeyObjects) are kept, bounded, across batches; a wallet's
// certificate whose issuer signature verified once is not verified again (its dates and its issuer
// key's state still are, on every receipt); whole receipts are checked in a pool of worker threads
// (verify-pool.ts) while the main thread settles.
import { createHash, createPublicKey, ECDH, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { checkDates, issuerKeyFor, type KeyLookup } from '../../firmware/core/crypto/certificate';
import type { IssuerKey } from '../../firmware/core/crypto/keyring';
import { ALG_P256, publicKeyFits, SIGNATURE_LENGTH, type Alg } from '../../firmware/core/crypto/verify';
import { certificateSignedPayload, decodeCertificate, paymentSignedPayload, type Certificate } from '../../firmware/core/protocol/messages';
import { decodeReceipt, openReceipt, type Receipt, type ReceiptContent } from '../../firmware/core/protocol/receipt';
import { verifyReceipt, type ReceiptCheck } from '../../firmware/core/crypto/receipt';
import { checkGrantSignature } from '../../firmware/core/crypto/grant';
import { TlvError } from '../../firmware/core/protocol/tlv';
import { decline, DeclineError } from '../../firmware/base/reasons';
import { equalBytes, toHex } from '../../firmware/base/bytes';

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** A bounded map that forgets the entry used longest ago. */
export class Lru<K, V> {
  #map = new Map<K, V>();
  constructor(readonly max: number) {
    if (!(max >= 1)) throw new RangeError('an LRU needs room for one entry');
  }
  get size(): number {
    return this.#map.size;
  }
  get(key: K): V | undefined {
    const value = this.#map.get(key);
    if (value !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, value);
    }
    return value;
  }
  set(key: K, value: V): void {
    this.#map.delete(key);
    if (this.#map.size >= this.max) this.#map.delete(this.#map.keys().next().value!);
    this.#map.set(key, value);
  }
  clear(): void {
    this.#map.clear();
  }
}

/** Verifies signatures with node:crypto; keeps parsed public keys (issuer keys, and recent wallets). */
export class NodeVerifier {
  #keys: Lru<string, KeyObject | null>;

  constructor(options: { maxCachedKeys?: number } = {}) {
    this.#keys = new Lru(options.maxCachedKeys ?? 100_000);
  }

  /**
   * Same contract as firmware/core/crypto/verify.ts verifySignature: true only for a valid signature.
   * `parsed` is `publicKey` already parsed (parsePublicKey) by a caller that keeps its own.
   */
  verify(alg: Alg, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array, parsed?: KeyObject | null): boolean {
    if (signature.length !== SIGNATURE_LENGTH || !publicKeyFits(alg, publicKey)) return false;
    const key = parsed === undefined ? this.#key(alg, publicKey) : parsed;
    if (!key) return false;
    try {
      if (alg === ALG_P256) return nodeVerify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, signature);
      return nodeVerify(null, message, key, signature);
    } catch {
      return false;
    }
  }

  #key(alg: Alg, publicKey: Uint8Array): KeyObject | null {
    const id = `${alg}:${toHex(publicKey)}`;
    let key = this.#keys.get(id);
    if (key !== undefined) return key;
    key = parsePublicKey(alg, publicKey);
    this.#keys.set(id, key);
    return key;
  }
}

/** A public key as node:crypto's KeyObject; null for bytes that are no point of the curve. */
export function parsePublicKey(alg: Alg, publicKey: Uint8Array): KeyObject | null {
  try {
    if (alg !== ALG_P256) return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
    // OpenSSL 3.0's DER decoder costs two to three signature verifications per key; decompressing the
    // point (ECDH.convertKey refuses points off the curve) and importing its coordinates costs about one.
    const point = ECDH.convertKey(publicKey, 'prime256v1', undefined, undefined, 'uncompressed') as Buffer;
    return createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33, 65).toString('base64url') }, format: 'jwk' });
  } catch {
    return null;
  }
}

/** One signature to check. */
export interface SignatureCheck {
  alg: Alg;
  publicKey: Uint8Array;
  message: Uint8Array;
  signature: Uint8Array;
  /** `publicKey` parsed already (parsePublicKey), when the caller keeps it. */
  parsed?: KeyObject | null;
}

/** Checks many signatures at once (NodeVerifier in this thread, or a counting stand-in in tests). */
export interface SignatureVerifier {
  verifyAll(checks: SignatureCheck[]): Promise<boolean[]>;
  close(): Promise<void>;
}

export class InlineVerifier implements SignatureVerifier {
  constructor(readonly node = new NodeVerifier()) {}
  async verifyAll(checks: SignatureCheck[]): Promise<boolean[]> {
    return checks.map((c) => this.node.verify(c.alg, c.publicKey, c.message, c.signature, c.parsed));
  }
  async close(): Promise<void> {}
}

/** A receipt parsed and date-checked, waiting for its signatures. */
type Prepared =
  | { done: ReceiptCheck }
  | { done?: undefined; content: ReceiptContent; known: KnownCertificate; issuerPublicKey: Uint8Array; certificate?: SignatureCheck; payment: SignatureCheck };

/**
 * A wallet certificate met before, by its exact bytes: what every receipt of that wallet would
 * otherwise compute again (its decoding, its digest, the wallet's parsed key), and the issuer key its
 * signature verified under. Its own copy of the bytes, so that it holds no batch's buffer alive.
 */
interface KnownCertificate {
  certificate: Certificate;
  digest: Uint8Array;
  key: KeyObject | null;
  verifiedUnder: Uint8Array | undefined;
}

/** What settles a batch's receipts needs: their checks, in order. */
export interface ReceiptChecker {
  verify(receipts: Uint8Array[], keys: ReadonlyMap<number, IssuerKey>, now: number): Promise<ReceiptCheck[]>;
  /** The keyring changed: a certificate is verified again under the new keys. */
  forgetCertificates(): void;
  close(): Promise<void>;
}

/**
 * Re-verifies receipts as firmware/core/protocol/receipt.ts verifyReceipt does, with node:crypto for
 * the two signatures and a bounded memory of certificates already verified. `now` (unix seconds) stands
 * in for the payment time when the terminal did not know it.
 */
export class ReceiptVerifier implements ReceiptChecker {
  readonly signatures: SignatureVerifier;
  #certificates: Lru<string, KnownCertificate>;
  #node = new NodeVerifier();

  constructor(signatures: SignatureVerifier = new InlineVerifier(), options: { maxCachedCertificates?: number } = {}) {
    this.signatures = signatures;
    this.#certificates = new Lru(options.maxCachedCertificates ?? 100_000);
  }

  forgetCertificates(): void {
    this.#certificates.clear();
  }

  async close(): Promise<void> {
    await this.signatures.close();
  }

  async verify(receipts: (Receipt | Uint8Array)[], keys: KeyLookup, now: number): Promise<ReceiptCheck[]> {
    const prepared = receipts.map((r) => this.#prepare(r, keys, now));
    const checks: SignatureCheck[] = [];
    for (const p of prepared) {
      if (p.done) continue;
      if (p.certificate) checks.push(p.certificate);
      checks.push(p.payment);
    }
    const verdicts = await this.signatures.verifyAll(checks);
    let next = 0;
    return prepared.map((p) => {
      if (p.done) return p.done;
      const { certificate } = p.content;
      if (p.certificate) {
        const certificateOk = verdicts[next++]!;
        const paymentOk = verdicts[next++]!;
        if (!certificateOk) return refused('badCertificate', `certificate ${certificate.serial}: issuer signature does not verify`);
        p.known.verifiedUnder = p.issuerPublicKey;
        if (!paymentOk) return refused('badSignature', `wallet ${certificate.walletId}: payment signature does not verify`);
      } else if (!verdicts[next++]!) {
        return refused('badSignature', `wallet ${certificate.walletId}: payment signature does not verify`);
      }
      return { ok: true, ...p.content };
    });
  }

  /** The certificate these bytes hold, decoded once (throws TlvError as decodeCertificate does). */
  #known(bytes: Uint8Array): KnownCertificate {
    // The exact bytes are the key: a certificate differing in any byte is another one.
    const id = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
    let known = this.#certificates.get(id);
    if (known) return known;
    const certificate = decodeCertificate(bytes);
    known = { certificate, digest: sha256(certificate.bytes), key: parsePublicKey(certificate.alg, certificate.publicKey), verifiedUnder: undefined };
    this.#certificates.set(id, known);
    return known;
  }

  #prepare(receipt: Receipt | Uint8Array, keys: KeyLookup, now: number): Prepared {
    try {
      const r = receipt instanceof Uint8Array ? decodeReceipt(receipt) : receipt;
      const known = this.#known(r.certificate);
      const content = openReceipt(r, known.certificate);
      const { certificate, response } = content;
      const key = issuerKeyFor(certificate, keys);
      checkDates(certificate, key, content.request.terminalTime || now);
      // A bound payment's grant (rare): checked here, in this thread.
      if (content.grant) checkGrantSignature(content.grant, certificate, keys, (a, k, m, s) => this.#node.verify(a, k, m, s));
      const payment = {
        alg: certificate.alg,
        publicKey: certificate.publicKey,
        message: paymentSignedPayload(certificate.alg, certificate.bytes, r.request, response.tbs, known.digest),
        signature: response.signature,
        parsed: known.key,
      };
      const prepared = { content, known, issuerPublicKey: key.publicKey, payment };
      if (known.verifiedUnder && equalBytes(known.verifiedUnder, key.publicKey)) return prepared;
      const check = { alg: key.alg, publicKey: key.publicKey, message: certificateSignedPayload(certificate.tbs), signature: certificate.signature };
      return { ...prepared, certificate: check };
    } catch (e) {
      if (e instanceof DeclineError) return { done: { ok: false, reason: e.decline } };
      if (e instanceof TlvError) return { done: { ok: false, reason: decline('protocol', e.message) } };
      throw e;
    }
  }
}

/** node:crypto's SHA-256: the core's certificateDigest, without the pure-JS hash. */
function sha256(bytes: Uint8Array): Uint8Array {
  return createHash('sha256').update(bytes).digest();
}

function refused(code: Parameters<typeof decline>[0], detail: string): ReceiptCheck {
  return { ok: false, reason: decline(code, detail) };
}

/** One receipt, synchronously, with no certificate memory: the payment core's verifyReceipt on node:crypto. */
export function verifyReceiptFast(verifier: NodeVerifier, receipt: Receipt | Uint8Array, keys: KeyLookup, now: number): ReceiptCheck {
  return verifyReceipt(receipt, keys, now, (alg, publicKey, message, signature) => verifier.verify(alg, publicKey, message, signature));
}

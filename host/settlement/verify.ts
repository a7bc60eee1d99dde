// Receipt re-verification on the server. The checks are the payment core's own (protocol/receipt.ts,
// crypto/certificate.ts): same parsing, same key lookup, same date rules, same signed payloads. Only the
// signature primitive differs: node:crypto (OpenSSL) verifies P-256 and Ed25519 many times faster than
// the pure-JS verifier the terminal needs (bench/settlement.bench.ts measures both). The semantics match
// the core's verifySignature: P-256 over SHA-256 with r || s and high S accepted, Ed25519 per RFC 8032;
// test/settlement-verify.test.ts checks that the two agree on valid and mutated signatures.
import { createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';
import { checkDates, issuerKeyFor, type KeyLookup } from '../../firmware/core/crypto/certificate';
import type { IssuerKey } from '../../firmware/core/crypto/keyring';
import { ALG_P256, publicKeyFits, SIGNATURE_LENGTH, type Alg } from '../../firmware/core/crypto/verify';
import { certificateSignedPayload, paymentSignedPayload } from '../../firmware/core/protocol/messages';
import { decodeReceipt, openReceipt, type Receipt } from '../../firmware/core/protocol/receipt';
import { type ReceiptCheck } from '../../firmware/core/crypto/receipt';
import { TlvError } from '../../firmware/core/protocol/tlv';
import { decline, DeclineError } from '../../firmware/base/reasons';
import { toHex } from '../../firmware/base/bytes';

const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** Verifies signatures with node:crypto; caches parsed public keys (issuer keys, and recent wallets). */
export class NodeVerifier {
  #keys = new Map<string, KeyObject | null>();
  #maxCached: number;

  constructor(options: { maxCachedKeys?: number } = {}) {
    this.#maxCached = options.maxCachedKeys ?? 10_000;
  }

  /** Same contract as firmware/core/crypto/verify.ts verifySignature: true only for a valid signature. */
  verify(alg: Alg, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    if (signature.length !== SIGNATURE_LENGTH || !publicKeyFits(alg, publicKey)) return false;
    const key = this.#key(alg, publicKey);
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
    key = parseKey(alg, publicKey);
    if (this.#keys.size >= this.#maxCached) this.#keys.delete(this.#keys.keys().next().value!);
    this.#keys.set(id, key);
    return key;
  }
}

function parseKey(alg: Alg, publicKey: Uint8Array): KeyObject | null {
  try {
    if (alg === ALG_P256) {
      // OpenSSL takes compressed points too, but decompressing here also rejects points off the curve.
      const point = p256.Point.fromBytes(publicKey);
      point.assertValidity();
      const der = Buffer.concat([P256_SPKI_PREFIX, point.toBytes(false)]);
      return createPublicKey({ key: der, format: 'der', type: 'spki' });
    }
    return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
  } catch {
    return null;
  }
}

/**
 * Re-verifies a receipt as firmware/core/protocol/receipt.ts verifyReceipt does, with node:crypto for the
 * two signatures. `now` (unix seconds) stands in for the payment time when the terminal did not know it.
 */
export function verifyReceiptFast(verifier: NodeVerifier, receipt: Receipt | Uint8Array, keys: KeyLookup, now: number): ReceiptCheck {
  try {
    const r = receipt instanceof Uint8Array ? decodeReceipt(receipt) : receipt;
    const content = openReceipt(r);
    const { certificate, response } = content;
    const key: IssuerKey = issuerKeyFor(certificate, keys);
    checkDates(certificate, key, content.request.terminalTime || now);
    if (!verifier.verify(key.alg, key.publicKey, certificateSignedPayload(certificate.tbs), certificate.signature)) {
      throw new DeclineError('badCertificate', `certificate ${certificate.serial}: issuer signature does not verify`);
    }
    const payload = paymentSignedPayload(certificate.alg, certificate.bytes, r.request, response.tbs);
    if (!verifier.verify(certificate.alg, certificate.publicKey, payload, response.signature)) {
      throw new DeclineError('badSignature', `wallet ${certificate.walletId}: payment signature does not verify`);
    }
    return { ok: true, ...content };
  } catch (e) {
    if (e instanceof DeclineError) return { ok: false, reason: e.decline };
    if (e instanceof TlvError) return { ok: false, reason: decline('protocol', e.message) };
    throw e;
  }
}

// Signature verification for the two algorithms a wallet or an issuer may use. The algorithm comes from
// signed data (a certificate field bound into the signature), never from the signature's own shape.
import { p256 } from '@noble/curves/nist.js';
import { ed25519 } from '@noble/curves/ed25519.js';

export const ALG_P256 = 1;
export const ALG_ED25519 = 2;
export type Alg = typeof ALG_P256 | typeof ALG_ED25519;

export function isAlg(value: number): value is Alg {
  return value === ALG_P256 || value === ALG_ED25519;
}

export function algName(alg: Alg): string {
  return alg === ALG_P256 ? 'P-256' : 'Ed25519';
}

/** Public key lengths each algorithm accepts: P-256 compressed or uncompressed SEC1, Ed25519 raw. */
export function publicKeyFits(alg: Alg, publicKey: Uint8Array): boolean {
  if (alg === ALG_P256) return publicKey.length === 33 || publicKey.length === 65;
  return publicKey.length === 32;
}

export const SIGNATURE_LENGTH = 64;

/**
 * The signature primitive, as a value: the device may pass a native one (Moddable's ECDSA, an ECC
 * peripheral) and the settlement service OpenSSL's, as long as it keeps verifySignature's contract.
 */
export type VerifyFn = (alg: Alg, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean;

/**
 * True only for a valid signature. P-256 is ECDSA over SHA-256 of `message` with r || s (64 bytes);
 * high-S is accepted because secure elements do not normalise S. Ed25519 follows RFC 8032.
 * Malformed keys or signatures give false, never an exception.
 */
export function verifySignature(alg: Alg, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_LENGTH || !publicKeyFits(alg, publicKey)) return false;
  try {
    if (alg === ALG_P256) return p256.verify(signature, message, publicKey, { prehash: true, lowS: false });
    if (alg === ALG_ED25519) return ed25519.verify(signature, message, publicKey, { zip215: false });
    return false;
  } catch {
    return false;
  }
}

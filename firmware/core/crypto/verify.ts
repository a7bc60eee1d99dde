// Signature verification for the two algorithms a wallet or an issuer may use. The algorithm comes from
// signed data (a certificate field bound into the signature), never from the signature's own shape.
import { p256 } from '@noble/curves/nist.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { ALG_P256, ALG_ED25519, type Alg, publicKeyFits, SIGNATURE_LENGTH } from '../protocol/alg';

// Callers above crypto/ take the algorithm ids from here with the primitive.
export { ALG_P256, ALG_ED25519, type Alg, isAlg, algName, publicKeyFits, SIGNATURE_LENGTH } from '../protocol/alg';

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

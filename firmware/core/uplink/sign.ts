// Signing for the uplink's two signers: the terminal (P-256 device key, batches) and the service
// (the provisioning root key, responses and updates). Deterministic signatures (RFC 6979 for P-256,
// RFC 8032 for Ed25519), so no randomness source is needed and a retry re-signs to the same bytes.
import { p256 } from '@noble/curves/nist.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { ALG_P256, type Alg } from '../crypto/verify';

export function signMessage(alg: Alg, secretKey: Uint8Array, message: Uint8Array): Uint8Array {
  if (alg === ALG_P256) return p256.sign(message, secretKey, { prehash: true, extraEntropy: false });
  return ed25519.sign(message, secretKey);
}

export function publicKeyOf(alg: Alg, secretKey: Uint8Array): Uint8Array {
  return alg === ALG_P256 ? p256.getPublicKey(secretKey, true) : ed25519.getPublicKey(secretKey);
}

// The checks a wallet certificate and a payment signature must pass, shared by the terminal (at the tap)
// and the settlement service (re-verifying receipts): one piece of code for both sides.
import { DeclineError } from '../../base/reasons';
import { certificateDigest, certificateSignedPayload, paymentSignedPayload, type Certificate, type PayResponse } from '../protocol/messages';
import type { IssuerKey } from './keyring';
import { verifySignature, type VerifyFn } from './verify';

export interface KeyLookup {
  get(keyId: number): IssuerKey | undefined;
}

/** Finds the certificate's issuer key and checks it may be used. Throws DeclineError. */
export function issuerKeyFor(cert: Certificate, keys: KeyLookup): IssuerKey {
  const key = keys.get(cert.issuerKeyId);
  if (!key) throw new DeclineError('unknownIssuer', `issuer key ${cert.issuerKeyId}`);
  if (key.alg !== cert.issuerAlg) throw new DeclineError('algorithmMismatch', `certificate names issuer algorithm ${cert.issuerAlg}, key ${key.keyId} is ${key.alg}`);
  if (key.revoked) throw new DeclineError('issuerKeyRevoked', `issuer key ${key.keyId}`);
  return key;
}

/**
 * Checks the issuer key's and the certificate's validity windows at `atTime` (unix seconds). Without
 * a time the caller decides (the risk engine then checks against the last time it knew).
 */
export function checkDates(cert: Certificate, key: IssuerKey, atTime: number): void {
  if (atTime > key.notAfter) throw new DeclineError('issuerKeyExpired', `issuer key ${key.keyId}`);
  if (atTime < key.notBefore) throw new DeclineError('issuerKeyNotYetValid', `issuer key ${key.keyId}`);
  if (atTime > cert.notAfter) throw new DeclineError('certificateExpired', `certificate ${cert.serial}`);
  if (atTime < cert.notBefore) throw new DeclineError('certificateNotYetValid', `certificate ${cert.serial}`);
}

export function checkCertificateSignature(cert: Certificate, key: IssuerKey, verify: VerifyFn = verifySignature): void {
  if (!verify(key.alg, key.publicKey, certificateSignedPayload(cert.tbs), cert.signature)) {
    throw new DeclineError('badCertificate', `certificate ${cert.serial}: issuer signature does not verify`);
  }
}

/**
 * Checks the wallet's signature over the whole exchange. `request` is the exact bytes sent; `certDigest`
 * is certificateDigest(cert.bytes), passed by a caller that already has it.
 */
export function checkPaymentSignature(
  cert: Certificate,
  request: Uint8Array,
  response: PayResponse,
  verify: VerifyFn = verifySignature,
  certDigest: Uint8Array = certificateDigest(cert.bytes),
): void {
  const payload = paymentSignedPayload(cert.alg, cert.bytes, request, response.tbs, certDigest);
  if (!verify(cert.alg, cert.publicKey, payload, response.signature)) {
    throw new DeclineError('badSignature', `wallet ${cert.walletId}: payment signature does not verify`);
  }
}

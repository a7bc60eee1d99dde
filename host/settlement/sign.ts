// The service's signatures (batch responses, updates) with node:crypto instead of the pure-JS signer the
// terminal carries: the same algorithms and encodings (P-256 over SHA-256 as r || s, Ed25519 per RFC
// 8032), so the terminal verifies them unchanged. OpenSSL's P-256 nonces are random, not RFC 6979: a
// retried batch gets its stored answer back, so nothing relies on re-signing to the same bytes.
import { createPrivateKey, sign as nodeSign } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';
import { ALG_P256, type Alg } from '../../firmware/core/crypto/verify';

export type Signer = (message: Uint8Array) => Uint8Array;

const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export function nodeSigner(alg: Alg, secretKey: Uint8Array): Signer {
  if (alg === ALG_P256) {
    const point = p256.getPublicKey(secretKey, false);
    const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
    const key = createPrivateKey({
      key: { kty: 'EC', crv: 'P-256', d: b64(secretKey), x: b64(point.subarray(1, 33)), y: b64(point.subarray(33, 65)) },
      format: 'jwk',
    });
    return (message) => new Uint8Array(nodeSign('sha256', message, { key, dsaEncoding: 'ieee-p1363' }));
  }
  const key = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, secretKey]), format: 'der', type: 'pkcs8' });
  return (message) => new Uint8Array(nodeSign(null, message, key));
}

import { expect } from 'chai';
import { p256 } from '@noble/curves/nist.js';
import { concatBytes, utf8Encode } from '../firmware/base/bytes';
import { ALG_ED25519, ALG_P256, verifySignature } from '../firmware/core/crypto/verify';
import { generateKeyPair, sign } from '../host/wallet/issuer';
import { seededRandom } from '../host/wallet/random';

describe('payment core: signature primitive', () => {
  const random = seededRandom('crypto test');
  const message = utf8Encode('tapline/payment/v1 test');

  it('accepts a P-256 signature with high S (secure elements do not normalise S)', () => {
    const pair = generateKeyPair(ALG_P256, random);
    const sig = sign(pair, message);
    expect(verifySignature(ALG_P256, pair.publicKey, message, sig)).to.equal(true);
    const n = p256.Point.Fn.ORDER;
    const s = BigInt('0x' + Buffer.from(sig.subarray(32)).toString('hex'));
    const high = concatBytes(sig.subarray(0, 32), Uint8Array.from(Buffer.from((n - s).toString(16).padStart(64, '0'), 'hex')));
    expect(verifySignature(ALG_P256, pair.publicKey, message, high)).to.equal(true);
    expect(verifySignature(ALG_P256, p256.Point.fromBytes(pair.publicKey).toBytes(false), message, sig)).to.equal(true);
  });

  it('refuses a signature under the other algorithm, a wrong length, a malformed key, and never throws', () => {
    const p = generateKeyPair(ALG_P256, random);
    const e = generateKeyPair(ALG_ED25519, random);
    const ps = sign(p, message);
    const es = sign(e, message);
    expect(verifySignature(ALG_ED25519, e.publicKey, message, es)).to.equal(true);
    expect(verifySignature(ALG_P256, e.publicKey, message, es)).to.equal(false);
    expect(verifySignature(ALG_ED25519, p.publicKey, message, ps)).to.equal(false);
    expect(verifySignature(ALG_ED25519, p.publicKey.subarray(1), message, ps)).to.equal(false);
    expect(verifySignature(ALG_P256, p.publicKey, message, ps.subarray(0, 63))).to.equal(false);
    expect(verifySignature(ALG_P256, new Uint8Array(33), message, ps)).to.equal(false);
    expect(verifySignature(ALG_ED25519, new Uint8Array(32).fill(0xff), message, es)).to.equal(false);
    expect(verifySignature(ALG_P256, p.publicKey, message, new Uint8Array(64))).to.equal(false);
    expect(verifySignature(3 as any, p.publicKey, message, ps)).to.equal(false);
  });

  it('signs deterministically, so vectors and XS runs repeat', () => {
    for (const alg of [ALG_P256, ALG_ED25519] as const) {
      const pair = generateKeyPair(alg, random);
      expect(sign(pair, message)).to.deep.equal(sign(pair, message));
    }
  });
});

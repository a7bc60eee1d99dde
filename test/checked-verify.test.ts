import { expect } from 'chai';
import { p256 } from '@noble/curves/nist.js';
import { CheckedVerify, KNOWN_ANSWERS, SELF_TEST_VECTORS } from '../firmware/app/checked-verify';
import { fromHex } from '../firmware/base/bytes';
import { ALG_ED25519, ALG_P256, verifySignature, type VerifyFn } from '../firmware/core/crypto/verify';

/** A native primitive that counts its calls (and may lie), with the log lines it caused. */
function checked(native: VerifyFn = verifySignature): { c: CheckedVerify; calls: () => number; logs: string[] } {
  let calls = 0;
  const logs: string[] = [];
  const c = new CheckedVerify((...args) => (calls++, native(...args)), (level, tag, message) => void logs.push(`[${level}] ${tag}: ${message}`));
  return { c, calls: () => calls, logs };
}

const key = p256.keygen();
const message = new TextEncoder().encode('a payment');
const signature = p256.sign(message, key.secretKey, { prehash: true });

describe('a native signature primitive, checked on known answers before it is trusted', () => {
  it('runs nothing until asked; check() runs one algorithm\'s known answers and no other\'s', () => {
    const { c, calls, logs } = checked();
    expect([calls(), c.pending, c.trusted(ALG_P256)]).to.deep.equal([0, true, undefined]);
    expect(c.check(ALG_ED25519)).to.equal(true);
    expect([calls(), c.trusted(ALG_ED25519), c.trusted(ALG_P256), c.pending]).to.deep.equal([KNOWN_ANSWERS, true, undefined, true]);
    expect(logs).to.deep.equal(['[info] selftest: native Ed25519 verification agrees with the reference: in use']);
  });

  it('step() runs one known answer a call, Ed25519 first, and says false once none is left', () => {
    const { c, calls } = checked();
    const seen: number[] = [];
    while (c.step()) seen.push(calls());
    expect(seen).to.deep.equal([1, 2, 3, 4, 5, 6]);
    expect([c.pending, c.trusted(ALG_ED25519), c.trusted(ALG_P256), c.step(), calls()]).to.deep.equal([false, true, true, false, 6]);
  });

  it('a signature of an algorithm not yet checked runs the rest of its known answers first, then goes native', () => {
    const { c, calls } = checked();
    expect(c.verify(ALG_P256, key.publicKey, message, signature)).to.equal(true);
    expect([calls(), c.trusted(ALG_P256), c.trusted(ALG_ED25519)]).to.deep.equal([KNOWN_ANSWERS + 1, true, undefined]);
    const tampered = signature.slice();
    tampered[0]! ^= 1;
    expect(c.verify(ALG_P256, key.publicKey, message, tampered)).to.equal(false);
    expect(calls(), 'once trusted, one native call a signature').to.equal(KNOWN_ANSWERS + 2);
  });

  it('a primitive that ignores the key (the third answer) is refused, and that algorithm goes to noble from then on', () => {
    // right on the good signature and on a changed message, wrong under another key: it checks a cached key
    const vectorKey = fromHex(SELF_TEST_VECTORS[ALG_P256].publicKey);
    const cached: VerifyFn = (alg, publicKey, m, s) => verifySignature(alg, alg === ALG_P256 ? vectorKey : publicKey, m, s);
    const { c, calls, logs } = checked(cached);
    expect(c.check(ALG_P256)).to.equal(false);
    expect(calls()).to.equal(KNOWN_ANSWERS);
    expect(logs).to.deep.equal(['[error] selftest: native P-256 verification disagrees with the reference: using JavaScript']);
    expect(c.verify(ALG_P256, key.publicKey, message, signature), 'noble verifies it under its real key').to.equal(true);
    expect(calls(), 'the native one is not called again').to.equal(KNOWN_ANSWERS);
  });

  it('a primitive that throws is refused with the error in the log; the other algorithm is unaffected', () => {
    const { c, logs } = checked((alg, ...rest) => {
      if (alg === ALG_P256) throw new Error('no PSA key slot');
      return verifySignature(alg, ...rest);
    });
    expect([c.check(ALG_ED25519), c.check(ALG_P256)]).to.deep.equal([true, false]);
    expect(logs[1]).to.equal('[error] selftest: native P-256 verification failed (Error: no PSA key slot): using JavaScript');
    expect(c.verify(ALG_P256, key.publicKey, message, signature)).to.equal(true);
  });

  it('a primitive that refuses everything is refused at its first answer', () => {
    const { c, calls } = checked(() => false);
    expect([c.check(ALG_ED25519), calls()]).to.deep.equal([false, 1]);
  });
});

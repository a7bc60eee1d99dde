// The service's node:crypto verifier must say exactly what the payment core's verifier says: same
// verdicts on valid, high-S, mutated and malformed signatures and keys, and the same receipt verdicts.
import { expect } from 'chai';
import { p256 } from '@noble/curves/nist.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { concatBytes, fromHex, toHex } from '../firmware/base/bytes';
import { ALG_ED25519, ALG_P256, verifySignature, type Alg } from '../firmware/core/crypto/verify';
import { verifyReceipt } from '../firmware/core/crypto/receipt';
import { generateKeyPair, sign } from '../host/wallet/issuer';
import { seededRandom } from '../host/wallet/random';
import { NodeVerifier, verifyReceiptFast } from '../host/settlement/verify';
import { World } from './settlement-fixtures';

const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const ED25519_L = 2n ** 252n + 27742317777372353535851937790883648493n;

function bigFrom(bytes: Uint8Array): bigint {
  return BigInt('0x' + (toHex(bytes) || '0'));
}

function bytesFrom(n: bigint, length: number, littleEndian = false): Uint8Array {
  const b = fromHex(n.toString(16).padStart(length * 2, '0'));
  return littleEndian ? b.reverse() : b;
}

describe('settlement: node:crypto verifier agrees with the payment core', function () {
  const seed = Number(process.env.FUZZ_SEED ?? 424242);
  const random = seededRandom(seed);
  const node = new NodeVerifier();

  const cases: { alg: Alg; name: string }[] = [
    { alg: ALG_P256, name: 'P-256' },
    { alg: ALG_ED25519, name: 'Ed25519' },
  ];

  for (const { alg, name } of cases) {
    it(`${name}: valid, mutated and malformed signatures get the same verdict`, () => {
      console.log(`      verifier agreement seed ${seed} (FUZZ_SEED to replay)`);
      let agreed = 0;
      let valid = 0;
      for (let i = 0; i < 150; i++) {
        const pair = generateKeyPair(alg, random);
        const message = random(1 + (random(1)[0]! % 200));
        const signature = sign(pair, message);
        const keys = alg === ALG_P256 ? [pair.publicKey, p256.Point.fromBytes(pair.publicKey).toBytes(false)] : [pair.publicKey];
        const trials: [Uint8Array, Uint8Array, Uint8Array][] = [];
        for (const key of keys) trials.push([key, message, signature]);
        const flip = (b: Uint8Array) => {
          const c = b.slice();
          const at = random(2);
          c[((at[0]! << 8) | at[1]!) % c.length]! ^= 1 << (at[0]! & 7);
          return c;
        };
        trials.push([pair.publicKey, flip(message), signature]);
        trials.push([pair.publicKey, message, flip(signature)]);
        trials.push([flip(pair.publicKey), message, signature]);
        trials.push([pair.publicKey, message, signature.subarray(0, 63)]);
        trials.push([random(pair.publicKey.length), message, signature]);
        trials.push([pair.publicKey, message, new Uint8Array(64)]);
        for (const [k, m, s] of trials) {
          const expected = verifySignature(alg, k, m, s);
          expect(node.verify(alg, k, m, s), `${name} trial ${i}`).to.equal(expected);
          agreed++;
          if (expected) valid++;
        }
      }
      expect(valid).to.be.greaterThan(100);
      expect(agreed).to.equal(150 * (alg === ALG_P256 ? 8 : 7));
    });
  }

  it('P-256: accepts high-S like the core (secure elements do not normalise S)', () => {
    const pair = generateKeyPair(ALG_P256, random);
    const message = random(32);
    const sig = sign(pair, message);
    const s = bigFrom(sig.subarray(32));
    const high = concatBytes(sig.subarray(0, 32), bytesFrom(P256_N - s, 32));
    expect(verifySignature(ALG_P256, pair.publicKey, message, high)).to.equal(true);
    expect(node.verify(ALG_P256, pair.publicKey, message, high)).to.equal(true);
  });

  it('Ed25519: refuses a non-canonical S (S + L) like the core', () => {
    const secretKey = random(32);
    const publicKey = ed25519.getPublicKey(secretKey);
    const message = random(40);
    const sig = ed25519.sign(message, secretKey);
    const s = bigFrom(sig.subarray(32).slice().reverse());
    const bad = concatBytes(sig.subarray(0, 32), bytesFrom(s + ED25519_L, 32, true));
    expect(verifySignature(ALG_ED25519, publicKey, message, bad)).to.equal(false);
    expect(node.verify(ALG_ED25519, publicKey, message, bad)).to.equal(false);
  });

  it('re-verifies receipts exactly as verifyReceipt does, valid and mutated', async () => {
    const world = await World.create({ seed: 'verify receipts' });
    try {
      const t = await world.terminal('T1', { register: false });
      const keys = world.keys.keyring().keys;
      const lookup = new Map(keys.map((k) => [k.keyId, k]));
      const wallets = [world.wallet(), world.wallet({ alg: ALG_ED25519 })].map((w) => w.emulator());
      for (let i = 0; i < 6; i++) expect((await t.pay(wallets[i % 2]!, 100 + i)).kind).to.equal('approved');
      const now = Math.floor(Date.now() / 1000);
      let disagreements = 0;
      let rejected = 0;
      for (const { payload } of t.journal.records) {
        expect(verifyReceiptFast(node, payload, lookup, now).ok).to.equal(true);
        for (let j = 0; j < 300; j++) {
          const m = payload.slice();
          const at = random(3);
          m[((at[0]! << 8) | at[1]!) % m.length]! ^= 1 << (at[2]! & 7);
          const a = verifyReceipt(m, keys, now);
          const b = verifyReceiptFast(node, m, lookup, now);
          if (a.ok !== b.ok || (!a.ok && !b.ok && a.reason.code !== b.reason.code)) disagreements++;
          if (!b.ok) rejected++;
        }
      }
      expect(disagreements).to.equal(0);
      expect(rejected).to.be.greaterThan(1700);
    } finally {
      await world.close();
    }
  });
});

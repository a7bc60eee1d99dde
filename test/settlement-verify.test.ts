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
import { InlineVerifier, NodeVerifier, ReceiptVerifier, verifyReceiptFast, type SignatureCheck } from '../host/settlement/verify';
import { ReceiptPool, shardOf } from '../host/settlement/verify-pool';
import { nodeSigner } from '../host/settlement/sign';
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

  it('the worker pool and the certificate memory give verifyReceipt\'s verdicts, valid and mutated', async () => {
    const world = await World.create({ seed: 'verify pool' });
    const verifier = new ReceiptPool({ threads: 2 });
    try {
      const t = await world.terminal('T1', { register: false });
      const keys = world.keys.keyring().keys;
      const lookup = new Map(keys.map((k) => [k.keyId, k]));
      const wallets = [world.wallet(), world.wallet({ alg: ALG_ED25519 }), world.wallet()].map((w) => w.emulator());
      for (let i = 0; i < 9; i++) expect((await t.pay(wallets[i % 3]!, 100 + i)).kind).to.equal('approved');
      const now = Math.floor(Date.now() / 1000);
      // A wallet's receipts meet one worker: its key parsed and its certificate remembered once.
      const shards = t.journal.records.map((r) => shardOf(r.payload, 2));
      for (let i = 3; i < shards.length; i++) expect(shards[i]).to.equal(shards[i % 3]);
      const inputs: Uint8Array[] = [];
      for (const { payload } of t.journal.records) {
        inputs.push(payload);
        for (let j = 0; j < 40; j++) {
          const m = payload.slice();
          const at = random(3);
          m[((at[0]! << 8) | at[1]!) % m.length]! ^= 1 << (at[2]! & 7);
          inputs.push(m);
        }
      }
      // Twice: the second pass answers from remembered certificates, and must say the same.
      for (let pass = 0; pass < 2; pass++) {
        const got = await verifier.verify(inputs, lookup, now);
        let disagreements = 0;
        inputs.forEach((m, i) => {
          const a = verifyReceipt(m, keys, now);
          const b = got[i]!;
          if (a.ok !== b.ok || (!a.ok && !b.ok && a.reason.code !== b.reason.code)) disagreements++;
        });
        expect(disagreements, `pass ${pass}`).to.equal(0);
        expect(got.filter((c) => c.ok).length).to.be.at.least(9);
      }
      // Once the keyring changes, a revoked issuer key refuses what the workers remember.
      verifier.forgetCertificates();
      const revoked = new Map([...lookup].map(([id, k]) => [id, { ...k, revoked: true }]));
      const again = await verifier.verify(t.journal.records.map((r) => r.payload), revoked, now);
      expect(again.map((c) => !c.ok && c.reason.code)).to.deep.equal(again.map(() => 'issuerKeyRevoked'));
    } finally {
      await verifier.close();
      await world.close();
    }
  });

  it('verifies a wallet\'s certificate once, and again after the keyring changes', async () => {
    const world = await World.create({ seed: 'verify certificate memory' });
    try {
      const t = await world.terminal('T1', { register: false });
      const lookup = new Map(world.keys.keyring().keys.map((k) => [k.keyId, k]));
      const w = world.wallet().emulator();
      for (let i = 0; i < 3; i++) await t.pay(w, 100 + i);
      const sent: number[] = [];
      const counting = new InlineVerifier();
      const verifier = new ReceiptVerifier({
        verifyAll: (checks: SignatureCheck[]) => (sent.push(checks.length), counting.verifyAll(checks)),
        close: async () => undefined,
      });
      const now = Math.floor(Date.now() / 1000);
      const [a, b, c] = t.journal.records.map((r) => r.payload);
      expect((await verifier.verify([a!], lookup, now))[0]!.ok).to.equal(true);
      expect((await verifier.verify([b!, c!], lookup, now)).every((x) => x.ok)).to.equal(true);
      expect(sent).to.deep.equal([2, 2]); // certificate + payment, then two payments only
      verifier.forgetCertificates();
      await verifier.verify([c!], lookup, now);
      expect(sent[2]).to.equal(2);
      // A revoked issuer key refuses a remembered certificate: the memory stands in for the signature only.
      const revoked = new Map([...lookup].map(([id, k]) => [id, { ...k, revoked: true }]));
      const check = (await verifier.verify([c!], revoked, now))[0]!;
      expect(check.ok).to.equal(false);
      expect(!check.ok && check.reason.code).to.equal('issuerKeyRevoked');
    } finally {
      await world.close();
    }
  });

  for (const { alg, name } of cases) {
    it(`${name}: node:crypto response signatures verify with the core's verifier`, () => {
      const pair = generateKeyPair(alg, random);
      const signer = nodeSigner(alg, pair.secretKey);
      for (let i = 0; i < 20; i++) {
        const message = random(1 + i * 13);
        const signature = signer(message);
        expect(verifySignature(alg, pair.publicKey, message, signature)).to.equal(true);
        const bad = signature.slice();
        bad[i % bad.length]! ^= 1;
        expect(verifySignature(alg, pair.publicKey, message, bad)).to.equal(false);
      }
    });
  }
});

import { expect } from 'chai';
import { p256 } from '@noble/curves/nist.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { utf8Encode } from '../firmware/base/bytes';
import { ALG_ED25519, ALG_P256 } from '../firmware/core/crypto/verify';
import {
  decodeBatch, decodeBatchResponse, encodeBatch, encodeBatchResponse, INTENT_RECOVERED, INTENT_RELEASED, RESULT_ACCEPTED, RESULT_DUPLICATE, RESULT_REJECTED,
  verifyBatch, verifyBatchResponse, WireError, type Batch,
} from '../firmware/core/uplink/wire';
import {
  decodeUpdate, encodeUpdate, UPDATE_CONFIG, UPDATE_DENY_LIST, UPDATE_KEYRING, UPDATE_TIME, UpdateError, verifyUpdate, type Update,
} from '../firmware/core/uplink/updates';
import { seededRandom, mutate } from './uplink-fuzz-helpers';

const deviceKey = p256.utils.randomSecretKey();
const devicePub = p256.getPublicKey(deviceKey, true);
const rootKey = p256.utils.randomSecretKey();
const rootPub = p256.getPublicKey(rootKey, true);

const nonce = Uint8Array.from({ length: 16 }, (_, i) => i * 7);
const batch: Batch = {
  terminalId: 'T-0001',
  nonce,
  wallTime: 1_790_000_000,
  denyListVersion: 3,
  keyringVersion: 1,
  configVersion: 0,
  items: [
    { seq: 5, receipt: utf8Encode('receipt five') },
    { seq: 9, receipt: new Uint8Array(350).fill(0xab) },
  ],
};

const updates: Update[] = [
  { kind: UPDATE_DENY_LIST, fromVersion: 3, version: 4, add: [utf8Encode('wallet-1')], remove: [utf8Encode('wallet-0')] },
  { kind: UPDATE_KEYRING, version: 2, keys: [{ keyId: 7, alg: ALG_P256, publicKey: rootPub, notBefore: 1, notAfter: 2_000_000_000, revoked: false }] },
  { kind: UPDATE_CONFIG, version: 5, terminalId: 'T-0042', settings: { perTransactionCap: 5000 } },
  { kind: UPDATE_TIME, version: 0, unixSeconds: 1_790_000_123, nonce },
];

describe('uplink wire format', () => {
  it('round-trips a signed batch and verifies the device signature', () => {
    const bytes = encodeBatch(batch, deviceKey);
    const back = decodeBatch(bytes);
    expect(back.terminalId).to.equal('T-0001');
    expect(back.items.map((i) => i.seq)).to.deep.equal([5, 9]);
    expect(back.items[1]!.receipt).to.deep.equal(batch.items[1]!.receipt);
    expect(back.wallTime).to.equal(1_790_000_000);
    expect(back.fareRulesVersion).to.equal(undefined);
    expect(verifyBatch(back, devicePub)).to.equal(true);
    // a validator's batch names its fare rules version (tag 8C, after the status fields)
    const gate = decodeBatch(encodeBatch({ ...batch, fareRulesVersion: 4, status: { firmware: '0.1.0', backlog: 2, offlineAmount: 900, offlineCount: 3 } }, deviceKey));
    expect([gate.fareRulesVersion, gate.status?.offlineCount]).to.deep.equal([4, 3]);
    expect(verifyBatch(gate, devicePub)).to.equal(true);
    expect(encodeBatch(batch, deviceKey)).to.deep.equal(bytes, 'deterministic: a rebuilt batch is byte-identical');
    const tampered = bytes.slice();
    tampered[tampered.length - 100]! ^= 1;
    expect(verifyBatch(decodeBatch(tampered), devicePub)).to.equal(false);
  });

  it('carries the open intents in a batch (A9) and the ones the service settled in its answer, and says nothing when absent', () => {
    const intents = [utf8Encode('intent seven'), new Uint8Array(170).fill(0x33)];
    const back = decodeBatch(encodeBatch({ ...batch, intents }, deviceKey));
    expect(back.intents).to.deep.equal(intents);
    expect(verifyBatch(back, devicePub)).to.equal(true);
    expect(decodeBatch(encodeBatch({ ...batch, intents: [] }, deviceKey)).intents).to.deep.equal([]);
    expect(decodeBatch(encodeBatch(batch, deviceKey)).intents).to.equal(undefined);
    expect(() => encodeBatch({ ...batch, intents: Array.from({ length: 17 }, () => intents[0]!) }, deviceKey)).to.throw(WireError, /more than 16/);
    const answer = { terminalId: 'T-1', nonce, ackedUpTo: 9, results: [], updates: [] };
    const settled = decodeBatchResponse(encodeBatchResponse({ ...answer, intents: [{ terminalSeq: 3, outcome: INTENT_RECOVERED }, { terminalSeq: 8, outcome: INTENT_RELEASED }] }, ALG_P256, rootKey));
    expect(settled.intents).to.deep.equal([{ terminalSeq: 3, outcome: INTENT_RECOVERED }, { terminalSeq: 8, outcome: INTENT_RELEASED }]);
    expect(verifyBatchResponse(settled, ALG_P256, rootPub)).to.equal(true);
    // an answer with nothing to settle is byte for byte the answer without the field
    expect(encodeBatchResponse({ ...answer, intents: [] }, ALG_P256, rootKey)).to.deep.equal(encodeBatchResponse(answer, ALG_P256, rootKey));
    expect(() => encodeBatchResponse({ ...answer, intents: [{ terminalSeq: 3, outcome: 3 as 1 }] }, ALG_P256, rootKey)).to.throw(WireError, /outcome/);
  });

  it('refuses batches with sequence numbers out of order', () => {
    const bad = { ...batch, items: [batch.items[1]!, batch.items[0]!] };
    expect(() => encodeBatch(bad, deviceKey)).to.throw(WireError);
  });

  it('round-trips a signed response with results and updates', () => {
    const signedUpdates = updates.map((u) => encodeUpdate(u, ALG_P256, rootKey));
    const bytes = encodeBatchResponse(
      {
        terminalId: 'T-0001',
        nonce,
        ackedUpTo: 9,
        results: [
          { seq: 5, status: RESULT_ACCEPTED },
          { seq: 9, status: RESULT_REJECTED, reason: 'double spend' },
        ],
        updates: signedUpdates,
      },
      ALG_P256,
      rootKey,
    );
    const back = decodeBatchResponse(bytes);
    expect(back.ackedUpTo).to.equal(9);
    expect(back.results[1]).to.deep.equal({ seq: 9, status: RESULT_REJECTED, reason: 'double spend' });
    expect(verifyBatchResponse(back, ALG_P256, rootPub)).to.equal(true);
    expect(verifyBatchResponse(back, ALG_P256, devicePub)).to.equal(false);
    expect(back.updates.map((u) => verifyUpdate(u, ALG_P256, rootPub))).to.deep.equal(
      updates.map((u) => ({ ...u })),
    );
    expect(RESULT_DUPLICATE).to.equal(1);
  });

  it('verifies updates against the root key only', () => {
    const other = ed25519.utils.randomSecretKey();
    for (const u of updates) {
      const good = encodeUpdate(u, ALG_ED25519, other);
      expect(verifyUpdate(good, ALG_ED25519, ed25519.getPublicKey(other)).kind).to.equal(u.kind);
      expect(() => verifyUpdate(good, ALG_P256, rootPub)).to.throw(UpdateError, /not signed by the root key/);
      const forged = good.slice();
      forged[6]! ^= 0x01;
      expect(() => verifyUpdate(forged, ALG_ED25519, ed25519.getPublicKey(other))).to.throw(UpdateError);
    }
  });

  it('survives 100,000 mutated batches, responses and updates with named errors only', function () {
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
    console.log(`      uplink wire fuzz seed ${seed} (FUZZ_SEED to replay)`);
    const random = seededRandom(seed);
    const samples = [
      { bytes: encodeBatch(batch, deviceKey), decode: decodeBatch },
      { bytes: encodeBatch({ ...batch, intents: [new Uint8Array(150).fill(0x42)], fareRulesVersion: 4 }, deviceKey), decode: decodeBatch },
      {
        bytes: encodeBatchResponse({ terminalId: 'T-1', nonce, ackedUpTo: 9, results: [], updates: [], intents: [{ terminalSeq: 4, outcome: INTENT_RELEASED }] }, ALG_P256, rootKey),
        decode: decodeBatchResponse,
      },
      {
        bytes: encodeBatchResponse(
          { terminalId: 'T-1', nonce, ackedUpTo: 9, results: [{ seq: 9, status: 0 }], updates: updates.map((u) => encodeUpdate(u, ALG_P256, rootKey)) },
          ALG_P256,
          rootKey,
        ),
        decode: decodeBatchResponse,
      },
      ...updates.map((u) => ({ bytes: encodeUpdate(u, ALG_P256, rootKey), decode: decodeUpdate })),
    ];
    const counts = new Map<string, number>();
    for (const { bytes, decode } of samples) {
      for (let i = 0; i < 100_000; i++) {
        const input = mutate(bytes, random);
        try {
          decode(input);
          counts.set('ok', (counts.get('ok') ?? 0) + 1);
        } catch (e) {
          const name = (e as Error).name;
          if (name !== 'WireError' && name !== 'UpdateError') throw new Error(`seed ${seed}: ${name}: ${(e as Error).message}`);
          counts.set(name, (counts.get(name) ?? 0) + 1);
        }
      }
    }
    expect(counts.get('WireError')).to.be.greaterThan(0);
    expect(counts.get('UpdateError')).to.be.greaterThan(0);
  });
});

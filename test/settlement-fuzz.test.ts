// Fuzzing the settlement side's parsers of untrusted input, 100,000 inputs each, seeded (FUZZ_SEED
// replays): the batch ingest path (decode, authenticate, re-verify), receipt re-verification, the
// provisioning file and the wallet file. Only each parser's own named error may come out.
import { expect } from 'chai';
import { concatBytes, utf8Encode } from '../firmware/base/bytes';
import { parseProvisioning, ProvisioningError } from '../firmware/core/provisioning';
import { seededRandom } from '../host/wallet/random';
import { openDatabase } from '../host/settlement/db';
import { Settlement, SettlementError } from '../host/settlement/settlement';
import { NodeVerifier, verifyReceiptFast } from '../host/settlement/verify';
import { parseWalletFile, WalletFileError, formatWalletFile, walletFileOf } from '../host/cli/wallet-file';
import { main } from '../host/cli/main';
import { World } from './settlement-fixtures';
import { decodeWalletSync } from '../host/wallet/sync';
import { TlvError } from '../firmware/core/protocol/tlv';
import type { WalletEmulator } from '../host/wallet/emulator';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 1e6));
const N = 100_000;

/** A small deterministic PRNG over the seeded byte source. */
function prng(seed: string) {
  const bytes = seededRandom(seed);
  let pool: Uint8Array = new Uint8Array(0);
  let at = 0;
  const byte = () => {
    if (at >= pool.length) ((pool = bytes(4096)), (at = 0));
    return pool[at++]!;
  };
  const int = (n: number) => (((byte() << 16) | (byte() << 8) | byte()) >>> 0) % n;
  return { byte, int };
}

type Rng = ReturnType<typeof prng>;

function mutate(input: Uint8Array, rng: Rng): Uint8Array {
  let b: Uint8Array = input.slice();
  const edits = 1 + rng.int(4);
  for (let e = 0; e < edits; e++) {
    const op = rng.int(6);
    const at = b.length ? rng.int(b.length) : 0;
    if (op === 0 && b.length) b[at] = b[at]! ^ (1 << rng.int(8));
    else if (op === 1 && b.length) b[at] = rng.byte();
    else if (op === 2) b = concatBytes(b.subarray(0, at), Uint8Array.of(rng.byte()), b.subarray(at));
    else if (op === 3 && b.length) b = concatBytes(b.subarray(0, at), b.subarray(at + 1));
    else if (op === 4) b = b.subarray(0, at);
    else {
      // Splice a chunk of itself elsewhere: length fields then point at plausible structure.
      const from = rng.int(b.length + 1);
      const len = rng.int(16);
      b = concatBytes(b.subarray(0, at), b.subarray(from, from + len), b.subarray(at));
    }
  }
  return b;
}

describe('settlement fuzz', function () {
  this.timeout(180_000);
  let world: World;
  const samples: { batch: Uint8Array; receipts: Uint8Array[]; provisioning: string; wallet: string; payer?: WalletEmulator } = {
    batch: new Uint8Array(0),
    receipts: [],
    provisioning: '',
    wallet: '',
  };

  before(async () => {
    console.log(`      settlement fuzz seed ${SEED} (FUZZ_SEED to replay)`);
    world = await World.create({ seed: 'fuzz' });
    const t = await world.terminal('T1', { register: false });
    const spec = world.wallet();
    const w = spec.emulator();
    for (let i = 0; i < 3; i++) await t.pay(w, 100 + i);
    samples.batch = t.batch();
    samples.receipts = t.journal.records.map((r) => r.payload);
    samples.payer = w;
    const out = join(world.dir, 'terminal.json');
    const code = await main(
      ['provision-terminal', '--keys', world.keys.dir, '--out', out, '--terminal-id', 'T1', '--merchant-id', 'M1', '--service', 'http://127.0.0.1:9', '--wifi-ssid', 'shop', '--wifi-password', 'secret-pass'],
      () => {},
      () => {},
    );
    expect(code).to.equal(0);
    samples.provisioning = readFileSync(out, 'utf8');
    samples.wallet = formatWalletFile(walletFileOf({ ...spec.options, pin: '1234', profile: 'card' }));
    (world as unknown as { deviceKey: Uint8Array }).deviceKey = t.devicePublicKey;
  });

  after(async () => {
    await world?.close();
  });

  it(`ingest survives ${N.toLocaleString('en')} mutated batches with SettlementError only, writing nothing`, async () => {
    const db = await openDatabase(':memory:');
    const root = world.keys.root();
    const settlement = new Settlement({ db, root, keyring: world.keys.keyring() });
    try {
      await settlement.registerTerminal({
        terminalId: 'T1',
        publicKey: (world as unknown as { deviceKey: Uint8Array }).deviceKey,
        merchantId: 'M-T1',
        maxTransaction: 1_000_000,
      });
      const rng = prng(`ingest ${SEED}`);
      const codes = new Map<string, number>();
      for (let i = 0; i < N; i++) {
        const input = mutate(samples.batch, rng);
        try {
          await settlement.ingest(input);
          codes.set('ok', (codes.get('ok') ?? 0) + 1);
        } catch (e) {
          if (!(e instanceof SettlementError)) throw new Error(`input ${i} (seed ${SEED}): ${(e as Error).stack}`);
          codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
        }
      }
      expect(codes.get('malformed-batch')).to.be.greaterThan(N / 2);
      // A mutation that still verifies changed nothing signed; only then may something be written.
      const stats = await settlement.stats();
      expect(Object.keys(stats).every((k) => k === 'settled')).to.equal(true);
      expect(stats.settled ?? 0).to.be.at.most(3);
    } finally {
      await settlement.close();
      await db.close();
    }
  });

  it(`wallet sync survives ${N.toLocaleString('en')} mutated syncs in its parser, and ${(N / 50).toLocaleString('en')} at the service with SettlementError only, writing nothing`, async () => {
    const db = await openDatabase(':memory:');
    const settlement = new Settlement({ db, root: world.keys.root(), keyring: world.keys.keyring() });
    try {
      const sample = samples.payer!.syncMessage(settlement.walletSyncNonce());
      const rng = prng(`sync ${SEED}`);
      for (let i = 0; i < N; i++) {
        try {
          decodeWalletSync(mutate(sample, rng));
        } catch (e) {
          if (!(e instanceof TlvError)) throw new Error(`sync input ${i} (seed ${SEED}): ${(e as Error).stack}`);
        }
      }
      const codes = new Map<string, number>();
      for (let i = 0; i < N / 50; i++) {
        try {
          await settlement.walletSync(mutate(sample, rng));
          codes.set('ok', (codes.get('ok') ?? 0) + 1);
        } catch (e) {
          if (!(e instanceof SettlementError)) throw new Error(`sync input ${i} (seed ${SEED}): ${(e as Error).stack}`);
          codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
        }
      }
      expect(codes.get('malformed-sync')).to.be.greaterThan(N / 100);
      // only a mutation that left every signed byte as it was may be taken, and only once
      const taken = await db.read(async (tx) => Number((await tx.get<{ n: number }>('SELECT COUNT(*) AS n FROM wallet_syncs'))!.n));
      expect(taken).to.be.at.most(1);
    } finally {
      await settlement.close();
      await db.close();
    }
  });

  it(`receipt re-verification survives ${N.toLocaleString('en')} mutated receipts without throwing`, () => {
    const rng = prng(`receipts ${SEED}`);
    const verifier = new NodeVerifier();
    const keys = new Map(world.keys.keyring().keys.map((k) => [k.keyId, k]));
    let refused = 0;
    for (let i = 0; i < N; i++) {
      const input = mutate(samples.receipts[i % samples.receipts.length]!, rng);
      try {
        if (!verifyReceiptFast(verifier, input, keys, 1_800_000_000).ok) refused++;
      } catch (e) {
        throw new Error(`receipt input ${i} (seed ${SEED}): ${(e as Error).stack}`);
      }
    }
    expect(refused).to.be.greaterThan(N * 0.9);
  });

  it(`provisioning file survives ${N.toLocaleString('en')} mutated files with ProvisioningError only`, () => {
    const rng = prng(`provisioning ${SEED}`);
    const base = utf8Encode(samples.provisioning);
    expect(parseProvisioning(samples.provisioning).terminalId).to.equal('T1');
    let refused = 0;
    for (let i = 0; i < N; i++) {
      const text = Buffer.from(mutate(base, rng)).toString('utf8');
      try {
        parseProvisioning(text);
      } catch (e) {
        if (!(e instanceof ProvisioningError)) throw new Error(`provisioning input ${i} (seed ${SEED}): ${(e as Error).stack}`);
        refused++;
      }
    }
    expect(refused).to.be.greaterThan(N / 2);
  });

  it(`wallet file survives ${N.toLocaleString('en')} mutated files with WalletFileError only`, () => {
    const rng = prng(`wallet ${SEED}`);
    const base = utf8Encode(samples.wallet);
    expect(parseWalletFile(samples.wallet).pin).to.equal('1234');
    let refused = 0;
    for (let i = 0; i < N; i++) {
      const text = Buffer.from(mutate(base, rng)).toString('utf8');
      try {
        parseWalletFile(text);
      } catch (e) {
        if (!(e instanceof WalletFileError)) throw new Error(`wallet input ${i} (seed ${SEED}): ${(e as Error).stack}`);
        refused++;
      }
    }
    expect(refused).to.be.greaterThan(N / 2);
  });
});

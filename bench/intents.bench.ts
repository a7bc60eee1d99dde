// In-doubt reconciliation at the service (host/settlement/intents.ts): what the open-intents list (A9)
// adds to a batch's ingest, and wallet syncs per second that each settle one in-doubt payment. In-process
// service on loopback, SQLite file; the batches and syncs are made before the clock starts.
import type { Report } from './main';
import { fromHex } from '../firmware/base/bytes';
import { CardLostError } from '../firmware/base/ports';
import { INS_PAY } from '../firmware/core/protocol/apdu';
import { World, sqliteBackend, type TestTerminal } from '../test/settlement-fixtures';
import type { WalletEmulator } from '../host/wallet/emulator';

/** The service closes idle keep-alive connections after 5 s: a request on one it closed meanwhile goes again. */
async function again<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if ((e as Error).message !== 'fetch failed') throw e;
    return f();
  }
}

async function timedPosts(world: World, bodies: Uint8Array[], path: string): Promise<number> {
  await again(() => fetch(`${world.url}/v1/time`));
  const start = performance.now();
  for (const b of bodies) {
    const r = await again(() => world.post(path, b));
    if (r.status !== 200) throw new Error(`${path} answered ${r.status}`);
  }
  return (performance.now() - start) / 1000;
}

export async function run(report: Report, options: { quick: boolean }): Promise<void> {
  const batches = options.quick ? 4 : 16;
  const perBatch = 32;
  const syncs = options.quick ? 10 : 40;
  const backend = await sqliteBackend();
  const world = await World.create({ database: await backend.fresh(), seed: 'intents bench' });
  try {
    // Two terminals with the same payments: one says nothing about intents, one lists its (none) open.
    const plain = await world.terminal('B-PLAIN');
    const listing = await world.terminal('B-LIST');
    listing.reportsIntents = true;
    const wallets = Array.from({ length: 32 }, () => world.wallet().emulator());
    const bodies = new Map<TestTerminal, Uint8Array[]>();
    for (const t of [plain, listing]) {
      for (let i = 0; i < batches * perBatch; i++) await t.pay(wallets[i % wallets.length]!, 100);
      const list: Uint8Array[] = [];
      for (let b = 0; b < batches; b++) list.push(t.batch({ records: t.journal.records.slice(b * perBatch, (b + 1) * perBatch) }));
      bodies.set(t, list);
    }
    const seconds = { plain: 0, listing: 0 };
    // alternate, so the machine's load falls on both alike
    for (let b = 0; b < batches; b++) {
      seconds.plain += await timedPosts(world, [bodies.get(plain)![b]!], '/v1/batches');
      seconds.listing += await timedPosts(world, [bodies.get(listing)![b]!], '/v1/batches');
    }
    for (const [name, s] of Object.entries(seconds)) {
      report({ bench: 'intents.ingest', batch: name === 'plain' ? 'without A9' : 'with A9 (none open)', batches, receiptsPerBatch: perBatch, msPerBatch: (s * 1000) / batches, receiptsPerSecond: (batches * perBatch) / s });
    }

    // One in-doubt payment per wallet, uploaded (a terminal holds 16 at most: one terminal per 16); then
    // each wallet's sync settles its own.
    const payers: WalletEmulator[] = [];
    const gates: TestTerminal[] = [];
    for (let i = 0; i < syncs; i++) {
      if (i % 16 === 0) {
        gates.push(await world.terminal(`B-CUT-${gates.length}`));
        gates[gates.length - 1]!.reportsIntents = true;
      }
      const gate = gates[gates.length - 1]!;
      const w = world.wallet().emulator();
      const cut = { transceive: async (apdu: Uint8Array) => { const a = w.answer(apdu); if (apdu[1] === INS_PAY) throw new CardLostError('power cut'); return a; }, removed: () => w.removed() };
      await gate.pay(cut as unknown as WalletEmulator, 1500);
      payers.push(w);
      if (gate.inDoubt.open.length === 16 || i === syncs - 1) {
        const r = await again(() => gate.upload(world.url));
        if (r.status !== 200) throw new Error(`upload answered ${r.status}`);
      }
    }
    const messages: Uint8Array[] = [];
    for (const w of payers) {
      const r = await again(() => fetch(`${world.url}/v1/wallet-sync/nonce`, { method: 'POST' }));
      messages.push(w.syncMessage(fromHex(((await r.json()) as { nonce: string }).nonce)));
    }
    const s = await timedPosts(world, messages, '/v1/wallet-sync');
    let credited = 0;
    for (const g of gates) credited += await world.service!.settlement.balance(`merchant:${g.merchantId}`);
    report({ bench: 'intents.sync', syncs, msPerSync: (s * 1000) / syncs, syncsPerSecond: syncs / s, credited });
  } finally {
    await world.close();
    await backend.stop();
  }
}

// Runs inside XS: the journal (power-loss workload, appends, boot recovery) and the uplink state machine
// with an in-engine service behind a flaky transport.
import { p256 } from '@noble/curves/nist.js';
import { toHex } from '../../firmware/base/bytes';
import { ALG_P256 } from '../../firmware/core/crypto/verify';
import { Journal } from '../../firmware/core/journal/journal';
import { VirtualClock } from '../../firmware/base/platform';
import { UPDATE_RECORD_TYPES, UpdateStore } from '../../firmware/core/uplink/store';
import { type HttpTransport, TransportError } from '../../firmware/core/uplink/transport';
import { Uplink } from '../../firmware/core/uplink/uplink';
import { encodeUpdate, UPDATE_DENY_LIST, UPDATE_TIME } from '../../firmware/core/uplink/updates';
import { decodeBatch, encodeBatchResponse, verifyBatch } from '../../firmware/core/uplink/wire';
import { RamFlash } from '../../host/flash/ram-flash';
import { serve } from '../../host/xs/guest';
import { RECEIPT, receiptPayload, runWorkload, type WorkloadOptions } from '../journal-workload';
import { seededRandom } from '../uplink-fuzz-helpers';

function bytesFrom(random: () => number) {
  return (n: number) => Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
}

// The bench's journal: kept between calls so each append is metered on its own.
let bench: { flash: RamFlash; journal: Journal } | undefined;

serve({
  workload: (o: WorkloadOptions) => runWorkload(o),

  /** A fresh journal on a RAM flash of `blocks` blocks. */
  benchOpen: (a: { blocks: number }) => {
    const flash = new RamFlash({ blocks: a.blocks });
    const journal = new Journal({ flash, reserveBlocks: 4 });
    journal.open();
    bench = { flash, journal };
    return journal.usage;
  },

  /** One append of a receipt of `bytes`; returns the flash work it caused. */
  benchAppend: (a: { bytes: number; counter: number }) => {
    const { flash, journal } = bench!;
    const before = { ...flash.counters };
    if (!journal.canAppend(a.bytes)) return { full: true };
    const seq = journal.appendSync(RECEIPT, receiptPayload(1 + (a.counter % 9), 1000, a.counter, a.bytes));
    return {
      full: false,
      seq,
      programmed: flash.counters.bytesProgrammed - before.bytesProgrammed,
      erased: flash.counters.bytesErased - before.bytesErased,
    };
  },

  /** Boot recovery of the bench journal's partition, on a copy (as after a power cycle). */
  benchRecover: (a: { verifyChain: boolean }) => {
    const source = bench!.flash;
    const flash = new RamFlash({ blocks: source.blocks });
    flash.data.set(source.data);
    const journal = new Journal({ flash, reserveBlocks: 4, verifyChainAtBoot: a.verifyChain });
    const report = journal.open();
    return { ...report, bytesRead: flash.counters.bytesRead };
  },

  uplink: async (a: { seed: number; receipts: number; failEvery: number }) => {
    const random = seededRandom(a.seed);
    const randomBytes = bytesFrom(random);
    const deviceSecret = p256.utils.randomSecretKey(randomBytes(48));
    const rootSecret = p256.utils.randomSecretKey(randomBytes(48));
    const root = { alg: ALG_P256, publicKey: p256.getPublicKey(rootSecret, true) } as const;
    const stored = new Map<number, string>();
    let inserted = 0;
    let calls = 0;
    // The service, in the engine: stores by sequence, answers signed; every failEvery-th call fails after storing.
    const transport: HttpTransport = {
      post: async (_path, body) => {
        calls++;
        const batch = decodeBatch(body);
        if (!verifyBatch(batch, p256.getPublicKey(deviceSecret, true))) return { status: 403, body: new Uint8Array(0) };
        for (const { seq, receipt } of batch.items) {
          if (!stored.has(seq)) inserted++;
          stored.set(seq, toHex(receipt));
        }
        if (calls % a.failEvery === 0) throw new TransportError('connection dropped');
        const top = batch.items.length ? batch.items[batch.items.length - 1]!.seq : 0;
        const updates = [
          encodeUpdate({ kind: UPDATE_TIME, version: 0, unixSeconds: 1_790_000_000, nonce: batch.nonce }, ALG_P256, rootSecret),
        ];
        if (calls === 1) updates.push(encodeUpdate({ kind: UPDATE_DENY_LIST, fromVersion: 0, version: 1, add: [Uint8Array.of(1, 2, 3)], remove: [] }, ALG_P256, rootSecret));
        const response = encodeBatchResponse({ terminalId: batch.terminalId, nonce: batch.nonce, ackedUpTo: top, results: [], updates }, ALG_P256, rootSecret);
        return { status: 200, body: response };
      },
    };
    const flash = new RamFlash({ blocks: 16 });
    const journal = new Journal({ flash, reserveBlocks: 2, keyedTypes: UPDATE_RECORD_TYPES });
    journal.open();
    const store = new UpdateStore({ journal, root, terminalId: 'T-XS' });
    const sent = new Map<number, string>();
    for (let i = 0; i < a.receipts; i++) {
      const p = receiptPayload(1 + (i % 5), 10 + i, i + 1, 350);
      sent.set(journal.appendSync(RECEIPT, p), toHex(p));
    }
    const uplink = new Uplink({
      journal, store, transport, clock: new VirtualClock(), random: randomBytes, terminalId: 'T-XS', deviceSecretKey: deviceSecret, root, maxBatchReceipts: 6,
    });
    await uplink.networkUp();
    let intact = true;
    for (const [seq, hex] of sent) if (stored.get(seq) !== hex) intact = false;
    return { acked: journal.ackedUpTo, last: Math.max(...sent.keys()), inserted, calls, intact, denyList: store.denyList, stats: uplink.stats };
  },
});

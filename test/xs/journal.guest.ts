// Runs inside XS: the journal (power-loss workload, appends, boot recovery) and the uplink state machine
// with an in-engine service behind a flaky transport.
import { p256 } from '@noble/curves/nist.js';
import { toHex } from '../../firmware/base/bytes';
import { ALG_P256 } from '../../firmware/core/crypto/verify';
import { Journal, nobleSha256 } from '../../firmware/core/journal/journal';
import { Crc32 } from '../../firmware/core/journal/crc32';
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
import { CHECKPOINT_EVERY } from '../../firmware/app/state';

function bytesFrom(random: () => number) {
  return (n: number) => Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
}

// The terminal's journal shape (firmware/app/state.ts): its keyed types, its checkpoint cadence and a
// checkpoint of a few hundred bytes (risk state of a handful of wallets, no open intent).
const CHECKPOINT_TYPE = 2;
const TERMINAL_LIKE = {
  keyedTypes: [CHECKPOINT_TYPE, ...UPDATE_RECORD_TYPES],
  checkpoint: { type: CHECKPOINT_TYPE, snapshot: () => new Uint8Array(300).fill(7) },
  checkpointEvery: CHECKPOINT_EVERY,
};

// The bench's journal: kept between calls so each append is metered on its own.
let bench: { flash: RamFlash; journal: Journal } | undefined;
let copy: RamFlash | undefined;

serve({
  benchNoop: () => 0,
  workload: (o: WorkloadOptions) => runWorkload(o),

  /** A fresh journal on a RAM flash of `blocks` blocks, with the terminal's keyed types and a checkpoint. */
  benchOpen: (a: { blocks: number }) => {
    const flash = new RamFlash({ blocks: a.blocks });
    const journal = new Journal({ flash, reserveBlocks: 4, ...TERMINAL_LIKE });
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

  /** A copy of the bench journal's partition, as after a power cycle (not part of the boot measured next). */
  benchCopy: () => {
    const source = bench!.flash;
    copy = new RamFlash({ blocks: source.blocks });
    copy.data.set(source.data);
    return copy.blocks;
  },

  /**
   * Boot recovery of the copy: open, the newest checkpoint, and the replay of the records after it (what
   * the terminal's boot reads). Counts the bytes hashed and CRC'd: the work native modules would take.
   */
  benchRecover: (a: { verifyChain: boolean }) => {
    const flash = copy!;
    let hashed = 0;
    let crcd = 0;
    const crc = new Crc32();
    const journal = new Journal({
      flash,
      reserveBlocks: 4,
      verifyChainAtBoot: a.verifyChain,
      ...TERMINAL_LIKE,
      sha256: (parts) => {
        for (const p of parts) hashed += p.length;
        return nobleSha256(parts);
      },
      crc32: (bytes, start, end) => {
        crcd += end - start;
        return crc.compute(bytes, start, end);
      },
    });
    const report = journal.open();
    const checkpoint = journal.latest(CHECKPOINT_TYPE);
    let replayed = 0;
    journal.replay(checkpoint?.seq ?? 0, () => void replayed++);
    return { ...report, replayed, checkpointSeq: checkpoint?.seq ?? 0, bytesRead: flash.counters.bytesRead, bytesHashed: hashed, bytesCrc: crcd };
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
        if (calls === 1) updates.push(encodeUpdate({ kind: UPDATE_DENY_LIST, fromVersion: 0, version: 1, add: [Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)], remove: [] }, ALG_P256, rootSecret));
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
    return { acked: journal.ackedUpTo, last: Math.max(...sent.keys()), inserted, calls, intact, denyList: [...store.denyList.ids()], stats: uplink.stats };
  },
});

import { expect } from 'chai';
import { Journal } from '../firmware/core/journal/journal';
import { RamFlash } from '../host/flash/ram-flash';
import { mutate, seededRandom } from './uplink-fuzz-helpers';
import { receiptPayload, RECEIPT, UPDATE } from './journal-workload';

// Boot recovery over hostile flash contents: random bytes, and real journals with bits flipped, bytes
// overwritten, blocks swapped. Recovery must never throw, never loop, and what it accepts must hang together.
describe('journal recovery fuzz', () => {
  it('J12: opens 100,000 corrupted partitions without an exception, and replays consistent records', function () {
    this.timeout(600_000);
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
    console.log(`      journal fuzz seed ${seed} (FUZZ_SEED to replay)`);
    const random = seededRandom(seed);
    // A small partition (5 blocks of 512 bytes) so each case is cheap; the code paths are the same.
    const base = new RamFlash({ blocks: 5, blockLength: 512 });
    const j = new Journal({ flash: base, reserveBlocks: 2, keyedTypes: [UPDATE] });
    j.open();
    let n = 0;
    for (let round = 0; round < 5; round++) {
      while (j.canAppend(200)) j.appendSync(RECEIPT, receiptPayload(1, 5, ++n, 120 + (n % 80)));
      j.acknowledge(j.lastAcknowledgeable - 2);
      j.appendSync(UPDATE, new Uint8Array([round]));
    }
    const image = base.data.slice();
    let accepted = 0;
    for (let i = 0; i < 100_000; i++) {
      const flash = new RamFlash({ blocks: 5, blockLength: 512 });
      const kind = i % 4;
      if (kind === 0) for (let k = 0; k < flash.data.length; k++) flash.data[k] = Math.floor(random() * 256);
      else if (kind === 3) {
        flash.data.set(image);
        const [a, b] = [Math.floor(random() * 5), Math.floor(random() * 5)];
        const blockA = flash.data.slice(a * 512, a * 512 + 512);
        flash.data.copyWithin(a * 512, b * 512, b * 512 + 512);
        flash.data.set(blockA, b * 512);
      } else {
        const block = Math.floor(random() * 5);
        const mutated = mutate(image.subarray(block * 512, block * 512 + 512), random);
        flash.data.set(image);
        flash.data.set(mutated.subarray(0, 512), block * 512);
      }
      const journal = new Journal({ flash, reserveBlocks: 2, keyedTypes: [UPDATE] });
      const report = journal.open();
      let prev = -1;
      journal.replay(0, (r) => {
        if (prev >= 0 && r.seq !== prev + 1 && report.breaks.length === 0) throw new Error(`seed ${seed} case ${i}: gap ${prev} -> ${r.seq}`);
        prev = r.seq;
      });
      expect(journal.ackedUpTo).to.be.at.most(journal.lastSeq);
      if (report.records > 0) accepted++;
      // It must still take appends (or refuse with JournalFullError), never crash.
      if (i % 8 === 0) try {
        journal.appendSync(RECEIPT, receiptPayload(2, 1, 1, 40));
      } catch (e) {
        if ((e as Error).name !== 'JournalFullError') throw new Error(`seed ${seed} case ${i}: ${(e as Error).stack}`);
      }
    }
    expect(accepted).to.be.greaterThan(10_000);
  });
});

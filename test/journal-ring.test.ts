import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { equalBytes, readU32 } from '../firmware/base/bytes';
import { BLOCK_HEADER_BYTES, Journal, JournalBug, parseBlockHeader, RECORD_OVERHEAD, RECORDS_START } from '../firmware/core/journal/journal';
import { Crc32 } from '../firmware/core/journal/crc32';
import { JournalFullError } from '../firmware/base/ports';
import { isProgrammerError } from '../firmware/base/errors';
import { FileFlash } from '../host/flash/file-flash';
import { RamFlash } from '../host/flash/ram-flash';
import { seededRandom } from './uplink-fuzz-helpers';
import { CHECKPOINT, RECEIPT, receiptPayload, UPDATE } from './journal-workload';

function journal(flash: RamFlash | FileFlash, reserveBlocks = 2): Journal {
  const j = new Journal({ flash, keyedTypes: [UPDATE], reserveBlocks, checkpoint: { type: CHECKPOINT, snapshot: () => new Uint8Array([1, 2, 3]) } });
  j.open();
  return j;
}

function fill(j: Journal, n: number, start = 0): number[] {
  const seqs: number[] = [];
  for (let i = 0; i < n; i++) seqs.push(j.appendSync(RECEIPT, receiptPayload(1 + (i % 5), 100 + i, start + i + 1, 350)));
  return seqs;
}

describe('journal ring', () => {
  it("boot's replay of the head's records reads them from open's walk, not the flash again; a write drops them", () => {
    const flash = new RamFlash({ blocks: 16 });
    const seqs = fill(journal(flash), 60);
    const j = new Journal({ flash, keyedTypes: [UPDATE], reserveBlocks: 2, checkpoint: { type: CHECKPOINT, snapshot: () => new Uint8Array([1, 2, 3]) } });
    j.open();
    let bytesRead = 0;
    const read = flash.read.bind(flash);
    flash.read = (length: number, offset: number) => ((bytesRead += length), read(length, offset));
    const after = seqs[seqs.length - 3]!;
    const visited = (from: number) => {
      const out: Array<[number, number]> = [];
      j.replay(from, (r) => void out.push([r.seq, r.payload[0]!]));
      return out;
    };
    const first = visited(after);
    expect(first.map(([seq]) => seq)).to.deep.equal(seqs.slice(-2));
    expect(bytesRead).to.equal(0, 'the head was walked by open');
    // Read to the end: the records are let go, and the next replay reads the block.
    expect(visited(after)).to.deep.equal(first);
    expect(bytesRead).to.equal(4096);
    j.open();
    bytesRead = 0;
    const next = j.appendSync(RECEIPT, receiptPayload(2, 100, 61, 350));
    bytesRead = 0;
    expect(visited(after).map(([seq]) => seq)).to.deep.equal([...seqs.slice(-2), next], 'a record appended after open is replayed');
    expect(bytesRead).to.be.greaterThan(0);
  });

  it('the block header check reads a flash read as it comes (an ArrayBuffer) as it reads a view of it', () => {
    const flash = new RamFlash({ blocks: 8 });
    const journal = new Journal({ flash });
    journal.open();
    journal.appendSync(RECEIPT, receiptPayload(1, 100, 1, 64));
    const crc = new Crc32();
    const crc32 = (b: Uint8Array, start: number, end: number) => crc.compute(b, start, end);
    const [fromBuffer, fromView] = [new Uint32Array(2), new Uint32Array(2)];
    const read = flash.read(BLOCK_HEADER_BYTES, 0);
    expect(parseBlockHeader(read, fromBuffer, crc32)).to.equal(true);
    expect(parseBlockHeader(new Uint8Array(read), fromView, crc32)).to.equal(true);
    expect([...fromBuffer]).to.deep.equal([...fromView]).and.to.deep.equal([1, 1]);
    const torn = new Uint8Array(read.slice(0));
    torn[5] = torn[5]! ^ 1;
    expect(parseBlockHeader(torn.buffer, fromBuffer, crc32)).to.equal(false);
  });

  it('J4 J5: keeps records across a reboot, in order, with the sequence continuing', async () => {
    const flash = new RamFlash({ blocks: 8 });
    const a = journal(flash);
    const seqs = fill(a, 25);
    expect(await a.append(RECEIPT, receiptPayload(9, 1, 99, 350))).to.equal(26);
    expect(seqs).to.deep.equal(Array.from({ length: 25 }, (_, i) => i + 1));
    const b = new Journal({ flash, keyedTypes: [UPDATE], reserveBlocks: 2 });
    const report = b.open();
    expect(report).to.include({ lastSeq: 26, records: 26, ackedUpTo: 0, tornTail: false });
    expect(report.breaks).to.deep.equal([]);
    const got: number[] = [];
    b.replay(20, (r) => void got.push(readU32(r.payload, 5)));
    expect(got).to.deep.equal([21, 22, 23, 24, 25, 99]);
    expect(b.appendSync(RECEIPT, receiptPayload(1, 1, 100, 10))).to.equal(27);
  });

  it('refuses payments when full of unacknowledged receipts, then frees space on acknowledgement', () => {
    const flash = new RamFlash({ blocks: 6 });
    const j = journal(flash);
    let n = 0;
    while (j.canAppend(350)) {
      j.appendSync(RECEIPT, receiptPayload(1, 1, ++n, 350));
    }
    // 4 usable blocks (6 minus a reserve of 2) of 10 receipts of 350 bytes.
    expect(n).to.equal(40);
    expect(() => j.appendSync(RECEIPT, receiptPayload(1, 1, ++n, 350))).to.throw(JournalFullError, 'journal full: connect to upload');
    j.acknowledge(20);
    expect(j.canAppend(350)).to.equal(true);
    for (let i = 0; i < 20; i++) j.appendSync(RECEIPT, receiptPayload(1, 1, ++n, 350));
    expect(j.canAppend(350)).to.equal(false);
    expect(j.unacknowledged(100, 1 << 20).map((r) => r.seq)[0]).to.equal(21);
    expect(() => j.acknowledge(j.lastSeq + 1)).to.throw(JournalBug);
  });

  it('a call against its contract is a JournalBug (a programmer error), not an operating error', () => {
    const flash = new RamFlash({ blocks: 8 });
    const closed = new Journal({ flash, reserveBlocks: 2 });
    expect(() => closed.appendSync(RECEIPT, new Uint8Array(4))).to.throw(JournalBug, 'not opened');
    const j = journal(flash);
    expect(() => j.appendSync(0xf0, new Uint8Array(4))).to.throw(JournalBug, 'reserved');
    expect(() => j.appendSync(RECEIPT, new Uint8Array(j.maxPayload + 1))).to.throw(JournalBug, 'exceeds');
    expect(() => new Journal({ flash: new RamFlash({ blocks: 3 }), reserveBlocks: 2 })).to.throw(JournalBug, 'need at least');
    for (const make of [() => j.acknowledge(99), () => j.appendSync(300, new Uint8Array(1))]) {
      try {
        make();
        expect.fail('no error');
      } catch (e) {
        expect(isProgrammerError(e), String(e)).to.equal(true);
      }
    }
  });

  it('levels wear: every block is erased about as often as any other', () => {
    const flash = new RamFlash({ blocks: 10 });
    const j = journal(flash);
    for (let round = 0; round < 60; round++) {
      fill(j, 30, round * 30);
      j.acknowledge(j.lastAcknowledgeable);
    }
    const counts = flash.eraseCounts;
    expect(Math.max(...counts) - Math.min(...counts)).to.be.at.most(1);
    expect(Math.min(...counts)).to.be.greaterThan(15);
  });

  it('J9 J10: carries the latest stored update and the acknowledgement forward across reclaims', () => {
    const flash = new RamFlash({ blocks: 8 });
    const j = journal(flash);
    j.appendSync(UPDATE, new Uint8Array([7, 7, 7]));
    for (let round = 0; round < 20; round++) {
      fill(j, 20, round * 20);
      j.acknowledge(j.lastAcknowledgeable);
    }
    const b = new Journal({ flash, keyedTypes: [UPDATE, CHECKPOINT], reserveBlocks: 2 });
    const report = b.open();
    expect(b.latest(UPDATE)?.payload).to.deep.equal(new Uint8Array([7, 7, 7]));
    expect(b.latest(CHECKPOINT)?.payload).to.deep.equal(new Uint8Array([1, 2, 3]));
    expect(report.ackedUpTo).to.equal(j.ackedUpTo);
    expect(report.blocks).to.be.lessThan(8);
  });

  it('J13: a value larger than a record spans records, counts once its last part is durable, and is carried forward whole', () => {
    const BIG = 0x22;
    const value = (n: number, fill: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + fill) & 0xff);
    const open = (flash: RamFlash) => {
      const j = new Journal({ flash, keyedTypes: [UPDATE, BIG], spanningTypes: [BIG], reserveBlocks: 2, checkpoint: { type: CHECKPOINT, snapshot: () => new Uint8Array([1, 2, 3]) } });
      j.open();
      return j;
    };
    const flash = new RamFlash({ blocks: 40, random: seededRandom(5) });
    const j = open(flash);
    const first = value(20_000, 1); // six parts
    j.appendSync(BIG, first);
    expect(open(flash).latest(BIG)?.payload).to.deep.equal(first);
    // Power cut at every step of writing the next one: the old value or the new one, never a mix.
    const second = value(9_000, 2);
    let cuts = 0;
    for (let step = 0; ; step++) {
      const image = flash.data.slice();
      const k = open(flash);
      flash.cutPowerAt(step);
      let done = false;
      try {
        k.appendSync(BIG, second);
        done = true;
      } catch (e) {
        expect((e as Error).name).to.equal('PowerLossError');
      }
      flash.powerOn();
      const got = open(flash).latest(BIG)?.payload;
      expect(got, `cut at step ${step}`).to.deep.equal(done ? second : equalBytes(got ?? new Uint8Array(), second) ? second : first);
      flash.data.set(image);
      if (done) break;
      cuts++;
    }
    expect(cuts).to.be.greaterThan(3);
    // Payments and acknowledgements round the ring many times: the value comes through every reclaim.
    for (let round = 0; round < 30; round++) {
      fill(j, 20, round * 20);
      j.acknowledge(j.lastAcknowledgeable);
    }
    const b = open(flash);
    expect(b.latest(BIG)?.payload).to.deep.equal(first);
    expect(b.latest(CHECKPOINT)?.payload).to.deep.equal(new Uint8Array([1, 2, 3]));
    // Too large for the partition's spanning limit: a programmer error, not a partial write.
    expect(() => b.appendSync(BIG, new Uint8Array(b.maxValueBytes(BIG) + 1))).to.throw(JournalBug);
  });

  it('J1 J2: drops a torn tail and writes on past it', () => {
    const flash = new RamFlash({ blocks: 8, random: seededRandom(3) });
    const j = journal(flash);
    fill(j, 3);
    flash.cutPowerAt(0);
    expect(() => j.appendSync(RECEIPT, receiptPayload(1, 1, 4, 350))).to.throw('power lost');
    flash.powerOn();
    const b = new Journal({ flash, reserveBlocks: 2 });
    expect(b.open()).to.include({ lastSeq: 3, tornTail: true });
    expect(b.appendSync(RECEIPT, receiptPayload(1, 1, 5, 350))).to.equal(4);
    const c = new Journal({ flash, reserveBlocks: 2 });
    expect(c.open()).to.include({ lastSeq: 4, records: 4 });
  });

  it('J7 J8: does not accept a record altered in flash, even with a fixed-up CRC, and reports the break', () => {
    const flash = new RamFlash({ blocks: 8 });
    const j = journal(flash);
    fill(j, 25);
    // Forge receipt 2 (block 0): change its amount and recompute the CRC, as an attacker with the chip could.
    const at = RECORDS_START + (RECORD_OVERHEAD + 352);
    const image = flash.data;
    expect(readU32(image, at + 4)).to.equal(2);
    image[at + 24 + 2] = 0x7f; // amount bytes
    const { Crc32 } = require('../firmware/core/journal/crc32') as typeof import('../firmware/core/journal/crc32');
    const crc = new Crc32().compute(image, at, at + 24 + 350);
    image.set([crc >>> 24, (crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff], at + 24 + 350);
    const b = new Journal({ flash, reserveBlocks: 2 });
    const report = b.open();
    // Boot reads the head block only; block 0 is checked when first read, and the break is reported then.
    const seqs: number[] = [];
    b.replay(0, (r) => void seqs.push(r.seq));
    expect(report.breaks.length).to.be.greaterThan(0);
    expect(seqs).to.not.include(2);
  });

  it('runs on a file-backed flash that survives closing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tapline-flash-'));
    try {
      const path = join(dir, 'journal.bin');
      const f1 = new FileFlash({ path, blocks: 8 });
      fill(journal(f1), 15);
      f1.close();
      const f2 = new FileFlash({ path, blocks: 8 });
      const j = new Journal({ flash: f2, reserveBlocks: 2 });
      expect(j.open()).to.include({ lastSeq: 15, records: 15 });
      f2.write(new Uint8Array([0x00]), 8 * 4096 - 1);
      f2.write(new Uint8Array([0xff]), 8 * 4096 - 1);
      expect(new Uint8Array(f2.read(1, 8 * 4096 - 1))[0]).to.equal(0, 'a write cannot set bits');
      f2.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

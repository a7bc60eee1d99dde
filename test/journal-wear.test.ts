// Worn NOR flash (host/flash/ram-flash.ts models it): a block whose erase no longer leaves it blank, a
// byte whose bits no longer clear, a bit that flips on read. The journal retires the block, keeps every
// receipt not yet acknowledged, and says so in the log (docs/JOURNAL.md, J14 and J15).
import { expect } from 'chai';
import { readU32 } from '../firmware/base/bytes';
import { Journal, RECORDS_START } from '../firmware/core/journal/journal';
import { RamFlash } from '../host/flash/ram-flash';
import { CHECKPOINT, RECEIPT, receiptPayload, UPDATE } from './journal-workload';

function open(flash: RamFlash, logs: string[] = []): Journal {
  const j = new Journal({
    flash, keyedTypes: [UPDATE], reserveBlocks: 2, log: (level, tag, m) => void logs.push(`[${level}] ${tag}: ${m}`),
    checkpoint: { type: CHECKPOINT, snapshot: () => new Uint8Array([1, 2, 3]) },
  });
  j.open();
  return j;
}

function counters(j: Journal): number[] {
  const out: number[] = [];
  j.replay(j.ackedUpTo, (r) => void (r.type === RECEIPT && out.push(readU32(r.payload, 5))));
  return out;
}

function pay(j: Journal, from: number, n: number): void {
  for (let i = from; i < from + n; i++) j.appendSync(RECEIPT, receiptPayload(1, 100, i, 350));
}

describe('journal on worn flash', () => {
  it('J14: a block that no longer erases is retired, never opened again, and every receipt is kept', () => {
    const flash = new RamFlash({ blocks: 12 });
    const logs: string[] = [];
    const j = open(flash, logs);
    flash.wearErase(3);
    pay(j, 1, 60); // six blocks' worth: the ring reaches block 3 and steps over it
    expect(j.retiredBlocks).to.deep.equal([3]);
    expect(logs.some((l) => /\[error\] journal: block 3 retired \(does not erase\)/.test(l)), logs.join('\n')).to.equal(true);
    const b = open(flash);
    expect(counters(b)).to.deep.equal(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(b.retiredBlocks, 'the retirement is durable').to.deep.equal([3]);
    // Round the ring several times: block 3 is never erased again.
    const erasesOf3 = flash.eraseCounts[3];
    let n = 61;
    for (let round = 0; round < 8; round++) {
      b.acknowledge(b.lastAcknowledgeable);
      pay(b, n, 40);
      n += 40;
    }
    b.acknowledge(b.lastAcknowledgeable - 5);
    expect(flash.eraseCounts[3]).to.equal(erasesOf3);
    const c = open(flash);
    expect(counters(c)).to.deep.equal(Array.from({ length: 5 }, (_, i) => n - 5 + i));
    expect(c.lastSeq).to.equal(b.lastSeq);
  });

  it('J14: a record that does not program retires its block; the records before it stay, the record goes into the next block', () => {
    const flash = new RamFlash({ blocks: 12 });
    const logs: string[] = [];
    const j = open(flash, logs);
    pay(j, 1, 3);
    // The fifth receipt's bytes land here: bits that stay at 1.
    flash.wearProgram(RECORDS_START + 4 * 380 + 40, 0xff);
    pay(j, 4, 10);
    expect(j.retiredBlocks).to.deep.equal([0]);
    expect(logs.some((l) => /block 0 retired \(record \d+ did not read back\); its 4 records stay until acknowledged/.test(l)), logs.join('\n')).to.equal(true);
    const b = open(flash);
    expect(counters(b)).to.deep.equal(Array.from({ length: 13 }, (_, i) => i + 1));
    expect(b.retiredBlocks).to.deep.equal([0]);
    // Acknowledged, the worn block leaves the ring and is not reused.
    b.acknowledge(b.lastAcknowledgeable);
    pay(b, 14, 60);
    b.acknowledge(b.lastAcknowledgeable);
    pay(b, 74, 60);
    expect(open(flash).retiredBlocks).to.deep.equal([0]);
    expect(counters(open(flash))).to.deep.equal(Array.from({ length: 60 }, (_, i) => 74 + i));
  });

  it('J15: a bit that flips on read is read again: no receipt is taken for torn, and the weak block is retired', () => {
    const flash = new RamFlash({ blocks: 12 });
    const j = open(flash);
    pay(j, 1, 8);
    const logs: string[] = [];
    // Inside the third receipt of the head block, for the next read only.
    flash.flipOnRead(RECORDS_START + 2 * 380 + 100, 3, 1);
    const b = open(flash, logs);
    expect(counters(b)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(b.retiredBlocks).to.deep.equal([0]);
    expect(logs.some((l) => /block 0 retired \(two reads of it differ\); its \d+ records stay until acknowledged/.test(l)), logs.join('\n')).to.equal(true);
    pay(b, 9, 2);
    const c = open(flash);
    expect(counters(c)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(c.retiredBlocks).to.deep.equal([0]);
  });
});

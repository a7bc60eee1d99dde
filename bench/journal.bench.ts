// Journal figures on the XS engine: work and flash traffic per append, boot recovery of a full ~1 MB
// partition, and how many ~350-byte receipts fit. The flash read time is a model, not a measurement:
// quad-I/O fast read (0xEB) at 40 MHz moves 4 bits per clock, so 2 clocks per byte (20 MB/s), plus about
// 24 clocks per read command (8 command, 6 address, 4 mode + 6 dummy) and one read per 4096-byte block.
import type { Report } from './main';
import { XSScenario } from '../host/xs/scenario';

const SPI_HZ = 40_000_000;
const CLOCKS_PER_BYTE = 2;
const CLOCKS_PER_COMMAND = 24;
const RECEIPT_BYTES = 350;
const BLOCKS = 256; // 1 MiB partition

interface AppendResult {
  full: boolean;
  seq?: number;
  programmed?: number;
  erased?: number;
}

interface Recovery {
  records: number;
  blocks: number;
  bytesRead: number;
}

function modelReadMs(bytes: number, commands: number): number {
  return ((bytes * CLOCKS_PER_BYTE + commands * CLOCKS_PER_COMMAND) / SPI_HZ) * 1000;
}

export async function run(report: Report, options: { quick: boolean }): Promise<void> {
  const xs = await XSScenario.load('test/xs/journal.guest.ts');
  try {
    await xs.call('benchOpen', { blocks: BLOCKS });
    const compute: number[] = [];
    let programmed = 0;
    let erased = 0;
    let appends = 0;
    const limit = options.quick ? 300 : Infinity;
    for (let i = 1; appends < limit; i++) {
      const { value, meter } = await xs.call<AppendResult>('benchAppend', { bytes: RECEIPT_BYTES, counter: i });
      if (value.full) break;
      compute.push(meter.compute);
      programmed += value.programmed!;
      erased += value.erased!;
      appends++;
    }
    compute.sort((a, b) => a - b);
    report({
      bench: 'journal.append.xs',
      receiptBytes: RECEIPT_BYTES,
      appends,
      computeMean: Math.round(compute.reduce((a, b) => a + b, 0) / compute.length),
      computeP50: compute[Math.floor(compute.length / 2)]!,
      computeMax: compute[compute.length - 1]!,
      flashProgrammedPerAppend: programmed / appends,
      flashErasedPerAppend: erased / appends,
    });
    if (!options.quick) {
      const mib = (BLOCKS * 4096) / (1 << 20);
      report({ bench: 'journal.capacity', partitionBytes: BLOCKS * 4096, reserveBlocks: 4, receiptBytes: RECEIPT_BYTES, receipts: appends, receiptsPerMiB: appends / mib });
    }
    for (const verifyChain of [true, false]) {
      const { value, meter } = await xs.call<Recovery>('benchRecover', { verifyChain });
      report({
        bench: verifyChain ? 'journal.boot.xs' : 'journal.boot.xs.crc-only',
        partitionBytes: BLOCKS * 4096,
        blocksInUse: value.blocks,
        records: value.records,
        compute: meter.compute,
        flashBytesRead: value.bytesRead,
        modelReadMs40MHzQuad: modelReadMs(value.bytesRead, BLOCKS + value.blocks),
      });
    }
  } finally {
    await xs.close();
  }
}

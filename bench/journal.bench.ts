// Journal figures on the XS engine: work and flash traffic per append, boot recovery of a full ~1 MB
// partition, and how many ~350-byte receipts fit. The flash read time is a model, not a measurement:
// quad-I/O fast read (0xEB) at 40 MHz moves 4 bits per clock, so 2 clocks per byte (20 MB/s), plus about
// 24 clocks per read command (8 command, 6 address, 4 mode + 6 dummy) and one read per 4096-byte block.
// The ESP32 time models (host XS ms x `factor`) use the factor calibrated in this same run, as
// bench/tap.bench.ts does (a native P-256 verify on the device-sized host against the published 267 ms on
// an S3; it assumes XS slows down like C does): `journal.calibration`, and each row says the factor it used.
// These rows run on xsnap with the JavaScript hashes; the device's own boot figure (native hashing, the
// device-sized host) is bench/xsdev-journal.bench.ts's `xsdev-journal.boot.full`.
import type { Report } from './main';
import { XSScenario } from '../host/xs/scenario';
import { calibrate, ESP32S3_P256_VERIFY_MS } from './xsdev.bench';
import { ALG_ED25519, ALG_P256, algName, type Alg } from '../firmware/core/protocol/alg';

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

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
  replayed: number;
  bytesHashed: number;
  bytesCrc: number;
}

export function modelReadMs(bytes: number, commands: number): number {
  return ((bytes * CLOCKS_PER_BYTE + commands * CLOCKS_PER_COMMAND) / SPI_HZ) * 1000;
}

export async function run(report: Report, options: { quick: boolean }): Promise<void> {
  const { hostMsPerVerify, factor } = await calibrate(options.quick ? 3 : 15);
  report({ bench: 'journal.calibration', nativeP256VerifyHostMs: hostMsPerVerify, esp32s3P256VerifyMs: ESP32S3_P256_VERIFY_MS, factor });
  const xs = await XSScenario.load('test/xs/journal.guest.ts');
  try {
    await xs.call('benchOpen', { blocks: BLOCKS });
    const compute: number[] = [];
    let programmed = 0;
    let erased = 0;
    let appends = 0;
    const limit = options.quick ? 300 : Infinity;
    const appendMs: number[] = [];
    for (let i = 1; appends < limit; i++) {
      const t0 = performance.now();
      const { value, meter } = await xs.call<AppendResult>('benchAppend', { bytes: RECEIPT_BYTES, counter: i });
      const t1 = performance.now();
      if (i % 10 === 0) {
        await xs.call('benchNoop', {});
        appendMs.push(t1 - t0 - (performance.now() - t1));
      }
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
      hostMsPerAppend: median(appendMs),
      appendsPerSecondXsHost: 1000 / median(appendMs),
      factor,
      appendsPerSecondEsp32Model: 1000 / (median(appendMs) * factor),
    });
    if (!options.quick) {
      const mib = (BLOCKS * 4096) / (1 << 20);
      report({ bench: 'journal.capacity', partitionBytes: BLOCKS * 4096, reserveBlocks: 4, receiptBytes: RECEIPT_BYTES, receipts: appends, receiptsPerMiB: appends / mib });
    }
    for (const verifyChain of [true, false]) {
      const hostMs: number[] = [];
      let result: { value: Recovery; meter: { compute: number } } | undefined;
      for (let i = 0; i < (options.quick ? 1 : 5); i++) {
        await xs.call('benchCopy', {});
        const t0 = performance.now();
        result = await xs.call<Recovery>('benchRecover', { verifyChain });
        const t1 = performance.now();
        await xs.call('benchNoop', {});
        hostMs.push(t1 - t0 - (performance.now() - t1));
      }
      const { value, meter } = result!;
      const computeMs = Math.max(0, median(hostMs)) * factor;
      // One read command per block header, then one per block read whole.
      const readMs = modelReadMs(value.bytesRead, BLOCKS + Math.ceil((value.bytesRead - BLOCKS * 36) / 4096));
      report({
        bench: verifyChain ? 'journal.boot' : 'journal.boot.crc-only',
        partitionBytes: BLOCKS * 4096,
        blocksInUse: value.blocks,
        records: value.records,
        replayed: value.replayed,
        compute: meter.compute,
        flashBytesRead: value.bytesRead,
        bytesHashed: value.bytesHashed,
        bytesCrc: value.bytesCrc,
        modelReadMs40MHzQuad: readMs,
        hostMs: median(hostMs),
        factor,
        modelComputeMsEsp32: computeMs,
        modelMsEsp32: readMs + computeMs,
      });
    }
  } finally {
    await xs.close();
  }
  await recoveryCost(report, factor);
}

/**
 * What recovering an in-doubt payment adds to the wallet's next tap (RECALL, the certificate and payment
 * signature checks, the receipt append): the same tap measured with and without a payment in doubt.
 */
export async function recoveryCost(report: Report, factor: number): Promise<void> {
  const xs = await XSScenario.load('test/xs/in-doubt.guest.ts');
  try {
    for (const [alg, bound] of [[ALG_P256, false], [ALG_ED25519, false], [ALG_ED25519, true]] as [Alg, boolean][]) {
      const row: Record<string, number | string> = { alg: algName(alg), purse: bound ? 'bound' : 'free' };
      for (const inDoubt of [false, true]) {
        await xs.call('prepare', { alg, inDoubt, bound });
        const t0 = performance.now();
        const { value, meter } = await xs.call<string>('tap');
        row[inDoubt ? 'hostMsWithRecovery' : 'hostMsPlain'] = performance.now() - t0;
        if (value !== (inDoubt ? 'recovered' : 'none')) throw new Error(`recovery bench: ${value}`);
        row[inDoubt ? 'computeWithRecovery' : 'computePlain'] = meter.compute;
      }
      const extra = (row.hostMsWithRecovery as number) - (row.hostMsPlain as number);
      report({ bench: 'journal.indoubt.recovery', ...row, computeAdded: (row.computeWithRecovery as number) - (row.computePlain as number), hostMsAdded: extra, factor, modelMsAddedEsp32: extra * factor });
    }
  } finally {
    await xs.close();
  }
}

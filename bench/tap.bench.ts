// Cost of one tap on the terminal side, for {P-256, Ed25519} x {cold: certificate not cached, warm:
// cached} x {transit, merchant}, on the XS engine and on Node. The wallet's answers are recorded
// beforehand (test/xs/core-tap-bench.ts), so the figures are the terminal's work alone: SELECT, READ
// CERTIFICATE, parsing, risk checks, certificate check (cold), PAY, payment signature check, receipt
// append to an in-memory journal. In transit the fare is under the deferral amount, so the tap checks
// no signature at all: that work moves to idle time (Terminal.verifyAllPending / ticks).
//
// computrons: XS metering of the tap message. heapBytes: growth of XS's slots in use across the tap
// (meter.currentHeapCount after the tap minus after a gc() just before it) x 32 bytes per slot on this
// 64-bit build; it counts the slots the tap allocated (garbage included, no collection ran), not the
// chunks (BigInt digits, byte buffers), which the worker's meter does not report separately.
// hostMs (xs): wall time of the tap call minus that of an empty call (the worker's message round trip).
// esp32ModelMs: host XS milliseconds x `factor`, calibrated in the same run as bench/xsdev.bench.ts does
// (the published 267 ms for a P-256 verify on an ESP32-S3 at 240 MHz over the same native verify timed on
// this machine now; assumes XS slows down like C does). Each row says the factor it used.
import type { Report } from './main';
import { ALG_ED25519, ALG_P256, algName, type Alg } from '../firmware/core/crypto/verify';
import type { Mode } from '../firmware/core/risk/engine';
import { XSScenario } from '../host/xs/scenario';
import { TapBench } from '../test/xs/core-tap-bench';
import { calibrate, ESP32S3_P256_VERIFY_MS } from './xsdev.bench';

const SLOT_BYTES = 32;

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export async function run(report: Report, options: { quick: boolean }): Promise<void> {
  const runs = options.quick ? 3 : 25;
  const { hostMsPerVerify, factor } = await calibrate(options.quick ? 3 : 15);
  report({ bench: 'tap.calibration', nativeP256VerifyHostMs: hostMsPerVerify, esp32s3P256VerifyMs: ESP32S3_P256_VERIFY_MS, factor });
  const algs: Alg[] = [ALG_P256, ALG_ED25519];
  const modes: Mode[] = ['transit', 'merchant'];
  const xs = await XSScenario.load('test/xs/core-bench.guest.ts');
  try {
    for (const alg of algs) {
      for (const mode of modes) {
        const node = new TapBench();
        await node.setup({ alg, mode });
        await xs.call('setup', { alg, mode });
        for (const cert of ['cold', 'warm'] as const) {
          const cold = cert === 'cold';
          const xsMs: number[] = [];
          const emptyMs: number[] = [];
          const nodeMs: number[] = [];
          let computrons = 0;
          let heapBytes = 0;
          for (let i = 0; i < runs; i++) {
            await xs.call('prepare', { cold });
            const before = await xs.call('gc');
            const t0 = performance.now();
            const tap = await xs.call<string>('tap');
            xsMs.push(performance.now() - t0);
            if (tap.value !== 'approved') throw new Error(`XS tap ${algName(alg)} ${mode} ${cert}: ${tap.value}`);
            const t2 = performance.now();
            await xs.call('noop');
            emptyMs.push(performance.now() - t2);
            computrons = tap.meter.compute;
            heapBytes = (tap.meter.currentHeapCount - before.meter.currentHeapCount) * SLOT_BYTES;
            node.prepare(cold);
            const t1 = performance.now();
            const outcome = await node.tap();
            nodeMs.push(performance.now() - t1);
            if (outcome !== 'approved') throw new Error(`Node tap ${algName(alg)} ${mode} ${cert}: ${outcome}`);
          }
          const common = { bench: 'tap', alg: algName(alg), cert, mode };
          const hostMs = Math.max(0, median(xsMs) - median(emptyMs));
          report({ ...common, engine: 'xs', computrons, heapBytes, hostMs, factor, esp32ModelMs: hostMs * factor });
          report({ ...common, engine: 'node', computrons: null, heapBytes: null, hostMs: median(nodeMs), esp32ModelMs: null });
        }
      }
    }
  } finally {
    await xs.close();
  }
}

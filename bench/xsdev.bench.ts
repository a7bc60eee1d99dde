// Taps on the device-sized XS host (native/xsdev): the exact device bundle in a machine made from a
// manifest's creation block, for {P-256, Ed25519} x {cold, warm} x {transit, transit priced by fare
// rules (a transfer: READ TRANSIT LOG, its digest, the fare engine), merchant} x {js, native}.
// Each tap includes its journal append on flash semantics (1 MiB partition in C memory). Transit taps
// here verify before the gate opens (verifyBeforeOpen), on both paths, so the rows compare like with like.
//
// The device model is calibrated in this run: the host time of one native mbedTLS P-256 verify, taken
// through the device-sized host, against the published 267 ms for that verify on an ESP32-S3 at 240 MHz
// (Espressif's ESP-IDF mbedTLS figures, see docs/DEVICE.md). factor = 267 / that host time, and
// esp32ModelMs = the tap's host time x factor: it assumes the whole tap (XS bytecode and C alike) slows
// down by the same factor as mbedTLS's C does. hostMs is the engine's own time for the step (measured
// in C around the message), the fastest of the runs (calibration likewise); computrons are XS's deterministic metering.
// Native rows run in the DevKitC creation block (what a plain ESP32 has), JavaScript rows in the S3's
// (noble's base-point tables do not fit the DevKitC's); a row that does not fit says so.
import type { Report } from './main';
import { ALG_ED25519, ALG_P256, algName, type Alg } from '../firmware/core/crypto/verify';
import type { Mode } from '../firmware/core/risk/engine';
import { toHex } from '../firmware/base/bytes';
import { creationOf, DeviceHost, type Board, type Creation } from '../host/xsdev/device-host';
import { bootSteps, fullJournalBoot, NOW, profileScenario, recordScenario, runScenario, type MeasuredScenario, type TapScenario } from '../host/xsdev/scenario';
import { transferringRider } from '../test/xs/fares-scenarios';
import { generateKeyPair, sign } from '../host/wallet/issuer';
import { seededRandom } from '../host/wallet/random';
import { p256 } from '@noble/curves/nist.js';

/** ESP32-S3 at 240 MHz, mbedTLS ECDSA P-256 verify (software), ms: the anchor of the model. */
export const ESP32S3_P256_VERIFY_MS = 267;
const SLOT_BYTES_ESP32 = 16;
/** The target: XS heap in use during a tap on the DevKitC block. */
const HEAP_TARGET_BYTES = 64 * 1024;

/** The least-disturbed run: on a shared machine the other runs carry other processes' time. */
function fastest(values: number[]): number {
  return Math.min(...values);
}

export async function calibrate(runs: number, count?: number): Promise<{ hostMsPerVerify: number; factor: number }> {
  const hostMsPerVerify = await nativeVerifyHostMs(ALG_P256, runs, count);
  return { hostMsPerVerify, factor: ESP32S3_P256_VERIFY_MS / hostMsPerVerify };
}

/**
 * Host time of one native verification of `alg` through the device-sized host, the fastest of `runs`
 * messages of `count` verifications each. On a loaded machine a long message is more often preempted
 * than a short one: a figure compared with short steps (one tap) is best taken from short messages too.
 */
export async function nativeVerifyHostMs(alg: Alg, runs: number, count = 50): Promise<number> {
  const random = seededRandom('xsdev calibration');
  const pair = generateKeyPair(alg, random);
  const message = random(200);
  // P-256 uncompressed: the published figure is mbedtls_ecdsa_verify itself, without decompressing the key
  const publicKey = alg === ALG_P256 ? p256.Point.fromBytes(pair.publicKey).toBytes(false) : pair.publicKey;
  const c = { publicKey: toHex(publicKey), message: toHex(message), signature: toHex(sign(pair, message)) };
  const host = await DeviceHost.start(creationOf('esp32-devkitc'));
  try {
    const per: number[] = [];
    for (let i = 0; i < runs; i++) {
      const r = await host.call<number>(alg === ALG_P256 ? 'nativeP256' : 'nativeEd25519', { ...c, count });
      if (r.value !== count) throw new Error('the calibration signature did not verify');
      per.push(r.meter.device.hostMs / count);
    }
    return fastest(per);
  } finally {
    await host.close();
  }
}

async function measure(s: TapScenario, native: boolean, creation: Creation, runs: number): Promise<MeasuredScenario[] | string> {
  const out: MeasuredScenario[] = [];
  for (let i = 0; i < runs; i++) {
    const host = await DeviceHost.start(creation);
    try {
      out.push(await runScenario(host, s, native));
    } catch (e) {
      return (e as Error).message;
    } finally {
      await host.close();
    }
  }
  return out;
}

/** The smallest share of the DevKitC's chunks and slots (its stack kept) in which the scenario still runs. */
async function smallestShare(s: TapScenario): Promise<number> {
  const full = creationOf('esp32-devkitc');
  let low = 0.05;
  let high = 1;
  for (let i = 0; i < 7; i++) {
    const k = (low + high) / 2;
    const fits = await measure(s, true, { chunk: Math.floor(full.chunk * k), heap: Math.floor(full.heap * k), stack: full.stack }, 1);
    if (typeof fits === 'string') low = k;
    else high = k;
  }
  return high;
}

/**
 * The XS heap in use: the most that is reachable at once (live bytes) during boot and during each tap,
 * native, in the DevKitC block. The steps run with a collection before every allocation (xsdevLiveHeap),
 * so each peak is live slots and chunk bytes, garbage excluded: what a collector running at the last
 * moment needs, and a lower bound of any block that runs the step. At the start of a tap what is live is
 * what the terminal keeps between taps (and the host's table of recorded wallet answers, ~500 bytes).
 * Bytes on the ESP32: slots x 16 + chunk bytes (chunk bytes as this 64-bit build counts them: arrays of
 * slots in chunks are twice the device's size, so an upper bound).
 */
async function liveHeap(report: Report, s: TapScenario): Promise<void> {
  const host = await DeviceHost.start(creationOf('esp32-devkitc'));
  try {
    const r = await runScenario(host, s, true, { boot: true, taps: true });
    for (const step of ['boot', 'cold', 'warm'] as const) {
      const d = r[step].meter.device;
      if (!d.live) throw new Error('the device-sized host did not measure live bytes');
      report({
        bench: 'xsdev.heap', alg: algName(s.alg), mode: s.mode, step: step === 'boot' ? 'boot' : `${step} tap`, impl: 'native', board: 'esp32-devkitc',
        liveSlotsAtStart: d.startSlots, liveChunkBytesAtStart: d.startChunkBytes, liveBytesAtStartEsp32: d.startSlots * SLOT_BYTES_ESP32 + d.startChunkBytes,
        peakSlots: d.peakSlots, peakChunkBytes: d.peakChunkBytes, peakLiveBytesEsp32: d.peakSlots * SLOT_BYTES_ESP32 + d.peakChunkBytes,
        targetBytes: HEAP_TARGET_BYTES,
      });
    }
  } finally {
    await host.close();
  }
}

/**
 * A reboot with the 1 MiB journal partition full (every receipt unacknowledged), native, in each
 * board's block: the whole boot and its longest turn of the event loop (where the watchdog starves).
 */
async function fullBoot(report: Report, s: TapScenario, factor: number): Promise<void> {
  for (const board of ['esp32-devkitc', 'esp32s3-devkitc'] as const) {
    const host = await DeviceHost.start(creationOf(board));
    try {
      const { fill, boot } = await fullJournalBoot(host, s);
      const turns = boot.value.turns ?? [];
      const longest = turns.reduce((a, b) => (b.computrons > a.computrons ? b : a), { computrons: 0, hostMs: 0 });
      const steps = bootSteps(boot.value).sort((a, b) => b.computrons - a.computrons).slice(0, 3);
      report({
        bench: 'xsdev.boot.full', board, fits: true, records: fill.records, usedBlocks: fill.usedBlocks, blocks: fill.blocks,
        computrons: boot.meter.compute, peakSlots: boot.meter.device.peakSlots, peakChunkBytes: boot.meter.device.peakChunkBytes,
        stackPeak: boot.meter.device.stackPeak, hostMs: boot.meter.device.hostMs, factor, esp32ModelMs: boot.meter.device.hostMs * factor,
        turns: turns.length, longestTurnComputrons: longest.computrons, longestTurnHostMs: longest.hostMs, longestTurnModelMs: longest.hostMs * factor,
        heaviestSteps: steps.map((x) => `${x.computrons} before "${x.line.slice(0, 48)}"`).join('; '),
      });
    } catch (e) {
      report({ bench: 'xsdev.boot.full', board, fits: false, error: (e as Error).message });
    } finally {
      await host.close();
    }
  }
}

export async function run(report: Report, options: { quick: boolean }): Promise<void> {
  const runs = options.quick ? 1 : 5;
  const { hostMsPerVerify, factor } = await calibrate(options.quick ? 3 : 15);
  report({ bench: 'xsdev.calibration', nativeP256VerifyHostMs: hostMsPerVerify, esp32s3P256VerifyMs: ESP32S3_P256_VERIFY_MS, factor });
  const algs: Alg[] = [ALG_P256, ALG_ED25519];
  // transit priced by the zone rules too (READ TRANSIT LOG, its digest, the fare engine): a transfer
  const variants: Array<{ mode: Mode; fares: boolean }> = [{ mode: 'transit', fares: false }, { mode: 'transit', fares: true }, { mode: 'merchant', fares: false }];
  for (const alg of algs) {
    for (const { mode, fares } of variants) {
      const s = await recordScenario(alg, mode, fares ? transferringRider('M-metro', NOW) : undefined);
      for (const impl of ['js', 'native'] as const) {
        const board: Board = impl === 'native' ? 'esp32-devkitc' : 'esp32s3-devkitc';
        const creation = creationOf(board);
        const measured = await measure(s, impl === 'native', creation, runs);
        for (const cert of ['cold', 'warm'] as const) {
          const common = { bench: 'xsdev.tap', alg: algName(alg), cert, mode, fares, impl, board };
          if (typeof measured === 'string') {
            report({ ...common, fits: false, error: measured });
            continue;
          }
          const steps = measured.map((m) => m[cert]);
          const d = steps[0]!.meter.device;
          const hostMs = fastest(steps.map((t) => t.meter.device.hostMs));
          report({
            ...common,
            fits: true,
            computrons: steps[0]!.meter.compute,
            peakSlots: d.peakSlots,
            peakChunkBytes: d.peakChunkBytes,
            peakHeapBytesEsp32: d.peakSlots * SLOT_BYTES_ESP32 + d.peakChunkBytes,
            stackPeak: d.stackPeak,
            journalBytesProgrammed: steps[0]!.value.journalBytesProgrammed,
            deferred: steps[0]!.value.deferred,
            hostMs,
            factor,
            esp32ModelMs: hostMs * factor,
          });
        }
        if (typeof measured !== 'string') {
          const b = measured[0]!.boot;
          report({
            bench: 'xsdev.boot', alg: algName(alg), mode, fares, impl, board, computrons: b.meter.compute, peakSlots: b.meter.device.peakSlots,
            peakChunkBytes: b.meter.device.peakChunkBytes, stackPeak: b.meter.device.stackPeak, hostMs: fastest(measured.map((m) => m.boot.meter.device.hostMs)),
            factor, esp32ModelMs: fastest(measured.map((m) => m.boot.meter.device.hostMs)) * factor,
            preloadSlots: b.meter.device.preload.slots, preloadChunkBytes: b.meter.device.preload.chunkBytes, preloadKeys: b.meter.device.preload.keys,
          });
        }
      }
      if (!fares) await liveHeap(report, s);
      if (alg === ALG_ED25519 && mode === 'transit' && !fares) await fullBoot(report, s, factor);
      const host = await DeviceHost.start(creationOf('esp32-devkitc'));
      try {
        const profiled = await profileScenario(host, s);
        for (const cert of ['cold', 'warm'] as const) {
          const p = profiled[cert];
          const parts = Object.fromEntries(p.parts.map((x) => [x.part, `${x.computrons} (${((100 * x.computrons) / p.total).toFixed(1)} %, ${x.calls} calls)`]));
          report({ bench: 'xsdev.profile', alg: algName(alg), cert, mode, fares, impl: 'native', board: 'esp32-devkitc', outcome: p.outcome, computrons: p.total, ...parts });
        }
      } finally {
        await host.close();
      }
      if (mode === 'merchant' && alg === ALG_P256 || mode === 'transit' && alg === ALG_ED25519 && !fares) {
        const full = creationOf('esp32-devkitc');
        const k = await smallestShare(s);
        report({
          bench: 'xsdev.smallest', alg: algName(alg), mode, impl: 'native', share: k, chunk: Math.floor(full.chunk * k), slots: Math.floor(full.heap * k),
          heapBytesEsp32: Math.floor(full.chunk * k) + Math.floor(full.heap * k) * SLOT_BYTES_ESP32, stack: full.stack,
          note: 'boot + cold tap + warm tap still run with this share of the DevKitC chunks and slots (within 1/128)',
        });
      }
    }
  }
}

// The journal's part of a reboot on a full 1 MiB partition, on the device-sized host (native/xsdev)
// with native hashing, in each board's creation block: `npm run bench -- --only xsdev-journal`.
// The terminal took receipts until the journal refused more, lost power (its RAM state dropped and
// collected) and booted again. From boot's log stamps: Journal.open, the checkpoint's load and the
// replay of the records after it into the terminal (the journal's part), beside the whole boot (which
// also parses the provisioning and runs the signature self-test). esp32ModelMs = host ms x factor, the
// factor from this run's calibration (a native P-256 verify against the published 267 ms, as
// bench/xsdev.bench.ts does it), plus the SPI read of the bytes boot read (bench/journal.bench.ts's
// model); computrons are XS's own metering and do not move with the machine's load. Two fills: until
// the journal refused more (wherever the checkpoint cadence then stands), and the worst phase, the most
// records after a checkpoint a boot can find (CHECKPOINT_EVERY). turns: boot's turns of the event loop
// (the watchdog is fed between them) and the longest.
import type { Report } from './main';
import { ALG_ED25519 } from '../firmware/core/crypto/verify';
import { creationOf, DeviceHost } from '../host/xsdev/device-host';
import { fullJournalBoot, recordScenario } from '../host/xsdev/scenario';
import type { BootReply } from '../host/xsdev/app';
import { calibrate } from './xsdev.bench';
import { modelReadMs } from './journal.bench';
import { CHECKPOINT_EVERY } from '../firmware/app/state';

const BLOCK_BYTES = 4096;
const HEADER_BYTES = 36;

/** Computrons and host ms spent before the log line starting with `line` (since the line before it). */
function before(reply: BootReply, line: string): { computrons: number; hostMs: number } {
  const i = reply.logs.findIndex((l) => l.startsWith(line));
  if (i < 1) throw new Error(`boot did not log "${line}"`);
  const [c, m] = [reply.stamps!, reply.stampsMs!];
  return { computrons: c[i]! - c[i - 1]!, hostMs: m[i]! - m[i - 1]! };
}

/** The fills measured: until the journal refused more, and its worst phase for boot (DeviceApp.fill). */
const FILLS = [
  { fill: 'until refused', options: {} },
  // Full but for 7 blocks (4 are the reserve), then receipts until the next would first write a checkpoint.
  { fill: 'most records after a checkpoint', options: { leaveFreeBlocks: 7, replayAtMost: CHECKPOINT_EVERY } },
  // The risk state at its bound (1,000 wallets with the tap's own): every checkpoint is 7 parts.
  { fill: 'until refused, 1,000 wallets', options: { wallets: 999 } },
  // Its worst phase: a delta of 100 changed wallets (50 new, as many forgotten: near what one record
  // holds) after the 7-part checkpoint, then the most records after it, all replayed at boot.
  { fill: 'most records after a delta of 100 wallets, 1,000 wallets', options: { wallets: 999, leaveFreeBlocks: 24, changedWallets: 100, replayAtMost: CHECKPOINT_EVERY } },
] as const;

export async function run(report: Report, options: { quick: boolean }): Promise<void> {
  const { factor, hostMsPerVerify } = await calibrate(options.quick ? 3 : 15);
  report({ bench: 'xsdev-journal.calibration', nativeP256VerifyHostMs: hostMsPerVerify, factor });
  const s = await recordScenario(ALG_ED25519, 'transit');
  for (const board of ['esp32s3-devkitc', 'esp32-devkitc'] as const) {
    for (const { fill, options: fillOptions } of FILLS) {
      const runs: Array<Awaited<ReturnType<typeof fullJournalBoot>>> = [];
      for (let i = 0; i < (options.quick ? 1 : 5); i++) {
        const host = await DeviceHost.start(creationOf(board));
        try {
          runs.push(await fullJournalBoot(host, s, fillOptions));
        } catch (e) {
          report({ bench: 'xsdev-journal.boot.full', board, fill, fits: false, error: (e as Error).message });
          break;
        } finally {
          await host.close();
        }
      }
      if (runs.length === 0) continue;
      // the least disturbed run (on a shared machine the others carry other processes' time)
      const parts = runs.map(({ boot }) => {
        const open = before(boot.value, '[info] journal: open:');
        const checkpoint = before(boot.value, '[debug] journal: state from checkpoint');
        const replay = before(boot.value, '[info] risk: restored');
        return {
          computrons: open.computrons + checkpoint.computrons + replay.computrons,
          hostMs: open.hostMs + checkpoint.hostMs + replay.hostMs,
          open,
          checkpoint,
          replay,
        };
      });
      const best = parts.reduce((a, b) => (b.hostMs < a.hostMs ? b : a));
      const r = runs[0]!;
      const bytes = r.bootBytesRead;
      const readMs = modelReadMs(bytes, r.fill.blocks + Math.ceil(Math.max(0, bytes - r.fill.blocks * HEADER_BYTES) / BLOCK_BYTES));
      const turns = r.boot.value.turns ?? [];
      // each turn's host time, the least disturbed run's (turns are the same steps in every run)
      const turnMs = turns.map((_, i) => Math.min(...runs.map((x) => x.boot.value.turns?.[i]?.hostMs ?? Infinity)));
      const longest = turns.reduce((a, t, i) => (t.computrons > turns[a]!.computrons ? i : a), 0);
      // The device's boot: its turns, from boot() to the last. Not the reboot message's whole meter: before
      // boot() the harness writes the provisioning partition (utf8Encode and a flash write of its text),
      // which the CLI does once at provisioning, not the device at every boot.
      const bootOf = (x: (typeof runs)[number]) => (x.boot.value.turns ?? []).reduce((a, t) => ({ computrons: a.computrons + t.computrons, hostMs: a.hostMs + t.hostMs }), { computrons: 0, hostMs: 0 });
      const bootHostMs = Math.min(...runs.map((x) => bootOf(x).hostMs));
      report({
        bench: 'xsdev-journal.boot.full',
        board,
        fill,
        fits: true,
        usedBlocks: r.fill.usedBlocks,
        blocks: r.fill.blocks,
        records: r.fill.records,
        replayedRecords: r.fill.afterCheckpoint,
        journalComputrons: best.computrons,
        openComputrons: best.open.computrons,
        checkpointComputrons: best.checkpoint.computrons,
        replayComputrons: best.replay.computrons,
        flashBytesRead: bytes,
        modelReadMs40MHzQuad: readMs,
        journalHostMs: best.hostMs,
        factor,
        journalEsp32ModelMs: best.hostMs * factor + readMs,
        turns: turns.length,
        longestTurnComputrons: turns[longest]?.computrons ?? 0,
        longestTurnEsp32ModelMs: (turnMs[longest] ?? 0) * factor,
        bootComputrons: bootOf(r).computrons,
        harnessComputrons: r.boot.meter.compute - bootOf(r).computrons,
        bootHostMs,
        bootEsp32ModelMs: bootHostMs * factor + readMs,
        stackPeak: r.boot.meter.device.stackPeak,
        runs: runs.length,
      });
    }
  }
}

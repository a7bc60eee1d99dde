// The rush hour at one gate: 45 riders a minute for an hour (Poisson arrivals, seeded) at a transit
// validator with zone fare rules, on the device model. Each tap is the real terminal on the
// device-sized XS host (native/xsdev running test/xs/rush-hour.ts: READ TRANSIT LOG, the fare engine,
// risk, the journal on a flash partition with its state checkpoints, the device's native hashing and
// signature checks), and its XS work costs its computrons x the host time of one computron (measured
// here, on the same engine) x the device factor, which xsdev.bench.ts's calibration measures in this
// same run (a native mbedTLS P-256 verify on the device-sized host against its published 267 ms on an
// ESP32-S3). A signature check costs the native figure of its algorithm: 267 ms for P-256, and for
// Ed25519 the native libsodium verify measured here on the device-sized host x the same factor.
// Ed25519 cards (one in four) are checked before the gate opens; P-256 cards are deferred, and the
// terminal itself schedules their checks (one signature a turn of the loop, in the result screen only
// where one ends before the screen does, while waiting only when the gate is quiet or the backlog
// high: firmware/core/terminal/terminal.ts DeferredSchedule). The bench runs the device's loop
// (firmware/app/runner.ts): a turn every 50 ms while checks are pending, the card first once a rider
// is at the gate; a rider who arrives during a check waits for it, one during the result screen
// (800 ms, the rider before walking through) waits for the screen.
// The host time of a computron is the fastest tap's (the engine's own time for the step, measured in
// C), as the calibration takes its fastest run: first from a warm-up gate of its own before the hour,
// then from the hour's taps as well. Printed: the worst, 99th-percentile and median tap from arrival to
// decision, the tap's own time (from the gate taking the card) and what the worst one held, riders who
// waited behind a check and how long, the backlog of unverified taps each 5 minutes, taps verified
// before opening, declines by reason, the load average.
import { loadavg } from 'node:os';
import type { Report } from './main';
import { creationOf, DeviceHost, type Creation } from '../host/xsdev/device-host';
import { calibrate, ESP32S3_P256_VERIFY_MS, nativeVerifyHostMs } from './xsdev.bench';
import { ALG_ED25519 } from '../firmware/core/crypto/verify';
import { prng } from '../host/sim/hw/prng';
import { CHECKPOINT_EVERY } from '../firmware/app/state';

const RIDERS_PER_MINUTE = 45;
const RESULT_MS = 800;
const IDENTITIES = 48;
/** One card in this many is Ed25519 (checked before opening); the others P-256 (deferred). */
const ED25519_EVERY = 4;
/** The device's loop turns this often while it has checks to do. */
const TURN_MS = 50;
/** Taps of the warm-up gate that measures the host time of a computron before the hour. */
const WARM_UP_TAPS = 100;
/** Messages of the calibration (two native verifications each), the fastest taken. */
const CALIBRATION_RUNS = 100;
const GATE_APP = 'test/xs/rush-hour.guest.ts';
/**
 * The gate's engine: the device-sized host in the ESP32-S3's creation block (the board the 267 ms
 * anchor is for), so its collector runs as often as the device's would.
 */
const GATE_CREATION: Creation = process.env.RUSH_CREATION === 'big' ? { chunk: 64 << 20, heap: 1 << 21, stack: 8192 } : creationOf('esp32s3-devkitc');

function percentile(values: number[], p: number): number {
  const s = [...values].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))] ?? 0;
}

interface Tick {
  verifies: number;
  pending: number;
  state: string;
  nowMs: number;
}

interface TapValue {
  outcome: string;
  deferred: boolean;
  verifies: number;
  alg: string;
  nowMs: number;
  journalBytes: number;
  tapJournalBytes: number;
  checkpointInTap: boolean;
}

async function startGate(verifyMs: { p256: number; ed25519: number }): Promise<DeviceHost> {
  const gate = await DeviceHost.start(GATE_CREATION, { app: GATE_APP });
  if (!(await gate.call<boolean>('native')).value) throw new Error('the rush-hour gate is not on the device-sized host');
  await gate.call('setup', { identities: IDENTITIES, ed25519Every: ED25519_EVERY, verifyMs });
  return gate;
}

/** The host time of one computron of a tap, from a gate of its own: the fastest of WARM_UP_TAPS taps without a signature check. */
async function warmUp(verifyMs: { p256: number; ed25519: number }): Promise<number> {
  const gate = await startGate(verifyMs);
  try {
    let fastest = Infinity;
    for (let i = 0; i < WARM_UP_TAPS; i++) {
      await gate.call('prepare', { i, atMs: i * 5_000 });
      const tap = await gate.call<TapValue>('tap', { msPerComputron: 0 });
      if (tap.value.verifies === 0) fastest = Math.min(fastest, tap.meter.device.hostMs / tap.meter.compute);
      await gate.call('tick', { atMs: i * 5_000 + 1_000 });
    }
    return fastest;
  } finally {
    await gate.close();
  }
}

export async function run(report: Report, options: { quick: boolean }): Promise<void> {
  const minutes = options.quick ? 5 : 60;
  const loadBefore = loadavg()[0]!;
  // short messages, as the taps the factor scales are (a tap is ~1 ms of host time)
  const { factor, hostMsPerVerify } = await calibrate(CALIBRATION_RUNS, 2);
  const ed25519VerifyMs = (await nativeVerifyHostMs(ALG_ED25519, CALIBRATION_RUNS, 2)) * factor;
  const verifyMs = { p256: ESP32S3_P256_VERIFY_MS, ed25519: ed25519VerifyMs };
  const warmUpHostMsPerComputron = await warmUp(verifyMs);
  const xs = await startGate(verifyMs);
  try {
    const next = prng(45);
    const arrivals: number[] = [];
    for (let t = 0; ; ) {
      t += (-Math.log(1 - next()) * 60_000) / RIDERS_PER_MINUTE;
      if (t >= minutes * 60_000) break;
      arrivals.push(Math.round(t));
    }
    // one figure for the whole hour, so the worst tap is the one with the most work, not the one modelled first
    const msPerComputron = warmUpHostMsPerComputron * factor;
    let hostMsPerComputron = warmUpHostMsPerComputron;
    let t = 0;
    let shownUntil = 0;
    let state = 'waiting';
    let pending = 0;
    let peak = 0;
    const checks = { inResultScreen: 0, whileWaiting: 0 };
    const waits: number[] = [];
    const ownTaps: number[] = [];
    const behind: number[] = [];
    const tapModelMs: number[] = [];
    const computrons: number[] = [];
    let worst: Record<string, unknown> = {};
    let worstOwn = -1;
    const beforeOpen = { ed25519: 0, p256CapFull: 0 };
    const declines: Record<string, number> = {};
    const backlog: number[] = [];
    let journalBytes = 0;
    let checkpointTaps = 0;
    const tick = async (atMs: number): Promise<Tick> => {
      const before = state;
      const r = (await xs.call<Tick>('tick', { atMs })).value;
      if (r.verifies > 0) checks[before === 'result' ? 'inResultScreen' : 'whileWaiting'] += r.verifies;
      state = r.state;
      pending = r.pending;
      return r;
    };
    for (let i = 0; i < arrivals.length; i++) {
      const arrival = arrivals[i]!;
      // the loop's first turn after a tap, in the result screen: the periodic checkpoint goes there
      if (state === 'result' && t < shownUntil) t = Math.max(t, (await tick(t)).nowMs);
      // the loop's turns until this rider can tap: checks where the terminal schedules them
      while ((t < arrival || t < shownUntil) && pending > 0) {
        while (backlog.length <= Math.floor(t / (5 * 60_000))) backlog.push(pending);
        const r = await tick(t);
        if (r.verifies > 0) {
          t = Math.max(t, r.nowMs);
          continue;
        }
        let turn = t + TURN_MS;
        for (const edge of [arrival, shownUntil]) if (t < edge && turn > edge) turn = edge;
        t = turn;
      }
      const gateFree = Math.max(arrival, shownUntil);
      t = Math.max(t, gateFree);
      while (backlog.length <= Math.floor(t / (5 * 60_000))) backlog.push(pending);
      if (t > gateFree) behind.push(t - gateFree);
      // the result screen taken down (that turn checks nothing); then the card
      if (state !== 'waiting') await tick(t);
      const kind = (await xs.call<string>('prepare', { i, atMs: t })).value;
      const tap = await xs.call<TapValue>('tap', { msPerComputron });
      const xsMs = tap.meter.compute * msPerComputron;
      const v = tap.value;
      if (v.outcome !== 'approved') declines[v.outcome] = (declines[v.outcome] ?? 0) + 1;
      if (v.deferred) pending++;
      if (v.verifies > 0) beforeOpen[v.alg === 'Ed25519' ? 'ed25519' : 'p256CapFull']++;
      peak = Math.max(peak, pending);
      computrons.push(tap.meter.compute);
      // a tap that checked a signature spent native time the model charges as such: not a sample of XS work
      // (the hour's own fastest is printed beside the warm-up's, as a check of the figure used)
      if (v.verifies === 0) hostMsPerComputron = Math.min(hostMsPerComputron, tap.meter.device.hostMs / tap.meter.compute);
      tapModelMs.push(v.nowMs - t);
      const own = v.nowMs - gateFree;
      ownTaps.push(own);
      waits.push(v.nowMs - arrival);
      if (own > worstOwn) {
        worstOwn = own;
        worst = {
          rider: i, minute: Math.floor(gateFree / 60_000), alg: v.alg, kind, computrons: tap.meter.compute, xsModelMs: xsMs,
          verifiesInTap: v.verifies, verifyModelMs: v.verifies * (v.alg === 'Ed25519' ? verifyMs.ed25519 : verifyMs.p256), behindCheckMs: t - gateFree, journalBytes: v.tapJournalBytes,
        };
      }
      journalBytes = v.journalBytes;
      if (v.checkpointInTap) checkpointTaps++;
      state = 'result';
      t = v.nowMs;
      shownUntil = t + RESULT_MS;
    }
    while (backlog.length < minutes / 5) backlog.push(pending);
    report({
      bench: 'rush-hour',
      minutes,
      riders: arrivals.length,
      ed25519Share: 1 / ED25519_EVERY,
      factor,
      nativeP256VerifyHostMs: hostMsPerVerify,
      warmUpHostNsPerComputron: warmUpHostMsPerComputron * 1e6,
      hourHostNsPerComputron: hostMsPerComputron * 1e6,
      p256VerifyModelMs: ESP32S3_P256_VERIFY_MS,
      ed25519VerifyModelMs: ed25519VerifyMs,
      usPerComputronDevice: msPerComputron * 1000,
      tapComputronsMedian: percentile(computrons, 0.5),
      tapComputronsMax: Math.max(...computrons),
      tapModelMsMedian: percentile(tapModelMs, 0.5),
      tapModelMsMax: Math.max(...tapModelMs),
      worstTapMs: Math.max(...waits),
      p99TapMs: percentile(waits, 0.99),
      medianTapMs: percentile(waits, 0.5),
      worstOwnTapMs: Math.max(...ownTaps),
      p99OwnTapMs: percentile(ownTaps, 0.99),
      ridersBehindCheck: behind.length,
      worstBehindCheckMs: Math.max(0, ...behind),
      checksInResultScreen: checks.inResultScreen,
      checksWhileWaiting: checks.whileWaiting,
      backlogPeak: peak,
      backlogEnd: pending,
      verifiedBeforeOpenEd25519: beforeOpen.ed25519,
      verifiedBeforeOpenP256CapFull: beforeOpen.p256CapFull,
      declines: Object.keys(declines).length === 0 ? 'none' : Object.entries(declines).map(([k, n]) => `${k}:${n}`).join(','),
      journalBytesPerTap: journalBytes / arrivals.length,
      checkpointTaps,
      loadBefore,
      loadAfter: loadavg()[0]!,
    });
    report({ bench: 'rush-hour.backlog', every: '5 min', unverified: backlog.join(' ') });
    report({ bench: 'rush-hour.worst-own-tap', ownMs: worstOwn, ...worst });
    const checkpoint = (await xs.call<{ computrons: number; bytes: number }>('checkpointCost')).value;
    report({ bench: 'rush-hour.checkpoint', every: `${CHECKPOINT_EVERY} journal records`, snapshotComputrons: checkpoint.computrons, snapshotBytes: checkpoint.bytes, snapshotModelMs: checkpoint.computrons * msPerComputron });
  } finally {
    await xs.close();
  }
}

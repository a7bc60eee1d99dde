// The rush hour at one gate: 45 riders a minute for an hour (Poisson arrivals, seeded) at a transit
// validator with zone fare rules, on the device model. Each tap is the real terminal on the XS engine
// (test/xs/rush-hour.ts: READ TRANSIT LOG, the fare engine, risk, journal) and its XS work costs its
// computrons x the host time of one computron (measured here, on the same engine) x the device factor,
// which xsdev.bench.ts's calibration measures in this same run (a native mbedTLS P-256 verify on the
// device-sized host against its published 267 ms on an ESP32-S3). A signature check costs the native
// figure of its algorithm: 267 ms for P-256, and for Ed25519 the native libsodium verify measured here
// on the device-sized host x the same factor. Ed25519 cards (one in four) are checked before the gate
// opens; P-256 cards are deferred, and the terminal itself schedules their checks (one signature a turn
// of the loop, in the result screen only where one ends before the screen does, while waiting only when
// the gate is quiet or the backlog high: firmware/core/terminal/terminal.ts DeferredSchedule). The
// bench runs the device's loop: a turn every 50 ms while checks are pending, the card first once a
// rider is at the gate; a rider who arrives during a check waits for it, one during the result
// screen (800 ms, the rider before walking through) waits for the screen.
// The host time of a computron is the fastest tap's (wall time less the fastest empty message), as the
// calibration takes its fastest run; the first 10 taps are scheduled with a provisional cost.
// Printed: the worst, 99th-percentile and median tap from arrival to decision, the tap's own time
// (from the gate taking the card), riders who waited behind a check and how long, the backlog of
// unverified taps each 5 minutes, taps verified before opening, declines by reason, the load average.
import { loadavg } from 'node:os';
import type { Report } from './main';
import { XSScenario } from '../host/xs/scenario';
import { calibrate, ESP32S3_P256_VERIFY_MS, nativeVerifyHostMs } from './xsdev.bench';
import { ALG_ED25519 } from '../firmware/core/crypto/verify';
import { prng } from '../host/sim/hw/prng';

const RIDERS_PER_MINUTE = 45;
const RESULT_MS = 800;
const IDENTITIES = 48;
/** One card in this many is Ed25519 (checked before opening); the others P-256 (deferred). */
const ED25519_EVERY = 4;
/** The device's loop turns this often while it has checks to do. */
const TURN_MS = 50;

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

export async function run(report: Report, options: { quick: boolean }): Promise<void> {
  const minutes = options.quick ? 5 : 60;
  const loadBefore = loadavg()[0]!;
  const { factor, hostMsPerVerify } = await calibrate(options.quick ? 3 : 9);
  const ed25519VerifyMs = (await nativeVerifyHostMs(ALG_ED25519, options.quick ? 3 : 9)) * factor;
  const verifyMs = { p256: ESP32S3_P256_VERIFY_MS, ed25519: ed25519VerifyMs };
  const xs = await XSScenario.load('test/xs/rush-hour.guest.ts');
  try {
    await xs.call('setup', { identities: IDENTITIES, ed25519Every: ED25519_EVERY, verifyMs });
    const next = prng(45);
    const arrivals: number[] = [];
    for (let t = 0; ; ) {
      t += (-Math.log(1 - next()) * 60_000) / RIDERS_PER_MINUTE;
      if (t >= minutes * 60_000) break;
      arrivals.push(Math.round(t));
    }
    const samples: { ms: number; computrons: number }[] = [];
    const noop: number[] = [];
    // the device's ms per computron is known only once sampled: the first taps use a provisional cost
    let msPerComputron = 1.7e-3;
    let tapComputrons = 206_000;
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
    const beforeOpen = { ed25519: 0, p256CapFull: 0 };
    const declines: Record<string, number> = {};
    const backlog: number[] = [];
    let journalBytes = 0;
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
      await xs.call('prepare', { i, atMs: t });
      const xsMs = tapComputrons * msPerComputron;
      const t0 = performance.now();
      const tap = await xs.call<{ outcome: string; deferred: boolean; verifies: number; alg: string; nowMs: number; journalBytes: number }>('tap', { tapMs: xsMs });
      const wall = performance.now() - t0;
      const t1 = performance.now();
      await xs.call('noop');
      noop.push(performance.now() - t1);
      const v = tap.value;
      if (v.outcome !== 'approved') declines[v.outcome] = (declines[v.outcome] ?? 0) + 1;
      if (v.deferred) pending++;
      if (v.verifies > 0) beforeOpen[v.alg === 'Ed25519' ? 'ed25519' : 'p256CapFull']++;
      peak = Math.max(peak, pending);
      // taps that checked a signature in JavaScript are not samples of the XS tap: the model gives them the native cost
      if (v.verifies === 0) {
        samples.push({ ms: wall, computrons: tap.meter.compute });
        computrons.push(tap.meter.compute);
        tapComputrons = tap.meter.compute;
      }
      tapModelMs.push(v.nowMs - t);
      ownTaps.push(v.nowMs - gateFree);
      waits.push(v.nowMs - arrival);
      journalBytes = v.journalBytes;
      state = 'result';
      t = v.nowMs;
      shownUntil = t + RESULT_MS;
      // the least-disturbed tap, as the calibration takes its fastest run: on a loaded machine the others carry other work
      if (samples.length > 0 && (i === 9 || i % 100 === 99)) {
        const fastestNoop = Math.min(...noop);
        const hostMsPerComputron = Math.min(...samples.map((s) => Math.max(0, s.ms - fastestNoop) / s.computrons));
        msPerComputron = hostMsPerComputron * factor;
      }
    }
    while (backlog.length < minutes / 5) backlog.push(pending);
    report({
      bench: 'rush-hour',
      minutes,
      riders: arrivals.length,
      ed25519Share: 1 / ED25519_EVERY,
      factor,
      nativeP256VerifyHostMs: hostMsPerVerify,
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
      loadBefore,
      loadAfter: loadavg()[0]!,
    });
    report({ bench: 'rush-hour.backlog', every: '5 min', unverified: backlog.join(' ') });
  } finally {
    await xs.close();
  }
}

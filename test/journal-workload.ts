// A seeded payment workload for the journal's power-loss tests (Node and XS): payments, service
// acknowledgements, stored updates and checkpoints, with power cut inside flash operations, then a
// reboot that must find every approved receipt intact and rebuild the totals exactly.
// Platform-free: the XS guest (test/xs/journal-power.guest.ts) runs it too.
import { equalBytes, readU32, toHex, writeU32 } from '../firmware/base/bytes';
import { Journal, type RecoveryReport } from '../firmware/core/journal/journal';
import { JournalFullError } from '../firmware/base/ports';
import { PowerLossError, RamFlash } from '../host/flash/ram-flash';
import { seededRandom } from './uplink-fuzz-helpers';

export const RECEIPT = 1;
export const UPDATE = 0x20;
export const CHECKPOINT = 0x21;

/** What a risk engine would rebuild: totals since the last acknowledgement and per-wallet counters. */
export interface Totals {
  unackedAmount: number;
  unackedCount: number;
  counters: Record<string, number>;
}

export function receiptPayload(wallet: number, amount: number, counter: number, length: number): Uint8Array {
  const p = new Uint8Array(length);
  p[0] = wallet;
  writeU32(p, 1, amount);
  writeU32(p, 5, counter);
  for (let i = 9; i < length; i++) p[i] = (wallet * 31 + counter * 7 + i) & 0xff;
  return p;
}

function encodeCounters(counters: Record<string, number>): Uint8Array {
  const keys = Object.keys(counters);
  const out = new Uint8Array(keys.length * 5);
  keys.forEach((k, i) => {
    out[i * 5] = Number(k);
    writeU32(out, i * 5 + 1, counters[k]!);
  });
  return out;
}

function decodeCounters(bytes: Uint8Array): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i + 5 <= bytes.length; i += 5) out[String(bytes[i])] = readU32(bytes, i + 1);
  return out;
}

/** Boot rebuild, as the terminal does it: latest checkpoint, then the records after it. */
export function rebuildTotals(journal: Journal): Totals {
  const cp = journal.latest(CHECKPOINT);
  const counters = cp ? decodeCounters(cp.payload) : {};
  journal.replay(cp ? cp.seq : 0, (r) => {
    if (r.type !== RECEIPT) return;
    const w = String(r.payload[0]);
    counters[w] = Math.max(counters[w] ?? 0, readU32(r.payload, 5));
  });
  let unackedAmount = 0;
  let unackedCount = 0;
  journal.replay(journal.ackedUpTo, (r) => {
    if (r.type !== RECEIPT) return;
    unackedAmount += readU32(r.payload, 1);
    unackedCount++;
  });
  return { unackedAmount, unackedCount, counters };
}

export interface WorkloadOptions {
  seed: number;
  payments: number;
  blocks: number;
  /** Cut power after a random 1..cutEvery mutating flash steps, again and again (0: never). */
  cutEvery: number;
  /** Cut at exactly this step of a run from an empty flash, once (exhaustive mode). */
  cutAtStep?: number;
  /** Chance per step that the service acknowledges something (default 0.08); low values fill the journal. */
  ackRate?: number;
}

export interface WorkloadResult {
  seed: number;
  approved: number;
  cuts: number;
  reboots: number;
  full: number;
  steps: number;
  maxSeq: number;
  failures: string[];
}

interface Receipt {
  seq: number;
  payload: Uint8Array;
}

export function runWorkload(o: WorkloadOptions): WorkloadResult {
  const random = seededRandom(o.seed);
  const flash = new RamFlash({ blocks: o.blocks, random: seededRandom(o.seed ^ 0x5eed) });
  const failures: string[] = [];
  // The model: what the terminal has been told is durable.
  const approved = new Map<number, Receipt>();
  // Every receipt ever approved, acknowledged or not (acknowledged ones may still sit in the journal).
  const everApproved = new Map<number, Uint8Array>();
  const counters: Record<string, number> = {};
  let ackReturned = 0;
  let ackAttempt = 0;
  let updateReturned: Uint8Array | undefined;
  let inFlight: { type: number; seq: number; payload: Uint8Array } | undefined;
  let updateVersion = 0;
  let cuts = 0;
  let reboots = 0;
  let full = 0;
  let lastCounter = 0;
  let paid = 0;

  const liveCounters = (): Record<string, number> => ({ ...counters });
  const open = (): { journal: Journal; report: RecoveryReport } => {
    const journal = new Journal({
      flash,
      keyedTypes: [UPDATE, CHECKPOINT],
      reserveBlocks: 2,
      checkpoint: { type: CHECKPOINT, snapshot: () => encodeCounters(liveCounters()) },
    });
    return { journal, report: journal.open() };
  };

  const check = (journal: Journal, report: RecoveryReport): void => {
    const fail = (m: string) => failures.push(`seed ${o.seed} reboot ${reboots}: ${m}`);
    if (report.breaks.length) fail(`chain breaks: ${report.breaks.join('; ')}`);
    // Acknowledgement: at least what returned, at most what was attempted.
    if (journal.ackedUpTo < ackReturned || journal.ackedUpTo > Math.max(ackAttempt, ackReturned)) {
      fail(`acked ${journal.ackedUpTo}, expected ${ackReturned}..${ackAttempt}`);
    }
    // Sequence continuity and content over everything replayed.
    let prev = -1;
    const seen = new Map<number, Uint8Array>();
    journal.replay(0, (r) => {
      if (prev >= 0 && r.seq !== prev + 1) fail(`sequence jumps from ${prev} to ${r.seq}`);
      prev = r.seq;
      if (r.type === RECEIPT) seen.set(r.seq, r.payload.slice());
    });
    if (prev >= 0 && prev !== journal.lastSeq) fail(`replay ends at ${prev}, journal says ${journal.lastSeq}`);
    for (const [seq, r] of seen) {
      const a = everApproved.get(seq);
      // An append may write bookkeeping records first, so the cut one can sit past the predicted sequence.
      const flying = inFlight && inFlight.type === RECEIPT && seq >= inFlight.seq ? inFlight.payload : undefined;
      if (a ? !equalBytes(a, r) : !flying || !equalBytes(flying, r)) fail(`receipt ${seq} was never approved or differs`);
    }
    for (const [seq, a] of approved) {
      if (seq > journal.ackedUpTo && !seen.has(seq)) fail(`approved receipt ${seq} (unacknowledged) lost`);
    }
    // The in-flight receipt, if it survived, counts from now on as approved (the terminal will upload it).
    const survivor = inFlight?.type === RECEIPT ? [...seen].find(([seq, p]) => seq >= inFlight!.seq && !everApproved.has(seq) && equalBytes(p, inFlight!.payload)) : undefined;
    if (inFlight && survivor) {
      approved.set(survivor[0], { seq: survivor[0], payload: inFlight.payload });
      everApproved.set(survivor[0], inFlight.payload);
      const w = String(inFlight.payload[0]);
      counters[w] = Math.max(counters[w] ?? 0, readU32(inFlight.payload, 5));
    }
    // Totals rebuilt exactly.
    const t = rebuildTotals(journal);
    let amount = 0;
    let count = 0;
    for (const [seq, a] of approved) {
      if (seq > journal.ackedUpTo) {
        amount += readU32(a.payload, 1);
        count++;
      }
    }
    if (t.unackedAmount !== amount || t.unackedCount !== count) {
      fail(`totals ${t.unackedAmount}/${t.unackedCount}, expected ${amount}/${count}`);
    }
    for (const w of Object.keys(counters)) {
      if (t.counters[w] !== counters[w]) fail(`wallet ${w} counter ${t.counters[w]}, expected ${counters[w]}`);
    }
    const u = journal.latest(UPDATE);
    const flyingUpdate = inFlight?.type === UPDATE ? inFlight.payload : undefined;
    const okUpdate =
      (u === undefined && updateReturned === undefined) ||
      (u !== undefined && ((updateReturned && equalBytes(u.payload, updateReturned)) || (flyingUpdate && equalBytes(u.payload, flyingUpdate))));
    if (!okUpdate) fail(`latest update ${u ? toHex(u.payload) : 'none'} is not the last stored`);
    if (u && flyingUpdate && equalBytes(u.payload, flyingUpdate)) updateReturned = flyingUpdate;
    // Forget the prior in-memory ack attempt: what the journal holds now is the truth.
    ackReturned = journal.ackedUpTo;
    ackAttempt = journal.ackedUpTo;
    for (const seq of [...approved.keys()]) if (seq <= journal.ackedUpTo) approved.delete(seq);
    inFlight = undefined;
  };

  let { journal, report } = open();
  check(journal, report);
  const schedule = (): void => {
    if (o.cutAtStep !== undefined) {
      if (cuts === 0) flash.cutPowerAt(o.cutAtStep - flash.steps);
    } else if (o.cutEvery > 0) flash.cutPowerAt(1 + Math.floor(random() * o.cutEvery));
  };
  schedule();
  let guard = 0;
  while (paid < o.payments && guard++ < o.payments * 20) {
    try {
      const roll = random();
      const ackRate = o.ackRate ?? 0.08;
      if (roll < ackRate && journal.lastAcknowledgeable > journal.ackedUpTo) {
        // The service acknowledges up to some receipt already uploaded.
        const target = journal.ackedUpTo + 1 + Math.floor(random() * (journal.lastAcknowledgeable - journal.ackedUpTo));
        ackAttempt = target;
        journal.acknowledge(target);
        ackReturned = target;
        for (const seq of [...approved.keys()]) if (seq <= target) approved.delete(seq);
      } else if (roll < ackRate + 0.02) {
        const payload = new Uint8Array(40 + Math.floor(random() * 200)).fill(++updateVersion & 0xff);
        writeU32(payload, 0, updateVersion);
        if (!journal.canAppend(payload.length)) continue;
        inFlight = { type: UPDATE, seq: journal.nextSeq, payload };
        journal.appendSync(UPDATE, payload);
        updateReturned = payload;
        inFlight = undefined;
      } else {
        const wallet = 1 + Math.floor(random() * 12);
        const counter = ++lastCounter;
        const payload = receiptPayload(wallet, 1 + Math.floor(random() * 5000), counter, 300 + Math.floor(random() * 100));
        if (!journal.canAppend(payload.length)) {
          full++;
          // Full: the uplink must run. Acknowledge everything and go on.
          if (journal.lastAcknowledgeable > journal.ackedUpTo) {
            ackAttempt = journal.lastAcknowledgeable;
            journal.acknowledge(ackAttempt);
            ackReturned = ackAttempt;
            for (const seq of [...approved.keys()]) if (seq <= ackAttempt) approved.delete(seq);
          }
          continue;
        }
        inFlight = { type: RECEIPT, seq: journal.nextSeq, payload };
        const seq = journal.appendSync(RECEIPT, payload);
        if (seq < inFlight.seq) failures.push(`seed ${o.seed}: append returned ${seq}, below ${inFlight.seq}`);
        approved.set(seq, { seq, payload });
        everApproved.set(seq, payload);
        counters[String(wallet)] = Math.max(counters[String(wallet)] ?? 0, counter);
        inFlight = undefined;
        paid++;
      }
    } catch (e) {
      if (e instanceof JournalFullError) {
        failures.push(`seed ${o.seed}: JournalFullError although canAppend said yes (${JSON.stringify(journal.usage)} acked ${journal.ackedUpTo} last ${journal.lastSeq} ${(e as Error).stack})`);
        break;
      }
      if (!(e instanceof PowerLossError)) throw e;
      cuts++;
      reboots++;
      flash.powerOn();
      ({ journal, report } = open());
      check(journal, report);
      if (failures.length > 20) break;
      schedule();
    }
  }
  // A last clean reboot: everything still there.
  flash.powerOn();
  reboots++;
  ({ journal, report } = open());
  check(journal, report);
  return { seed: o.seed, approved: paid, cuts, reboots, full, steps: flash.steps, maxSeq: journal.lastSeq, failures };
}

// The terminal's boot sequence, platform-free so the same steps run on the ESP32 (firmware/app/main.ts
// passes Moddable's parts) and under test with simulated hardware: load the provisioning file, recover
// the journal and rebuild the risk state from it, bring the PN532 up with retries, self-test, show
// status. Each step logs a line a firmware engineer can read on the serial console.
import { errorText, rethrowIfProgrammerError, TaplineError } from '../base/errors';
import type { Clock, Log, RandomBytes } from '../base/platform';
import { equalBytes, fromHex, utf8Encode, xorByte } from '../base/bytes';
import { CheckedVerify, passesSelfTest } from './checked-verify';
import { parseProvisioning, provisionedIssuerKeys, type Provisioning } from '../core/provisioning';
import type { HashPort } from '../base/hash';
import type { Journal, RecoveryReport } from '../core/journal/journal';
import type { Flash } from '../core/journal/flash';
import { Keyring } from '../core/crypto/keyring';
import { Verifier } from '../core/crypto/verifier';
import { ALG_ED25519, ALG_P256, algName, verifySignature, type Alg, type VerifyFn } from '../core/crypto/verify';
import { RiskEngine } from '../core/risk/engine';
import { RECORD_CLOCK, Terminal, type Screen } from '../core/terminal/terminal';
import type { VerifyBeforeOpen } from '../core/terminal/tap';
import { provisionedRefunds } from './refunds';
import { TerminalStore } from './state';
import { provisionedFares } from './fares';
import type { NfcReader } from '../../drivers/pn532/reader';
import type { FirmwareVersion } from '../../drivers/pn532/pn532';

export { RECORD_RISK_STATE } from './state';
export { SELF_TEST_VECTORS } from './checked-verify';

export type BootStep = 'config' | 'journal' | 'selftest';

/** Records replayed per turn of the event loop at boot (a receipt costs ~25,000 computrons). */
export const REPLAY_SLICE_RECORDS = 8;

export class BootError extends TaplineError {
  override readonly name: string = 'BootError';
  readonly step: BootStep;
  constructor(step: BootStep, message: string) {
    super(`${step}: ${message}`);
    this.step = step;
  }
}

export interface BootOptions {
  clock: Clock;
  random: RandomBytes;
  log: Log;
  /** The provisioning file's text (device: the `provision` partition). */
  provisioningText: () => string;
  journalFlash: Flash;
  /** Makes the reader on its transport; may throw (a bus that cannot be opened). */
  openReader: () => NfcReader;
  /** Shows status lines on the display (and nothing else). */
  show: (screen: Screen) => void;
  /**
   * The signature primitive for wallet payments and certificates (default: noble, in JavaScript). The
   * device passes one in native code; boot checks it against noble first and falls back if they differ.
   */
  verify?: VerifyFn;
  /**
   * Transit: which cards' signatures are checked before the gate opens. Default: Ed25519 cards when the
   * native verifier passed the self-test (tens of ms on an ESP32-S3, docs/DEVICE.md); P-256 (267 ms a
   * signature natively) and everything on noble in JavaScript are too slow for a gate, so those are
   * deferred and checked in the gate's idle slots.
   */
  verifyBeforeOpen?: VerifyBeforeOpen;
  /**
   * SHA-256 and CRC-32 for the journal (hash chain, torn-write check) and the certificate digests
   * (default: noble's and firmware/core/journal/crc32.ts). The device passes native ones; boot checks
   * them on known answers first and falls back to the JavaScript ones if they differ.
   */
  hashes?: HashPort;
  readerAttempts?: number;
  /** Delay before the first reader retry; doubles each time. */
  readerRetryMs?: number;
}

export interface SelfTest {
  crypto: boolean;
  random: boolean;
  journal: boolean;
  reader: boolean;
}

export interface Booted {
  provisioning: Provisioning;
  journal: Journal;
  recovery: RecoveryReport;
  risk: RiskEngine;
  keyring: Keyring;
  verifier: Verifier;
  terminal: Terminal;
  /** Receipts replayed into the risk state. */
  restored: number;
  reader: NfcReader | undefined;
  readerFirmware: FirmwareVersion | undefined;
  /** Why the reader is not available (the terminal then shows it and still uploads). */
  readerFault: string | undefined;
  selfTest: SelfTest;
  /** The version of the fare rules in force from provisioning (0: none). */
  fareRulesVersion: number;
}

export async function boot(o: BootOptions): Promise<Booted> {
  const { log } = o;
  const show = (lines: string[]): void => o.show({ kind: 'notice', lines });
  log('info', 'boot', 'tapline terminal starting');
  show(['TAPLINE', 'starting...']);

  let provisioning: Provisioning;
  try {
    provisioning = parseProvisioning(o.provisioningText());
  } catch (e) {
    rethrowIfProgrammerError(e);
    log('error', 'boot', `no usable provisioning: ${errorText(e)}`);
    show(['NOT PROVISIONED', 'see serial log']);
    throw new BootError('config', errorText(e));
  }
  log('info', 'boot', `terminal ${provisioning.terminalId} merchant ${provisioning.merchantId} mode ${provisioning.mode}` +
    (provisioning.fare !== undefined ? ` fare ${provisioning.fare}` : ''));

  const hashes = chooseHashes(o);
  const store = new TerminalStore({ flash: o.journalFlash, log, riskOptions: { config: provisioning.risk, utcOffsetMinutes: provisioning.utcOffsetMinutes ?? 0 }, journal: hashes });
  const { journal } = store;
  let recovery: RecoveryReport;
  try {
    recovery = journal.open();
  } catch (e) {
    rethrowIfProgrammerError(e);
    log('error', 'journal', `cannot open the journal: ${errorText(e)}`);
    show(['JOURNAL FAULT', 'see serial log']);
    throw new BootError('journal', errorText(e));
  }
  log('info', 'journal', `recovered ${recovery.records} records in ${recovery.blocks} blocks, last seq ${recovery.lastSeq}, acked up to ${recovery.ackedUpTo}` +
    (recovery.tornTail ? ', torn tail dropped' : ''));
  for (const b of recovery.breaks) log('error', 'journal', `chain break (tamper evidence): ${b}`);
  await o.clock.sleep(0); // a turn of the event loop (the watchdog) after the longest step

  store.loadCheckpoint();
  log('debug', 'journal', `state from checkpoint ${store.replayFrom}`);
  const { risk, inDoubt } = store;
  const keyring = new Keyring(provisionedIssuerKeys(provisioning));
  // A native primitive: Ed25519's known answers now (cheap), P-256's in the terminal's idle slots.
  const checked = o.verify ? new CheckedVerify(o.verify, log) : undefined;
  checked?.check(ALG_ED25519);
  if (checked) log('info', 'selftest', 'native P-256 verification: its known answers run in idle time (a P-256 signature before then waits for them)');
  const verify = checked ? checked.verify : verifySignature;
  const verifier = new Verifier({ keyring, cacheSize: 16, verify, sha256: hashes?.sha256 });
  const verifyBeforeOpen: VerifyBeforeOpen = o.verifyBeforeOpen ?? (checked?.trusted(ALG_ED25519) ? [ALG_ED25519] : false);
  const fares = provisioning.mode === 'transit' ? provisionedFares(provisioning, log, verify) : undefined;
  const terminal = new Terminal({
    mode: provisioning.mode,
    terminalId: provisioning.terminalId,
    merchantId: provisioning.merchantId,
    fare: provisioning.fare,
    verifier,
    risk,
    journal,
    clock: o.clock,
    random: o.random,
    log,
    verifyBeforeOpen,
    inDoubt,
    ...(provisioning.place ? { place: provisioning.place } : {}),
    ...(fares ? { fares: fares.fares } : {}),
    ...(hashes ? { sha256: hashes.sha256 } : {}),
    refunds: provisionedRefunds(provisioning, { journal, verifier, clock: o.clock, log }),
    saveState: () => void journal.checkpoint(),
    periodicCheckpoint: (records) => journal.checkpointAhead(records),
    ...(checked ? { idleWork: () => checked.step() } : {}),
  });
  const clock = journal.latest(RECORD_CLOCK);
  if (clock) {
    try {
      terminal.restoreClock(clock.payload);
    } catch (e) {
      rethrowIfProgrammerError(e);
      log('warn', 'time', `clock state ${clock.seq} unreadable (${errorText(e)}); the checkpoint's and the receipts' times stand`);
    }
  }
  if (provisioning.mode === 'transit') {
    log('info', 'boot', `transit: signatures checked ${beforeOpenText(verifyBeforeOpen)}`);
  }
  // Only the records after the checkpoint: the checkpoint holds the state of everything before it.
  // In slices, each its own turn of the event loop: a full journal's replay would otherwise hold the
  // CPU for seconds in one go, past the ESP32's task watchdog (docs/DEVICE.md, boot).
  let restored = 0;
  let unreadable = 0;
  for (;;) {
    const slice = store.replay(terminal, REPLAY_SLICE_RECORDS);
    restored += slice.restored;
    unreadable += slice.unreadable;
    if (slice.done) break;
    await o.clock.sleep(0);
  }
  log('info', 'risk', `restored ${restored} receipts after checkpoint ${store.replayFrom} (${unreadable} unreadable); offline ${risk.offlineCount} payments, ${risk.offlineAmount} minor units; ${inDoubt.open.length} in doubt`);
  risk.clock.advance(o.clock.now());
  log('info', 'time', `last known time ${risk.lastKnownTime}, offline ${risk.clock.secondsOffline(o.clock.now())} s since settlement${o.clock.wallTime() === undefined ? ', wall time unknown' : ''}`);

  await o.clock.sleep(0);
  const { reader, firmware, fault } = await bringUpReader(o);

  const selfTest = runSelfTest(o, checked, journal, reader !== undefined);
  log(selfTest.crypto && selfTest.random && selfTest.journal ? 'info' : 'error', 'selftest',
    `crypto ${ok(selfTest.crypto)}, random ${ok(selfTest.random)}, journal ${ok(selfTest.journal)}, reader ${ok(selfTest.reader)}`);
  if (!selfTest.crypto || !selfTest.random) {
    show(['SELF-TEST FAILED', selfTest.crypto ? 'random source' : 'crypto']);
    throw new BootError('selftest', `crypto ${ok(selfTest.crypto)}, random ${ok(selfTest.random)}`);
  }

  const usage = journal.usage;
  show([
    provisioning.mode === 'transit' ? 'TRANSIT' : 'MERCHANT',
    provisioning.terminalId,
    `journal ${usage.usedBlocks}/${usage.blocks}`,
    reader ? 'reader ok' : 'READER FAULT',
  ]);
  log('info', 'boot', `ready: journal ${usage.usedBlocks}/${usage.blocks} blocks used, ${journal.lastAcknowledgeable > journal.ackedUpTo ? 'receipts to upload' : 'every receipt acknowledged'}`);
  return { provisioning, journal, recovery, risk, keyring, verifier, terminal, restored, reader, readerFirmware: firmware, readerFault: fault, selfTest, fareRulesVersion: fares?.version ?? 0 };
}

function ok(b: boolean): string {
  return b ? 'ok' : 'FAIL';
}

async function bringUpReader(o: BootOptions): Promise<{ reader?: NfcReader; firmware?: FirmwareVersion; fault?: string }> {
  const attempts = o.readerAttempts ?? 5;
  let delay = o.readerRetryMs ?? 100;
  let fault = 'not tried';
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let reader: NfcReader | undefined;
    try {
      reader = o.openReader();
      const firmware = await reader.begin();
      return { reader, firmware };
    } catch (e) {
      rethrowIfProgrammerError(e);
      fault = errorText(e);
      o.log('warn', 'pn532', `attempt ${attempt}/${attempts} failed: ${fault}`);
      try {
        reader?.close();
      } catch {
        // the bus may be gone already
      }
      if (attempt < attempts) {
        await o.clock.sleep(delay);
        delay *= 2;
      }
    }
  }
  o.log('error', 'pn532', `reader not available after ${attempts} attempts: ${fault}`);
  return { fault };
}

// Known answers: SHA-256 of "abc" (FIPS 180-2), given in two parts, the CRC-32 check value of
// "123456789" (the zlib CRC), computed over a range of a longer buffer, and a journal block header.
export const HASH_SELF_TEST = {
  sha256Parts: ['a', 'bc'],
  sha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
  crcInput: 'x123456789y',
  crcStart: 1,
  crcEnd: 10,
  crc32: 0xcbf43926,
  // a journal block header of epoch 7, first sequence 9, erase count 1 (its CRC-32 zlib's)
  blockHeader: '54504a3100000007000000090000000100000000000000000000000000000000795df429',
  blockHeaderFields: [7, 9],
} as const;

function hashesPass(h: HashPort): boolean {
  const t = HASH_SELF_TEST;
  const digest = h.sha256(t.sha256Parts.map(utf8Encode));
  return digest.length === 32 && equalBytes(digest, fromHex(t.sha256)) && h.crc32(utf8Encode(t.crcInput), t.crcStart, t.crcEnd) === t.crc32 && blockHeaderPasses(h);
}

/** A port's own block header check (if it has one) takes the known header and refuses it with a bit changed. */
function blockHeaderPasses(h: HashPort): boolean {
  if (!h.blockHeader) return true;
  const t = HASH_SELF_TEST;
  const header = fromHex(t.blockHeader);
  const out = new Uint32Array(2);
  if (!h.blockHeader(header, out) || out[0] !== t.blockHeaderFields[0] || out[1] !== t.blockHeaderFields[1]) return false;
  xorByte(header, 7, 1);
  return !h.blockHeader(header, out);
}

/** The native hashes if they give the known answers; undefined (the JavaScript defaults) otherwise. */
function chooseHashes(o: BootOptions): HashPort | undefined {
  if (!o.hashes) return undefined;
  try {
    if (hashesPass(o.hashes)) {
      o.log('info', 'selftest', 'native SHA-256 and CRC-32 give the known answers: in use');
      return o.hashes;
    }
    o.log('error', 'selftest', 'native SHA-256 or CRC-32 gives a wrong answer: using JavaScript');
  } catch (e) {
    o.log('error', 'selftest', `native hashing failed (${errorText(e)}): using JavaScript`);
  }
  return undefined;
}

/**
 * The reference (noble) is checked on the known answers of each algorithm it will verify now: both
 * without a native primitive, Ed25519 when the native one got it wrong. P-256's native answers are still
 * to run (idle time); should one be wrong then, P-256 falls back to the reference too.
 */
function runSelfTest(o: BootOptions, checked: CheckedVerify | undefined, journal: Journal, reader: boolean): SelfTest {
  let crypto = false;
  try {
    const onReference: Alg[] = checked ? (checked.trusted(ALG_ED25519) ? [] : [ALG_ED25519]) : [ALG_P256, ALG_ED25519];
    crypto = onReference.every((alg) => passesSelfTest(verifySignature, alg));
  } catch (e) {
    o.log('error', 'selftest', `crypto: ${errorText(e)}`);
  }
  let random = false;
  try {
    const a = o.random(16);
    const b = o.random(16);
    random = a.length === 16 && !equalBytes(a, b) && a.some((x) => x !== a[0]);
  } catch (e) {
    o.log('error', 'selftest', `random: ${errorText(e)}`);
  }
  let journalOk = false;
  try {
    journalOk = journal.canAppend(64);
    if (!journalOk) o.log('warn', 'selftest', 'journal full: offline payments refused until an upload is acknowledged');
  } catch (e) {
    o.log('error', 'selftest', `journal: ${errorText(e)}`);
  }
  return { crypto, random, journal: journalOk, reader };
}

function beforeOpenText(policy: VerifyBeforeOpen): string {
  if (policy === true) return 'before the gate opens';
  if (policy === false || policy.length === 0) return 'after the gate opens (deferred, in idle slots)';
  return `before the gate opens for ${policy.map(algName).join(' and ')} cards, after it (in idle slots) for the others`;
}

// The steps the device-sized host measures, for one {algorithm, mode}: boot on an erased journal
// partition, then a cold tap (certificate not cached) and a warm one (cached), each with its journal
// append on flash semantics. The wallet's answers are recorded first by the same DeviceApp on Node
// (with a live wallet emulator), so on XS the figures are the terminal's own work.
import * as bundle from '../../firmware/app/bundle';
import { ALG_P256, algName, type Alg } from '../../firmware/core/crypto/verify';
import type { Mode } from '../../firmware/core/risk/engine';
import { RamFlash } from '../flash/ram-flash';
import { createIssuer, issueWallet } from '../wallet/issuer';
import { WalletEmulator } from '../wallet/emulator';
import { seededRandom } from '../wallet/random';
import type { IssuerKey } from '../../firmware/core/crypto/keyring';
import { fixedRootPublicKey, fixedRootSecretKey, provisioningText } from './provisioning';
import { encodeUpdate, UPDATE_FARE_RULES } from '../../firmware/core/uplink/updates';
import type { TransitEntry } from '../../firmware/core/protocol/transit-log';
import { DeviceApp, type BootArgs, type BootReply, type TapProfile } from './app';
import type { DeviceHost, StepResult } from './device-host';

export const NOW = 1_790_000_000;
const YEAR = 365 * 86400;
// Both boards' journal partition is at least 1 MiB (the partitions.csv of each manifest).
export const JOURNAL_BYTES = 1024 * 1024;
export const MERCHANT_AMOUNT = '1250#';
/** Longer than the anti-passback window, so the same wallet may ride again. */
export const BETWEEN_TAPS_MS = 31_000;

export interface TapScenario {
  alg: Alg;
  mode: Mode;
  provisioning: string;
  /** Every wallet answer the scenario's taps need, by command (hex). */
  exchange: Record<string, string>;
  /** Transit priced by fare rules (the wallet's log read and hashed each tap), not the fixed fare. */
  fares?: boolean;
  /**
   * Each tap's own answers, where a command is answered differently from tap to tap (READ TRANSIT
   * LOG: the log grows), so a replayed tap gets its own answers.
   */
  taps?: Array<Record<string, string>>;
}

/** Transit fare rules for a scenario: the operator's rules (signed here with the root key), the station, the wallet's log. */
export interface ScenarioFares {
  rules: Record<string, unknown>;
  station: number;
  log: TransitEntry[];
}

const MERCHANT_ID = 'M-metro';

function provisioningFor(alg: Alg, mode: Mode, issuerKey: IssuerKey, fares?: ScenarioFares): string {
  const deviceKey = Uint8Array.from({ length: 32 }, (_, i) => 0x11 + i);
  const signedRules = fares && encodeUpdate({ kind: UPDATE_FARE_RULES, version: 1, operatorId: MERCHANT_ID, rules: fares.rules }, ALG_P256, fixedRootSecretKey());
  return provisioningText({
    deviceKey, merchantId: MERCHANT_ID, mode, issuerAlg: alg, issuerKey, rootPublicKey: fixedRootPublicKey(),
    ...(fares && signedRules ? { fares: { signedRules, station: fares.station } } : {}),
  });
}

export function bootArgs(s: TapScenario, native: boolean): BootArgs {
  return { provisioning: s.provisioning, journalBytes: JOURNAL_BYTES, native, wallTime: NOW, verifyBeforeOpen: s.mode === 'transit' ? true : undefined };
}

/** A scenario's provisioning and, on Node, a DeviceApp over RAM flash that taps a live wallet emulator. */
function recordingWorld(alg: Alg, mode: Mode, fares?: ScenarioFares): { s: TapScenario; app: DeviceApp } {
  const random = seededRandom(`xsdev ${algName(alg)} ${mode}${fares ? ' fares' : ''}`);
  const issuer = createIssuer(alg, random, { keyId: 1, notBefore: NOW - YEAR, notAfter: NOW + YEAR });
  const issued = issueWallet(issuer, random, { alg, walletClass: 2, notBefore: NOW - 30 * 86400, notAfter: NOW + YEAR });
  const wallet = new WalletEmulator({
    profile: 'phone', certificate: issued.certificate, secretKey: issued.keys.secretKey, balance: 1e7, holderVerified: true,
    ...(fares ? { transitLog: fares.log, counter: fares.log.reduce((c, e) => Math.max(c, e.counter), 0) } : {}),
  });
  const flashes = new Map<object, RamFlash>();
  const app = new DeviceApp({
    tapline: bundle,
    partition: (size) => {
      const flash = new RamFlash({ blocks: size / 4096 });
      const partition = new bundle.PartitionAdapter(flash);
      flashes.set(partition, flash);
      return partition;
    },
    flashCounters: (p) => ({ programmed: flashes.get(p)!.counters.bytesProgrammed, erased: flashes.get(p)!.counters.bytesErased }),
    wallet: { transceive: async (apdu) => wallet.answer(apdu) },
  });
  const s: TapScenario = { alg, mode, provisioning: provisioningFor(alg, mode, issuer.key, fares), exchange: {}, ...(fares ? { fares: true } : {}) };
  return { s, app };
}

/** Issues a wallet and records its answers to a boot, a cold tap and a warm tap, on Node (transit: `fares` priced). */
export async function recordScenario(alg: Alg, mode: Mode, fares?: ScenarioFares): Promise<TapScenario> {
  const { s, app } = recordingWorld(alg, mode, fares);
  await app.boot(bootArgs(s, false));
  await app.idle(BETWEEN_TAPS_MS); // as runScenario does: the taps' times are in their recorded answers
  for (let i = 0; i < 2; i++) {
    if (mode === 'merchant') await app.keys(MERCHANT_AMOUNT);
    const tap = await app.tap();
    if (tap.outcome !== 'approved') throw new Error(`recording ${algName(alg)} ${mode}: tap ${i + 1} ${tap.outcome}`);
    Object.assign(s.exchange, tap.recorded);
    if (fares) (s.taps ??= []).push({ ...tap.recorded });
    await app.idle(BETWEEN_TAPS_MS);
  }
  return s;
}

export interface MeasuredScenario {
  boot: StepResult<{ logs: string[] }>;
  cold: StepResult<{ outcome: string; deferred?: boolean; journalBytesProgrammed: number }>;
  warm: StepResult<{ outcome: string; deferred?: boolean; journalBytesProgrammed: number }>;
}

/**
 * Replays a recorded scenario on the device-sized host; each step's meter is its own. With `live`, the
 * steps named there run with a collection before every allocation, so their peaks are live bytes
 * (slow: use it for memory figures, never for times).
 */
export async function runScenario(
  host: DeviceHost,
  s: TapScenario,
  native: boolean,
  live: { boot?: boolean; taps?: boolean } = {},
  /** Boot as the device does, with boot's own choice of which transit cards are verified before opening. */
  o: { bootDefault?: boolean } = {},
): Promise<MeasuredScenario> {
  const step = async <T>(on: boolean | undefined, op: string, args?: unknown) => {
    if (on) await host.call('liveHeap', { on: true });
    try {
      return await host.call<T>(op, args);
    } finally {
      if (on) await host.call('liveHeap', { on: false });
    }
  };
  const args = bootArgs(s, native);
  if (o.bootDefault) delete args.verifyBeforeOpen;
  const boot = await step<{ logs: string[] }>(live.boot, 'boot', args);
  // The first rider comes a while after the reboot: boot's idle work (P-256's known answers) is done.
  await host.call('idle', { ms: BETWEEN_TAPS_MS });
  const taps: MeasuredScenario['cold'][] = [];
  for (let i = 0; i < 2; i++) {
    await host.call('replay', { exchange: s.taps?.[i] ?? s.exchange });
    if (s.mode === 'merchant') await host.call('keys', { text: MERCHANT_AMOUNT });
    taps.push(await step(live.taps, 'tap'));
    await host.call('idle', { ms: BETWEEN_TAPS_MS });
  }
  return { boot, cold: taps[0]!, warm: taps[1]! };
}

/** The cold and the warm tap of a recorded scenario, native, with their computrons by part. */
export async function profileScenario(host: DeviceHost, s: TapScenario): Promise<{ cold: TapProfile; warm: TapProfile }> {
  await host.call('boot', { ...bootArgs(s, true), profile: true });
  await host.call('idle', { ms: BETWEEN_TAPS_MS });
  const taps: TapProfile[] = [];
  for (let i = 0; i < 2; i++) {
    await host.call('replay', { exchange: s.taps?.[i] ?? s.exchange });
    if (s.mode === 'merchant') await host.call('keys', { text: MERCHANT_AMOUNT });
    taps.push((await host.call<TapProfile>('profileTap')).value);
    await host.call('idle', { ms: BETWEEN_TAPS_MS });
  }
  return { cold: taps[0]!, warm: taps[1]! };
}

/**
 * Records a scenario on Node (live wallet) for `fullJournalBoot` with `leaveFreeBlocks` and `tapAfter`:
 * boot, a tap, the journal filled but for `leaveFreeBlocks` blocks, a power cut, a reboot, a tap.
 */
export async function recordRebootScenario(alg: Alg, mode: Mode, leaveFreeBlocks: number): Promise<TapScenario> {
  const { s, app } = recordingWorld(alg, mode);
  await app.boot(bootArgs(s, false));
  await app.idle(BETWEEN_TAPS_MS);
  const taps = [];
  if (mode === 'merchant') await app.keys(MERCHANT_AMOUNT);
  taps.push(await app.tap());
  app.fill({ leaveFreeBlocks });
  app.powerOff();
  await app.boot({ ...bootArgs(s, false), reuseJournal: true });
  await app.idle(BETWEEN_TAPS_MS);
  if (mode === 'merchant') await app.keys(MERCHANT_AMOUNT);
  taps.push(await app.tap());
  for (const [i, tap] of taps.entries()) {
    if (tap.outcome !== 'approved') throw new Error(`recording the reboot of ${algName(alg)} ${mode}: tap ${i + 1} ${tap.outcome}`);
    Object.assign(s.exchange, tap.recorded);
  }
  return s;
}

/**
 * A terminal whose journal partition is full (every receipt unacknowledged; with `leaveFreeBlocks`,
 * full but for that many blocks), powered off (its RAM state dropped) and rebooted: the boot's figures,
 * the computrons between its log lines (the boot's steps) and the flash bytes it read; with
 * `replayAtMost`, the fill ends with the most records after a checkpoint (DeviceApp.fill); with `wallets`,
 * the risk state first remembers that many more wallets (a checkpoint of many parts); with `tapAfter`,
 * a tap after the reboot (the scenario from recordRebootScenario); with `liveBoot`, the reboot's peaks
 * are its live heap (a collection before every allocation).
 */
export async function fullJournalBoot(
  host: DeviceHost,
  s: TapScenario,
  o: { leaveFreeBlocks?: number; replayAtMost?: number; wallets?: number; tapAfter?: boolean; liveBoot?: boolean } = {},
): Promise<{ fill: { records: number; usedBlocks: number; blocks: number; afterCheckpoint: number }; boot: StepResult<BootReply>; bootBytesRead: number; tap?: MeasuredScenario['cold'] }> {
  await host.call('boot', bootArgs(s, true));
  await host.call('idle', { ms: BETWEEN_TAPS_MS });
  await host.call('replay', { exchange: s.exchange });
  if (s.mode === 'merchant') await host.call('keys', { text: MERCHANT_AMOUNT });
  const first = await host.call<{ outcome: string }>('tap');
  if (first.value.outcome !== 'approved') throw new Error(`the tap before filling: ${first.value.outcome}`);
  const fill = (await host.call<{ records: number; usedBlocks: number; blocks: number; afterCheckpoint: number }>('fill', { leaveFreeBlocks: o.leaveFreeBlocks, replayAtMost: o.replayAtMost, wallets: o.wallets })).value;
  const readBefore = (await host.call<number>('powerOff')).value;
  if (o.liveBoot) await host.call('liveHeap', { on: true });
  const boot = await host.call<BootReply>('reboot', bootArgs(s, true));
  if (o.liveBoot) await host.call('liveHeap', { on: false });
  const bootBytesRead = (await host.call<number>('journalBytesRead')).value - readBefore;
  if (!o.tapAfter) return { fill, boot, bootBytesRead };
  await host.call('idle', { ms: BETWEEN_TAPS_MS });
  if (s.mode === 'merchant') await host.call('keys', { text: MERCHANT_AMOUNT });
  const tap = await host.call<MeasuredScenario['cold']['value']>('tap');
  return { fill, boot, bootBytesRead, tap };
}

/** The steps of a boot from its log stamps: computrons spent before each line, since the previous one. */
export function bootSteps(reply: BootReply): Array<{ line: string; computrons: number; hostMs: number }> {
  const stamps = reply.stamps ?? [];
  const ms = reply.stampsMs ?? [];
  const since = (a: number[], i: number) => (a[i] ?? 0) - (i > 0 ? (a[i - 1] ?? 0) : 0);
  return reply.logs.map((line, i) => ({ line, computrons: since(stamps, i), hostMs: since(ms, i) }));
}

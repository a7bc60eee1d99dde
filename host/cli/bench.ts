// `tapline reader` and `tapline wallet`: a PN532 module on a USB-UART adapter (HSU, 115200) at the bench.
// `reader` probes it like libnfc's nfc-list (firmware, then each card's UID, ATQA, SAK and ATS, and how
// long a SELECT of the tapline application takes); `wallet` makes it a tapline wallet card through
// the chip's card emulation, so a second module held to the terminal's reader pays with no phone.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { toHex } from '../../firmware/base/bytes';
import { TaplineError } from '../../firmware/base/errors';
import type { Clock } from '../../firmware/base/platform';
import { AID, selectCommand } from '../../firmware/core/protocol/apdu';
import { IsoDep } from '../../drivers/pn532/isodep';
import { PN532, PN532Error, type FirmwareVersion, type TargetInfo } from '../../drivers/pn532/pn532';
import { PN532Card } from '../../drivers/pn532/target';
import { PN532UART } from '../../drivers/pn532/transport';
import { alreadyOpen } from '../../drivers/io';
import { openSerial } from '../sim/serial-port';
import { SystemClock } from '../sim/hw/serial-node';
import { WalletEmulator } from '../wallet/emulator';
import { formatWalletFile, parseWalletFile, walletFileWithState, type WalletFile } from './wallet-file';
import { UsageError, type CliCommand } from './main';

/** Most cards one probe lists (each is halted once listed, so the next search finds the next). */
const MAX_TARGETS = 4;

function device(value: string | boolean | undefined): string {
  const m = typeof value === 'string' ? /^uart:(.+)$/.exec(value) : null;
  if (!m) throw new UsageError('--reader takes uart:DEVICE, e.g. uart:/dev/ttyUSB0');
  return m[1]!;
}

async function openPN532(path: string, clock: Clock): Promise<PN532> {
  let serial;
  try {
    serial = await openSerial(path);
  } catch (error) {
    throw new BenchError((error as Error).message);
  }
  return new PN532({ transport: new PN532UART({ io: alreadyOpen(serial), clock }), clock });
}

function spaced(bytes: Uint8Array): string {
  return toHex(bytes).replace(/(..)(?!$)/g, '$1 ');
}

function describeFirmware(f: FirmwareVersion): string {
  const support = [f.support & 0x01 ? 'ISO/IEC 14443 A' : '', f.support & 0x02 ? 'ISO/IEC 14443 B' : '', f.support & 0x04 ? 'ISO 18092' : ''].filter(Boolean);
  return `${f.ic === 0x32 ? 'PN532' : `IC 0x${f.ic.toString(16)}`} v${f.version}.${f.revision} (supports ${support.join(', ') || 'nothing'})`;
}

/** What one target says, laid out as nfc-list does. */
function describeTarget(t: TargetInfo): string[] {
  const lines = [
    `    ATQA (SENS_RES): ${spaced(Uint8Array.of(t.sensRes >> 8, t.sensRes & 0xff))}`,
    `       UID (NFCID1): ${spaced(t.uid)}`,
    `      SAK (SEL_RES): ${spaced(Uint8Array.of(t.selRes))}${t.selRes & 0x20 ? ' (ISO/IEC 14443-4)' : ''}`,
  ];
  if (t.ats) lines.push(`                ATS: ${spaced(t.ats)}`);
  return lines;
}

/** Firmware, then each target in the field (halted once listed), with a SELECT timed on each ISO-DEP one. */
export async function probeReader(pn532: PN532, clock: Clock, waitMs: number, out: (line: string) => void): Promise<number> {
  await pn532.samConfiguration(0x01);
  const firmware = await pn532.getFirmwareVersion();
  out(describeFirmware(firmware));
  await pn532.setParameters(0x10);
  // a few passive retries: the chip itself says "no target" instead of searching forever
  await pn532.setRetries(0xff, 0x01, 0x10);
  let found = 0;
  const until = clock.now() + waitMs;
  while (found < MAX_TARGETS) {
    const target = await pn532.inListPassiveTarget(1000);
    if (!target) {
      if (found > 0 || clock.now() >= until) break;
      await clock.sleep(50);
      continue;
    }
    found++;
    out(`target ${found}: ISO/IEC 14443A (106 kbps)`);
    for (const line of describeTarget(target)) out(line);
    if (target.selRes & 0x20) {
      const link = new IsoDep({ pn532, tg: target.tg });
      const start = clock.now();
      try {
        const answer = await link.transceive(selectCommand(AID));
        const ms = clock.now() - start;
        out(`    SELECT ${toHex(AID)}: SW ${toHex(answer.subarray(-2))} in ${ms.toFixed(1)} ms${answer.length > 2 ? ` (${answer.length - 2} bytes)` : ''}`);
      } catch (error) {
        out(`    SELECT ${toHex(AID)}: no answer (${(error as Error).message})`);
      }
    }
    // halted, so the next search finds another card
    await pn532.inDeselect(target.tg);
  }
  if (found === 0) out(`no target in the field within ${waitMs} ms`);
  return found;
}

/**
 * Writes what the wallet's secure element keeps (balance, counter, PIN tries, logs, spend since sync,
 * refund book) back to its file, whole or not at all (0600: it holds the wallet's private key).
 * Returns the file as it now is.
 */
function saveWallet(path: string, file: WalletFile, wallet: WalletEmulator): WalletFile {
  const next = walletFileWithState(file, wallet);
  if (!next) return file;
  writeFileSync(`${path}.tmp`, formatWalletFile(next), { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
  return next;
}

export const BENCH_COMMANDS: Record<string, CliCommand> = {
  reader: {
    summary: 'probe a PN532 on a serial port: firmware, each card in the field (UID, ATQA, SAK, ATS), SELECT time',
    usage: `tapline reader --reader uart:DEVICE [--wait MS]

Talks to a PN532 in HSU mode (115200 8N1) on DEVICE (a USB-UART adapter, e.g. /dev/ttyUSB0) and prints
its firmware version and, like libnfc's nfc-list, every ISO/IEC 14443A target in the field, with the
round-trip time of a SELECT of the tapline application. Waits up to --wait (default 2000) ms for a card.`,
    options: { reader: { type: 'string' }, wait: { type: 'string', default: '2000' } },
    async run(v, out) {
      const path = device(v.reader);
      const wait = Number(v.wait);
      if (!/^[0-9]+$/.test(String(v.wait)) || wait > 600_000) throw new UsageError('--wait must be a whole number of milliseconds up to 600000');
      const clock = new SystemClock();
      const pn532 = await openPN532(path, clock);
      try {
        await probeReader(pn532, clock, wait, out);
      } catch (error) {
        if (error instanceof PN532Error) throw new BenchError(`${path}: ${error.message}`);
        throw error;
      } finally {
        pn532.close();
      }
    },
  },

  wallet: {
    summary: 'make a PN532 on a serial port a tapline wallet card (card emulation) until Ctrl-C',
    usage: `tapline wallet --reader uart:DEVICE --wallet FILE [--taps N]

Turns a PN532 in HSU mode on DEVICE into an ISO/IEC 14443-4 card that answers as the wallet in FILE
(made by tapline issue-wallet): hold its antenna to the terminal's reader and pay. What its secure element
keeps (balance, counter, PIN tries, logs, refund book) is written back to FILE after every tap. Stops on Ctrl-C, or after N taps with --taps.`,
    options: { reader: { type: 'string' }, wallet: { type: 'string' }, taps: { type: 'string' } },
    async run(v, out) {
      const path = device(v.reader);
      if (typeof v.wallet !== 'string' || v.wallet === '') throw new UsageError('--wallet is required');
      const walletPath = v.wallet;
      const taps = v.taps === undefined ? Infinity : Number(v.taps);
      if (v.taps !== undefined && !/^[1-9][0-9]*$/.test(String(v.taps))) throw new UsageError('--taps must be a positive whole number');
      const text = readFileSync(walletPath, 'utf8');
      let wallet: WalletEmulator;
      try {
        wallet = new WalletEmulator(parseWalletFile(text));
      } catch (error) {
        throw new BenchError(`${walletPath}: ${(error as Error).message}`);
      }
      let file = JSON.parse(text) as WalletFile;
      const clock = new SystemClock();
      const card = new PN532Card({ pn532: await openPN532(path, clock) });
      let stop = false;
      const onSignal = () => (stop = true);
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        await card.begin();
        out(`wallet ${wallet.info.walletId} (${wallet.profile}, balance ${wallet.balance}) is a card on ${path}: hold it to the reader; Ctrl-C to stop`);
        for (let served = 0; served < taps && !stop; ) {
          // short waits, so Ctrl-C is seen within a second
          const session = await card.waitForReader(1000);
          if (!session) continue;
          const apdus = await card.serve(wallet, 30_000);
          wallet.removed();
          file = saveWallet(walletPath, file, wallet);
          if (apdus === 0) continue;
          served++;
          out(`tap ${served}: ${apdus} APDUs answered; balance ${wallet.balance}, counter ${wallet.counter}`);
        }
      } catch (error) {
        if (error instanceof PN532Error) throw new BenchError(`${path}: ${error.message}`);
        throw error;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        card.close();
      }
    },
  },
};

/** A bench failure the CLI reports in one line (the chip did not answer, refused a command). */
export class BenchError extends TaplineError {
  override readonly name: string = 'BenchError';
  /** Like a system error's code, so the CLI prints it as one line today. */
  readonly code = 'EBENCH';
}

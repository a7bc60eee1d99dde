// The Moddable application: the only firmware file that imports Moddable modules. It builds the device
// adapters (flash partitions, ECMA-419 IO, Time/Timer clock, hardware RNG, Wi-Fi, http) and hands them
// to the platform-free boot and main loop from the bundle. Serial log lines: `[level] tag: message`.
import Timer from 'timer';
import Time from 'time';
import WiFi from 'wifi';
import { Request } from 'http';
import flash from 'embedded:storage/flash';
import device from 'embedded:provider/builtin';
import config from 'mc/config';
import Preference from 'preference';
import {
  boot, BootError, checkJournalPartition, DeviceSink, Display, JOURNAL_PARTITION, ModdableHttpTransport, openFeedback, openKeypad,
  Online, openReader, PartitionAdapter, PIN_MAP, PROVISION_PARTITION, randomBytesFrom31Bits, readProvisioningText, Runner, selectBoard,
  TicksClock, WifiLink, nativeHashes, nativeVerify, countBoot, bootFinished, restartOnBug, errorText, isProgrammerError, PreferenceBootRecords,
} from './bundle';
import * as native from 'tapline-native';

type Level = 'debug' | 'info' | 'warn' | 'error';

const LOOP_MS = 20;
const print = (globalThis as unknown as { trace(text: string): void }).trace;

function log(level: Level, tag: string, message: string): void {
  if (level === 'debug' && config.debug !== true) return;
  print(`[${level}] ${tag}: ${message}\n`);
}

// The boot record in NVS: boots and restarts after a bug, read and logged first thing at boot.
const bootRecords = new PreferenceBootRecords(Preference);

let bootDone = false;

/** A bug (firmware/app/restart.ts) is logged, counted, then the chip restarts; anything else is logged. */
function fail(tag: string, e: unknown): void {
  if (!isProgrammerError(e)) log('error', tag, errorText(e));
  else restartOnBug(e, { store: bootRecords, restart: () => native.restart(), log, phase: bootDone ? 'run' : 'boot' });
}

async function main(): Promise<void> {
  countBoot(bootRecords, log);
  const boardName = typeof config.board === 'string' ? config.board : 'esp32-devkitc';
  const board = selectBoard(PIN_MAP, boardName);
  log('info', 'boot', `board ${boardName}: ${board.title}; reader on ${board.pn532.transport}`);

  const setTimer = (callback: () => void, ms: number) => Timer.set(() => callback(), ms);
  const clearTimer = (timer: unknown) => Timer.clear(timer as ReturnType<typeof Timer.set>);
  const clock = new TicksClock({ ticks: () => Time.ticks, setTimer, setSystemTime: (s) => Time.set(s) });
  const random = randomBytesFrom31Bits(Math.random);

  const journalFlash = new PartitionAdapter(flash.open({ path: JOURNAL_PARTITION, mode: 'r+' }));
  const part = checkJournalPartition(journalFlash);
  log('info', 'journal', `partition "${JOURNAL_PARTITION}": ${part.size} bytes, ${part.blocks} blocks`);
  const provisionPartition = flash.open({ path: PROVISION_PARTITION, mode: 'r' });
  const provisionFlash = new PartitionAdapter(provisionPartition);

  // Moddable's IO classes match drivers/io.ts at run time; their SDK typings differ in detail.
  const io = device.io as unknown as Parameters<typeof openReader>[1] & Parameters<typeof openFeedback>[1] & { I2C: ConstructorParameters<typeof Display>[0]['I2C'] };
  let display: Display | undefined;
  try {
    display = new Display({ board, I2C: io.I2C });
  } catch (e) {
    log('warn', 'display', `no display: ${String(e)}`);
  }
  const sink = new DeviceSink({ display, feedback: openFeedback(board, io, clock), log });
  const keypad = openKeypad(board, io.DigitalBank, clock);

  const booted = await boot({
    clock,
    random,
    log,
    // mbedTLS P-256 and libsodium Ed25519 (native/tapline_native.c); boot checks them against noble.
    verify: nativeVerify(native),
    // mbedTLS SHA-256 and a C CRC-32 for the journal and the certificate digests; checked at boot too.
    hashes: nativeHashes(native),
    provisioningText: () => readProvisioningText(provisionFlash),
    journalFlash,
    openReader: () => openReader(board, io, clock, log),
    show: (screen) => sink.display(screen),
  });
  provisionPartition.close();
  bootFinished(bootRecords);
  bootDone = true;

  const p = booted.provisioning;
  const transport = new ModdableHttpTransport({ baseUrl: p.settlementUrl, Request: Request as never, setTimer, clearTimer });
  const online = new Online({ booted, transport, clock, random, log, onBug: (e) => fail('uplink', e) });
  const runner = new Runner({ terminal: booted.terminal, reader: booted.reader, sink, keypad, online, log });
  runner.start();
  if (p.wifi) {
    const wifi = new WifiLink({
      ssid: p.wifi.ssid,
      password: p.wifi.password,
      WiFi: WiFi as never,
      setTimer,
      clearTimer,
      log,
      onChange: (up) => {
        runner.network(up).catch((e: unknown) => fail('wifi', e));
      },
    });
    wifi.start();
  } else {
    // Without the radio, esp_random is not fed by RF noise: say so, the challenges are weaker.
    log('warn', 'wifi', 'no Wi-Fi in the provisioning file: offline only; hardware RNG without RF entropy');
  }

  // One step per timer turn, the next only after this one settled: never a busy loop.
  const loop = () => {
    runner.step().then(
      () => Timer.set(loop, LOOP_MS),
      (e: unknown) => {
        // the runner logs operating errors itself: what reaches here is a bug, and the chip restarts
        fail('loop', e);
        Timer.set(loop, LOOP_MS);
      },
    );
  };
  loop();
}

// The runtime calls main's default export once the preloaded modules are in place; loading this module
// does nothing else, so the manifests can preload it with the bundle.
export default function start(): void {
  main().catch((e: unknown) => {
    // a BootError halts with its step named; a bug restarts, unless boot meets it every time
    if (e instanceof BootError) log('error', e.step, `halted: ${e.message}`);
    else fail('boot', e);
  });
}

// The simulated terminal: the firmware's own boot and main loop (firmware/app/boot.ts, runner.ts) on a
// simulated board. Everything the firmware touches is simulated at the bus level: the PN532 and the
// SSD1306 on one I2C bus, the keypad as a pin matrix, the journal on NOR flash. What is outside the
// terminal (the wallets in the field, the flash file, the network) is reached through a HostBridge, so
// the same code runs inside the XS engine (host/sim/firmware.guest.ts) and directly on Node.
// Platform-free.
import { screenLines } from '../../firmware/ui/text';
import { VirtualClock, type Clock, type Log, type LogLevel } from '../../firmware/base/platform';
import { asBytes, type BufferSource, type Serial, type SerialOptions } from '../../drivers/io';
import { toHex } from '../../firmware/base/bytes';
import { INS_PAY } from '../../firmware/core/protocol/apdu';
import type { Flash, FlashStatus } from '../../firmware/core/journal/flash';
import type { HttpResponse, HttpTransport } from '../../firmware/core/uplink/transport';
import type { Effect } from '../../firmware/core/terminal/terminal';
import { boot, type Booted } from '../../firmware/app/boot';
import { Runner, type EffectSink } from '../../firmware/app/runner';
import { Online } from '../../firmware/app/online';
import { bootFinished, countBoot, MemoryBootRecordStore, restartOnBug } from '../../firmware/app/restart';
import type { BootRecordStore } from '../../firmware/base/ports';
import { DeviceSink, Display, openFeedback, openKeypad, openReader } from '../../firmware/app/hardware';
import { selectBoard, type BoardPins, type PinMap } from '../../firmware/app/pins';
import pinMap from '../../hardware/pins.json';
import { RamFlash } from '../flash/ram-flash';
import { simulatedIO } from './hw/board';
import { BuzzerRecorder, OutputPins } from './hw/feedback';
import { KeyMatrix } from './hw/keypad';
import { SimPN532 } from './hw/pn532';
import { SimSSD1306 } from './hw/ssd1306';
import { seededRandom } from '../wallet/random';

/** What the simulated terminal asks of the world around it. Synchronous, except the network. */
export interface HostBridge {
  /** The flash part's content at power-up (the file the simulator keeps). */
  flashImage(): Uint8Array;
  /** A wallet in the field answers an APDU (wallets outlive the terminal's power cycles). */
  apdu(wallet: string, apdu: Uint8Array): Uint8Array;
  /** The flash file follows every write and erase (the bytes as they now are at `offset`). */
  flashChanged(offset: number, bytes: Uint8Array): void;
  /** An HTTP POST to the settlement service; rejects when the network is down. */
  post(path: string, body: Uint8Array, timeoutMs: number): Promise<HttpResponse>;
  /** Bench mode: a real PN532 on the host's serial port (bytes out, bytes received so far). */
  serialWrite?(bytes: Uint8Array): void;
  serialRead?(): Uint8Array;
  /** Bench mode: real time, since a real chip answers in real milliseconds. */
  now?(): number;
  sleep?(ms: number): void;
  /** The boot record, kept across restarts as the device's NVS would (default: this device's own). */
  bootRecords?: BootRecordStore;
}

/** Real time through the bridge: the engine blocks in sleep() while the host's clock runs. */
class HostClock implements Clock {
  #wallOffset: number | undefined;
  constructor(private readonly bridge: Required<Pick<HostBridge, 'now' | 'sleep'>>, wallTime: number | undefined) {
    this.setWallTime(wallTime);
  }
  now(): number {
    return this.bridge.now();
  }
  sleep(ms: number): Promise<void> {
    this.bridge.sleep(ms);
    return Promise.resolve();
  }
  wallTime(): number | undefined {
    return this.#wallOffset === undefined ? undefined : Math.floor(this.#wallOffset + this.now() / 1000);
  }
  setWallTime(seconds: number | undefined): void {
    this.#wallOffset = seconds === undefined ? undefined : seconds - this.now() / 1000;
  }
}

/** The terminal's UART, its bytes carried to the host's serial port (a real PN532 in HSU mode). */
function bridgedSerial(bridge: HostBridge): new (options: SerialOptions) => Serial {
  if (!bridge.serialWrite || !bridge.serialRead) throw new Error('this host has no serial port');
  const { serialWrite, serialRead } = bridge as Required<HostBridge>;
  return class implements Serial {
    constructor(_options: SerialOptions) {}
    read(): ArrayBuffer | undefined {
      const bytes = serialRead.call(bridge);
      return bytes.length ? (bytes.slice().buffer as ArrayBuffer) : undefined;
    }
    write(buffer: BufferSource): void {
      serialWrite.call(bridge, asBytes(buffer));
    }
    close(): void {}
  };
}

/** One observable thing the terminal did, as the simulator prints it (one JSON object per line). */
export type SimOutput =
  | { type: 'display'; lines: string[] }
  | { type: 'beep'; pattern: string }
  | { type: 'led'; color: string }
  | { type: 'decision'; approved: boolean; amount: number; walletId?: string; reason?: string; text?: string; terminalSeq?: number; deferred?: boolean }
  | { type: 'verified'; terminalSeq: number; ok: boolean; reason?: string }
  | { type: 'recovered'; terminalSeq: number; amount: number; walletId: string; outcome: 'recovered' | 'released' | 'unresolved' }
  | { type: 'log'; level: LogLevel; tag: string; message: string }
  | { type: 'power'; state: 'lost' }
  /** A bug restarted the device (firmware/app/restart.ts); it booted again on the same flash. */
  | { type: 'power'; state: 'restart'; cause: string };

export interface SimBootOptions {
  provisioningText: string;
  flashBlocks: number;
  /** Unix seconds, or undefined when the terminal does not know the time (no RTC after power-up). */
  wallTime?: number;
  /** Seed of the simulator's random source (the device uses its hardware RNG). */
  seed: string;
  board?: string;
  /** `host-uart`: a real PN532 on the host's serial port (bench mode) instead of the simulated one. */
  reader?: 'simulated' | 'host-uart';
}

const STEP_MS = 10;

/** A flash whose every change is copied to the host's file, so a killed simulator keeps its journal. */
class MirroredFlash implements Flash {
  /** Set at the instant power dies inside a write or erase. */
  onPowerLoss: () => void = () => {};

  constructor(
    readonly ram: RamFlash,
    private readonly bridge: HostBridge,
  ) {}

  status(): FlashStatus {
    return this.ram.status();
  }

  read(byteLength: number, byteOffset: number): ArrayBuffer {
    return this.ram.read(byteLength, byteOffset);
  }

  write(buffer: ArrayBuffer | ArrayBufferView, byteOffset: number): void {
    this.#mirror(byteOffset, buffer.byteLength, () => this.ram.write(buffer, byteOffset));
  }

  eraseBlock(start: number, end = start + 1): void {
    const { blockLength } = this.ram;
    this.#mirror(start * blockLength, (end - start) * blockLength, () => this.ram.eraseBlock(start, end));
  }

  /** Runs one write or erase, then copies the range to the file: torn or not, it holds what the part holds. */
  #mirror(offset: number, length: number, operation: () => void): void {
    try {
      operation();
    } catch (e) {
      if (this.ram.dead) this.onPowerLoss();
      throw e;
    } finally {
      this.bridge.flashChanged(offset, this.ram.data.subarray(offset, offset + length));
    }
  }
}

class BridgedHttp implements HttpTransport {
  constructor(private readonly bridge: HostBridge) {}
  post(path: string, body: Uint8Array, timeoutMs: number): Promise<HttpResponse> {
    return this.bridge.post(path, body, timeoutMs);
  }
}

export class SimDevice {
  readonly clock: Clock & { advance?(ms: number): void; setWallTime(seconds: number | undefined): void };
  readonly output: SimOutput[] = [];
  readonly panel = new SimSSD1306();
  readonly #bridge: HostBridge;
  readonly #flash: MirroredFlash;
  readonly #matrix: KeyMatrix;
  readonly #chip: SimPN532;
  readonly #board: BoardPins;
  readonly #options: SimBootOptions;
  readonly #log: Log;
  #booted: Booted | undefined;
  #runner: Runner | undefined;
  readonly bootRecords: BootRecordStore;
  #powered = true;
  #cutAt: number | undefined;
  #cutAfterPay = false;

  constructor(bridge: HostBridge, options: SimBootOptions) {
    this.#bridge = bridge;
    this.#options = options;
    this.bootRecords = bridge.bootRecords ?? new MemoryBootRecordStore();
    const board = selectBoard(pinMap as PinMap, options.board ?? 'esp32-devkitc');
    const bench = options.reader === 'host-uart';
    // a real reader is wired to the terminal's UART (HSU)
    this.#board = bench ? { ...board, pn532: { ...board.pn532, transport: 'uart' } } : board;
    if (bench && (!bridge.now || !bridge.sleep)) throw new Error('bench mode needs the host clock');
    this.clock = bench ? new HostClock(bridge as Required<HostBridge>, options.wallTime) : new VirtualClock({ wallTime: options.wallTime });
    this.#log = (level, tag, message) => this.output.push({ type: 'log', level, tag, message });
    const ram = new RamFlash({ blocks: options.flashBlocks });
    const image = bridge.flashImage();
    if (image.length !== ram.data.length) throw new RangeError(`flash image of ${image.length} bytes, expected ${ram.data.length}`);
    ram.data.set(image);
    this.#flash = new MirroredFlash(ram, bridge);
    this.#flash.onPowerLoss = () => (this.#cutAt ??= this.output.length);
    this.#chip = new SimPN532({ clock: this.clock, log: this.#log });
    this.#matrix = new KeyMatrix({ rowPins: this.#board.keypad.rows, columnPins: this.#board.keypad.cols, clock: this.clock });
  }

  get booted(): Booted | undefined {
    return this.#booted;
  }

  /**
   * Boots as firmware/app/main.ts does, with the simulated board's IO classes in place of `device.io`;
   * a bug during boot restarts it as on the device, until boot has met the bug too often in a row.
   */
  async start(): Promise<void> {
    countBoot(this.bootRecords, this.#log);
    try {
      await this.#start();
    } catch (e) {
      if (this.#bug(e, 'boot') === 'restarted') return this.start();
      this.#powered = false;
      return;
    }
    bootFinished(this.bootRecords);
  }

  async #start(): Promise<void> {
    const board = this.#board;
    const clock = this.clock;
    const log = this.#log;
    const random = seededRandom(this.#options.seed);
    const io = simulatedIO(this.#chip, this.panel, { keypad: this.#matrix, leds: new OutputPins({ clock }), buzzer: new BuzzerRecorder({ clock }), board }, {});
    if (this.#options.reader === 'host-uart') io.Serial = bridgedSerial(this.#bridge);
    const display = new Display({ board, I2C: io.I2C });
    const feedback = new DeviceSink({ display, feedback: openFeedback(board, io, clock), log });
    const sink: EffectSink = {
      display: (screen) => {
        this.output.push({ type: 'display', lines: screenLines(screen) });
        feedback.display(screen);
      },
      beep: (pattern) => {
        this.output.push({ type: 'beep', pattern });
        feedback.beep(pattern);
      },
      led: (color) => {
        this.output.push({ type: 'led', color });
        feedback.led(color);
      },
    };
    this.#booted = await boot({
      clock,
      random,
      log,
      provisioningText: () => this.#options.provisioningText,
      journalFlash: this.#flash,
      openReader: () => openReader(board, io, clock, log),
      show: (screen) => sink.display(screen),
    });
    const online = new Online({ booted: this.#booted, transport: new BridgedHttp(this.#bridge), clock, random, log, onBug: (e) => this.#uplinkBug(e) });
    this.#runner = new Runner({
      terminal: this.#booted.terminal,
      reader: this.#booted.reader,
      sink,
      keypad: openKeypad(board, io.DigitalBank, clock),
      online,
      log,
      observe: (effect) => this.#observe(effect),
    });
    this.#runner.start();
  }

  /** Runs the main loop for `ms` of simulated time, one step per timer turn as on the device. */
  async run(ms: number): Promise<void> {
    const end = this.clock.now() + ms;
    while (this.#powered && this.#runner && this.clock.now() < end) {
      if (this.clock.advance) this.clock.advance(STEP_MS);
      else await this.clock.sleep(STEP_MS);
      try {
        await this.#runner.step();
      } catch (e) {
        // only a bug leaves the runner's step: the device restarts and boots again on the same flash
        if (this.#bug(e, 'run') === 'restarted') await this.start();
        else this.#powered = false;
      }
      if (this.#cutAt !== undefined) return this.#powerLost(this.#cutAt);
    }
  }

  /** Presses and releases one key on the matrix; the firmware's keypad driver scans and debounces it. */
  async press(key: string): Promise<void> {
    const layout = this.#board.keypad.layout;
    const row = layout.findIndex((r) => r.includes(key));
    if (row < 0) throw new RangeError(`no key "${key}" on the keypad`);
    const column = layout[row]!.indexOf(key);
    this.#matrix.press(row, column, 5);
    await this.run(60);
    this.#matrix.release(row, column);
    await this.run(60);
  }

  /** A wallet enters the field; its APDUs go to the host, where the wallet lives. */
  tap(wallet: string, uid: Uint8Array): void {
    this.#chip.placeCard({
      transceive: (apdu) => {
        const answer = this.#bridge.apdu(wallet, apdu);
        // The wallet signed and answered; power dies in the next flash write (the receipt's).
        if (this.#cutAfterPay && apdu[1] === INS_PAY) {
          this.#cutAfterPay = false;
          this.#flash.ram.cutPowerAt(0);
        }
        return answer;
      },
    }, { uid });
  }

  remove(): void {
    this.#chip.removeCard();
  }

  async network(up: boolean): Promise<void> {
    await this.#runner?.network(up);
  }

  /** The next mutating flash operation loses power partway (in a tap: the intent, before PAY). */
  cutPowerInNextWrite(): void {
    this.#flash.ram.cutPowerAt(0);
  }

  /** Power dies in the first flash write after the wallet answered PAY: the payment is in doubt. */
  cutPowerAfterPay(): void {
    this.#cutAfterPay = true;
  }

  get powered(): boolean {
    return this.#powered;
  }

  framebufferHex(): string {
    return toHex(this.panel.screen());
  }

  /**
   * Power died inside a flash operation during the last step. On the device nothing runs after that
   * instant, so what the firmware did after the failed write (a decline, say) never happened: drop it.
   */
  #powerLost(cutAt: number): void {
    this.#powered = false;
    this.output.splice(cutAt);
    this.output.push({ type: 'power', state: 'lost' });
  }

  /** A bug in the background upload restarts the device too, at once as on the device. */
  #uplinkBug(e: unknown): void {
    if (this.#bug(e, 'run') === 'restarted') void this.start();
    else this.#powered = false;
  }

  /** firmware/app/restart.ts with the simulator's restart: noted in the output; the caller boots again. */
  #bug(e: unknown, phase: 'boot' | 'run'): 'restarted' | 'halted' {
    return restartOnBug(e, {
      store: this.bootRecords,
      log: this.#log,
      phase,
      restart: (cause) => this.output.push({ type: 'power', state: 'restart', cause }),
    });
  }

  #observe(e: Effect): void {
    if (e.type === 'outcome') {
      this.output.push(
        e.approved
          ? { type: 'decision', approved: true, amount: e.amount, walletId: e.walletId, terminalSeq: e.terminalSeq, deferred: e.deferred }
          : { type: 'decision', approved: false, amount: e.amount, walletId: e.walletId, reason: e.decline.code, text: e.decline.text },
      );
    } else if (e.type === 'verified') {
      this.output.push({ type: 'verified', terminalSeq: e.terminalSeq, ok: e.ok, reason: e.decline?.code });
    } else if (e.type === 'recovered') {
      this.output.push({ type: 'recovered', terminalSeq: e.terminalSeq, amount: e.amount, walletId: e.walletId, outcome: e.outcome });
    }
  }
}

// The simulated terminal: the firmware's own boot and main loop (firmware/app/boot.ts, runner.ts) on a
// simulated board. Everything the firmware touches is simulated at the bus level: the PN532 and the
// SSD1306 on one I2C bus, the keypad as a pin matrix, the journal on NOR flash. What is outside the
// terminal (the wallets in the field, the flash file, the network) is reached through a HostBridge, so
// the same code runs inside the XS engine (host/sim/firmware.guest.ts) and directly on Node.
// Platform-free.
import { VirtualClock, type Log, type LogLevel } from '../../firmware/core/platform';
import { toHex } from '../../firmware/core/bytes';
import type { Flash, FlashStatus } from '../../firmware/core/journal/flash';
import type { HttpResponse, HttpTransport } from '../../firmware/core/uplink/transport';
import type { Effect } from '../../firmware/core/terminal/terminal';
import { boot, type Booted } from '../../firmware/app/boot';
import { Runner, type EffectSink } from '../../firmware/app/runner';
import { selectBoard, type PinMap } from '../../firmware/app/pins';
import pinMap from '../../hardware/pins.json';
import { Keypad } from '../../drivers/keypad';
import { Framebuffer } from '../../drivers/display/framebuffer';
import { Screens } from '../../drivers/display/screens';
import { SSD1306 } from '../../drivers/display/ssd1306';
import { PowerLossError, RamFlash } from '../flash/ram-flash';
import { readerRig, type ReaderRig } from './hw/rig';
import { SimDigitalBank, SimI2C, SimI2CBus } from './hw/io';
import { KeyMatrix } from './hw/keypad';
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
}

/** One observable thing the terminal did, as the simulator prints it (one JSON object per line). */
export type SimOutput =
  | { type: 'display'; lines: string[] }
  | { type: 'beep'; pattern: string }
  | { type: 'led'; color: string }
  | { type: 'decision'; approved: boolean; amount: number; walletId?: string; reason?: string; text?: string; terminalSeq?: number; deferred?: boolean }
  | { type: 'verified'; terminalSeq: number; ok: boolean; reason?: string }
  | { type: 'log'; level: LogLevel; tag: string; message: string }
  | { type: 'power'; state: 'lost' };

export interface SimBootOptions {
  provisioningText: string;
  flashBlocks: number;
  /** Unix seconds, or undefined when the terminal does not know the time (no RTC after power-up). */
  wallTime?: number;
  /** Seed of the simulator's random source (the device uses its hardware RNG). */
  seed: string;
  board?: string;
}

const STEP_MS = 10;

/** A flash whose every change is copied to the host's file, so a killed simulator keeps its journal. */
class MirroredFlash implements Flash {
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
    const length = buffer.byteLength;
    try {
      this.ram.write(buffer, byteOffset);
    } finally {
      // a torn write leaves torn bytes: the file must hold exactly what the part holds
      this.bridge.flashChanged(byteOffset, this.ram.data.subarray(byteOffset, byteOffset + length));
    }
  }

  eraseBlock(start: number, end = start + 1): void {
    const { blockLength } = this.ram;
    try {
      this.ram.eraseBlock(start, end);
    } finally {
      this.bridge.flashChanged(start * blockLength, this.ram.data.subarray(start * blockLength, end * blockLength));
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
  readonly clock: VirtualClock;
  readonly output: SimOutput[] = [];
  readonly display: SimSSD1306;
  readonly #bridge: HostBridge;
  readonly #flash: MirroredFlash;
  readonly #matrix: KeyMatrix;
  readonly #keypad: Keypad;
  readonly #screens: Screens;
  readonly #panel: SSD1306;
  readonly #rig: ReaderRig;
  readonly #layout: string[];
  #booted: Booted | undefined;
  #runner: Runner | undefined;
  #powered = true;
  #card: string | undefined;

  constructor(bridge: HostBridge, options: SimBootOptions) {
    this.#bridge = bridge;
    const board = selectBoard(pinMap as PinMap, options.board ?? 'esp32-devkitc');
    this.clock = new VirtualClock({ wallTime: options.wallTime });
    const log: Log = (level, tag, message) => this.output.push({ type: 'log', level, tag, message });

    const ram = new RamFlash({ blocks: options.flashBlocks });
    const image = bridge.flashImage();
    if (image.length !== ram.data.length) throw new RangeError(`flash image of ${image.length} bytes, expected ${ram.data.length}`);
    ram.data.set(image);
    this.#flash = new MirroredFlash(ram, bridge);

    const bus = new SimI2CBus();
    this.display = new SimSSD1306();
    bus.attach(board.display.address, this.display);
    this.#rig = readerRig({ via: 'i2c', clock: this.clock, log, bus });
    this.#panel = new SSD1306({ io: new SimI2C({ bus, data: board.i2c.sda, clock: board.i2c.scl, hz: board.i2c.hz, address: board.display.address }) });
    this.#screens = new Screens({ framebuffer: new Framebuffer(), currency: 'CNY' });

    const { rows, cols, layout } = board.keypad;
    this.#layout = layout;
    this.#matrix = new KeyMatrix({ rowPins: rows, columnPins: cols, clock: this.clock });
    const mask = (pins: number[]) => pins.reduce((m, p) => m | (1 << p), 0);
    this.#keypad = new Keypad({
      rows: new SimDigitalBank({ pins: mask(rows), mode: 9, network: this.#matrix }),
      columns: new SimDigitalBank({ pins: mask(cols), mode: 1, network: this.#matrix }),
      rowPins: rows,
      columnPins: cols,
      clock: this.clock,
      keymap: layout.map((r) => r.split('')),
    });
    this.#boot = () =>
      boot({
        clock: this.clock,
        random: seededRandom(options.seed),
        log,
        provisioningText: () => options.provisioningText,
        journalFlash: this.#flash,
        openReader: () => this.#rig.reader,
        show: (lines) => this.#show(lines),
      });
  }

  readonly #boot: () => Promise<Booted>;

  get booted(): Booted | undefined {
    return this.#booted;
  }

  async start(): Promise<void> {
    this.#panel.init();
    this.#booted = await this.#boot();
    const sink: EffectSink = {
      display: (lines) => this.#show(lines),
      beep: (pattern) => this.output.push({ type: 'beep', pattern }),
      led: (color) => this.output.push({ type: 'led', color }),
    };
    this.#runner = new Runner({
      terminal: this.#booted.terminal,
      reader: this.#booted.reader,
      sink,
      log: (level, tag, message) => this.output.push({ type: 'log', level, tag, message }),
      observe: (effect) => this.#observe(effect),
    });
    this.#runner.start();
  }

  /** Runs the main loop for `ms` of simulated time. */
  async run(ms: number): Promise<void> {
    const end = this.clock.now() + ms;
    while (this.#powered && this.clock.now() < end) {
      this.clock.advance(STEP_MS);
      try {
        for (const key of this.#keypad.poll()) await this.#runner?.key(key);
        await this.#runner?.step();
      } catch (e) {
        if (e instanceof PowerLossError) return this.#powerLost();
        throw e;
      }
    }
  }

  /** Presses and releases one key (the keypad driver scans it through the matrix). */
  async press(key: string): Promise<void> {
    const row = this.#layout.findIndex((r) => r.includes(key));
    if (row < 0) throw new RangeError(`no key "${key}" on the keypad`);
    const column = this.#layout[row]!.indexOf(key);
    this.#matrix.press(row, column, 5);
    await this.run(60);
    this.#matrix.release(row, column);
    await this.run(60);
  }

  /** A wallet enters the field; its APDUs go to the host, where the wallet lives. */
  tap(wallet: string, uid: Uint8Array): void {
    this.#card = wallet;
    this.#rig.chip.placeCard({ transceive: (apdu) => this.#bridge.apdu(wallet, apdu) }, { uid });
  }

  remove(): void {
    this.#card = undefined;
    this.#rig.chip.removeCard();
  }

  async network(up: boolean): Promise<void> {
    await this.#runner?.network(up);
  }

  /** The next mutating flash operation loses power partway (mid-payment when a receipt is being written). */
  cutPowerInNextWrite(): void {
    this.#flash.ram.cutPowerAt(0);
  }

  get powered(): boolean {
    return this.#powered;
  }

  get card(): string | undefined {
    return this.#card;
  }

  framebufferHex(): string {
    return toHex(this.display.screen());
  }

  #powerLost(): void {
    this.#powered = false;
    this.output.push({ type: 'power', state: 'lost' });
  }

  #show(lines: string[]): void {
    this.output.push({ type: 'display', lines });
    this.#screens.lines(lines);
    this.#panel.flush(this.#screens.fb);
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
    }
  }
}

// The driver contract of drivers/README.md, one scenario per driver, platform-free so that
// test/drivers-contract.test.ts runs each on Node and, through test/xs/drivers-contract.guest.ts, on the
// XS engine the device runs. A scenario drives the driver over the simulated IO classes, which keep
// ECMA-419's rules ("in use" on a second open, "closed" on use after close), and returns the checks that
// failed, each named: an empty list is a pass. Chai does not run in XS, hence the small `Checks` below.
import { VirtualClock } from '../../firmware/base/platform';
import { Display } from '../../firmware/app/hardware';
import { selectBoard, type PinMap } from '../../firmware/app/pins';
import pinMap from '../../hardware/pins.json';
import { SSD1306 } from '../../drivers/display/ssd1306';
import { Framebuffer } from '../../drivers/display/framebuffer';
import { PN532I2C, PN532SPI, PN532UART } from '../../drivers/pn532/transport';
import { PN532 } from '../../drivers/pn532/pn532';
import { NfcReader } from '../../drivers/pn532/reader';
import { IsoDep } from '../../drivers/pn532/isodep';
import { Keypad } from '../../drivers/keypad';
import { Buzzer, Feedback } from '../../drivers/feedback/feedback';
import type { IOClass } from '../../drivers/io';
import { digitalBankOn, i2cOn, serialOn, SimI2C, SimI2CBus, SimSerial, SimSPI, spiOn, SimDigitalBank, type PinNetwork } from '../../host/sim/hw/io';
import { SimSSD1306 } from '../../host/sim/hw/ssd1306';
import { SimPN532 } from '../../host/sim/hw/pn532';
import { KeyMatrix } from '../../host/sim/hw/keypad';
import { BuzzerRecorder, OutputPins } from '../../host/sim/hw/feedback';

/** Checks that record what failed instead of throwing, so one run reports every broken rule. */
class Checks {
  readonly failed: string[] = [];

  equal(actual: unknown, expected: unknown, what: string): void {
    const a = canonical(actual);
    const e = canonical(expected);
    if (a !== e) this.failed.push(`${what}: got ${a}, expected ${e}`);
  }

  /** `f` throws an error of that name whose message matches (a string: contains). */
  throws(f: () => unknown, name: string, message: string | RegExp, what: string): void {
    let error: unknown;
    try {
      f();
    } catch (e) {
      error = e;
    }
    this.#error(error, name, message, what);
  }

  async rejects(f: () => Promise<unknown>, name: string, message: string | RegExp, what: string): Promise<void> {
    let error: unknown;
    try {
      await f();
    } catch (e) {
      error = e;
    }
    this.#error(error, name, message, what);
  }

  /** `f` runs without an error. */
  runs(f: () => unknown, what: string): void {
    try {
      f();
    } catch (e) {
      this.failed.push(`${what}: threw ${describe(e)}`);
    }
  }

  #error(error: unknown, name: string, message: string | RegExp, what: string): void {
    if (error === undefined) return void this.failed.push(`${what}: did not throw`);
    const e = error as Error;
    const matches = typeof message === 'string' ? e.message.includes(message) : message.test(e.message);
    if (e.name !== name || !matches) this.failed.push(`${what}: threw ${describe(e)}, expected ${name} ${String(message)}`);
  }
}

function describe(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** JSON with sorted keys, undefined fields left out: the same text for the same value on either engine. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v,
  );
}

/** The IO class, recording the options of every open. */
function recording<O, T>(io: IOClass<O, T>): { io: IOClass<O, T>; opened: O[] } {
  const opened: O[] = [];
  return {
    opened,
    io: class {
      constructor(options: O) {
        opened.push(options);
        return new io(options) as object;
      }
    } as unknown as IOClass<O, T>,
  };
}

const ROWS = [13, 12, 14, 27];
const COLUMNS = [34, 35, 36, 39];
const LEDS = { red: 25, green: 26 };

type Scenario = (c: Checks) => void | Promise<void>;

const CONTRACT: Record<string, Scenario> = {
  'simulated I2C: refuses an address that is open, frees it on close, throws on use after close': (c) => {
    const bus = new SimI2CBus();
    bus.attach(0x3c, new SimSSD1306());
    const first = new SimI2C({ bus, data: 21, clock: 22, hz: 400_000, address: 0x3c });
    c.throws(() => new SimI2C({ bus, data: 21, clock: 22, hz: 400_000, address: 0x3c }), 'RangeError', 'in use', 'second open');
    first.close();
    c.runs(() => first.close(), 'second close');
    c.throws(() => first.write(Uint8Array.of(0, 0xae)), 'Error', 'closed', 'write after close');
    c.runs(() => new SimI2C({ bus, data: 21, clock: 22, hz: 400_000, address: 0x3c }).write(Uint8Array.of(0, 0xae)), 'reopen');
  },

  'simulated pins, SPI and UART: refuse a device that is open, throw on use after close': (c) => {
    const network: PinNetwork = new OutputPins({ clock: new VirtualClock() });
    const bank = new SimDigitalBank({ pins: 0b110, mode: 8, network });
    c.throws(() => new SimDigitalBank({ pins: 0b100, mode: 8, network }), 'RangeError', 'in use', 'pin in use');
    c.runs(() => new SimDigitalBank({ pins: 0b100, bank: 1, mode: 8, network }).close(), 'same pin, other bank');
    bank.close();
    c.throws(() => bank.write(0), 'Error', 'closed', 'bank after close');
    c.runs(() => new SimDigitalBank({ pins: 0b100, mode: 8, network }).close(), 'pin freed');
    const device = { spiTransfer: (b: Uint8Array) => b, uartWrite: () => {}, uartRead: () => undefined };
    const spi = new SimSPI({ device, clock: 14, hz: 1_000_000 });
    c.throws(() => new SimSPI({ device, clock: 14, hz: 1_000_000 }), 'RangeError', 'in use', 'SPI in use');
    spi.close();
    c.throws(() => spi.transfer(new Uint8Array(1)), 'Error', 'closed', 'SPI after close');
    const serial = new SimSerial({ device, baud: 115_200 });
    c.throws(() => new SimSerial({ device, baud: 115_200 }), 'RangeError', 'in use', 'UART in use');
    serial.close();
    c.throws(() => serial.read(), 'Error', 'closed', 'UART after close');
  },

  'SSD1306: 0x3C at 400 kHz, range-checked, close twice, use after close throws': (c) => {
    const bus = new SimI2CBus();
    bus.attach(0x3c, new SimSSD1306());
    const { io, opened } = recording(i2cOn(bus));
    const panel = new SSD1306({ io, data: 21, clock: 22 });
    c.equal(opened, [{ data: 21, clock: 22, address: 0x3c, hz: 400_000 }], 'opened with');
    c.runs(() => panel.init(), 'init');
    c.throws(() => new SSD1306({ io, data: 21, clock: 22 }), 'RangeError', 'in use', 'second panel on the address');
    for (const bad of [{ height: 48 }, { address: 0x3e }, { hz: 1_000_000 }, { chunkBytes: 0 }, { width: 96 }])
      c.throws(() => new SSD1306({ io, data: 21, clock: 22, ...bad }), 'RangeError', /SSD1306/, JSON.stringify(bad));
    panel.close();
    c.runs(() => panel.close(), 'second close');
    c.throws(() => panel.flush(new Framebuffer()), 'Error', 'SSD1306 is closed', 'flush after close');
    c.throws(() => panel.init(), 'Error', 'SSD1306 is closed', 'init after close');
    c.runs(() => new SSD1306({ io, data: 21, clock: 22 }).close(), 'reopen');
  },

  'SSD1306: an init the panel does not acknowledge closes the bus': (c) => {
    const bus = new SimI2CBus();
    const panel = new SSD1306({ io: i2cOn(bus), data: 21, clock: 22 });
    c.throws(() => panel.init(), 'Error', 'write failed', 'init with no panel');
    // the address is free again: a panel plugged in later can be opened
    bus.attach(0x3c, new SimSSD1306());
    c.runs(() => new SSD1306({ io: i2cOn(bus), data: 21, clock: 22 }).init(), 'panel plugged in later');
  },

  'Display: a panel that does not answer leaves the shared bus free': (c) => {
    const board = selectBoard(pinMap as PinMap, 'esp32-devkitc');
    const bus = new SimI2CBus();
    c.throws(() => new Display({ board, I2C: i2cOn(bus) }), 'Error', 'write failed', 'no panel');
    const sim = new SimSSD1306();
    bus.attach(board.display.address, sim);
    const display = new Display({ board, I2C: i2cOn(bus) });
    c.equal(sim.on, true, 'panel on');
    display.close();
    c.runs(() => display.close(), 'second close');
  },

  'PN532 I2C: 0x24 at 400 kHz, range-checked, close twice, use after close throws': async (c) => {
    const bus = new SimI2CBus();
    const chip = new SimPN532({ clock: new VirtualClock() });
    bus.attach(0x24, { i2cWrite: (b) => chip.i2cWrite(b), i2cRead: (n) => chip.i2cRead(n) });
    const { io, opened } = recording(i2cOn(bus));
    const transport = new PN532I2C({ io, data: 21, clock: 22 });
    c.equal(opened, [{ data: 21, clock: 22, address: 0x24, hz: 400_000 }], 'opened with');
    c.throws(() => new PN532I2C({ io, data: 21, clock: 22 }), 'RangeError', 'in use', 'second open');
    c.throws(() => new PN532I2C({ io, data: 21, clock: 22, address: 0x24, hz: 1_000_000 }), 'RangeError', /PN532 hz/, 'hz');
    c.throws(() => new PN532I2C({ io, data: 21, clock: 22, address: 0x80 }), 'RangeError', /PN532 address/, 'address');
    transport.close();
    c.runs(() => transport.close(), 'second close');
    c.throws(() => transport.read(6, 6), 'Error', 'PN532 I2C is closed', 'read after close');
    await c.rejects(() => transport.write(Uint8Array.of(0)), 'Error', 'PN532 I2C is closed', 'write after close');
    c.runs(() => new PN532I2C({ io, data: 21, clock: 22 }).close(), 'reopen');
  },

  'PN532 SPI: 1 MHz mode 0, range-checked, close twice, use after close throws': (c) => {
    const device = { spiTransfer: (b: Uint8Array) => new Uint8Array(b.length) };
    const { io, opened } = recording(spiOn(device));
    const pins = { clock: 14, in: 12, out: 13, select: 15 };
    const transport = new PN532SPI({ io, ...pins });
    c.equal(opened, [{ ...pins, hz: 1_000_000, mode: 0 }], 'opened with');
    c.throws(() => new PN532SPI({ io, ...pins, mode: 3 }), 'RangeError', /PN532 SPI mode/, 'mode');
    c.throws(() => new PN532SPI({ io, ...pins, hz: 10_000_000 }), 'RangeError', /PN532 hz/, 'hz');
    transport.close();
    c.runs(() => transport.close(), 'second close');
    c.throws(() => transport.read(6), 'Error', 'PN532 SPI is closed', 'read after close');
    c.runs(() => new PN532SPI({ io, ...pins }).close(), 'reopen');
  },

  'PN532 UART: 115200 baud, range-checked, close twice, use after close throws': (c) => {
    const clock = new VirtualClock();
    const device = { uartWrite: () => {}, uartRead: () => undefined };
    const { io, opened } = recording(serialOn(device));
    const transport = new PN532UART({ io, transmit: 17, receive: 16, port: 2, clock });
    c.equal(opened, [{ transmit: 17, receive: 16, port: 2, baud: 115_200 }], 'opened with');
    c.throws(() => new PN532UART({ io, clock, baud: 0 }), 'RangeError', /PN532 baud/, 'baud');
    c.throws(() => new PN532UART({ io, clock, chunkBytes: 1000 }), 'RangeError', /PN532 UART chunkBytes/, 'chunkBytes');
    transport.close();
    c.runs(() => transport.close(), 'second close');
    c.throws(() => transport.read(), 'Error', 'PN532 UART is closed', 'read after close');
    c.runs(() => new PN532UART({ io, clock }).close(), 'reopen');
  },

  'PN532 and NfcReader: a probe the chip does not answer closes the bus, so the address can be opened again': async (c) => {
    const clock = new VirtualClock();
    const bus = new SimI2CBus();
    // nothing at 0x24: every transaction goes unacknowledged
    const reader = new NfcReader({ pn532: new PN532({ transport: new PN532I2C({ io: i2cOn(bus), data: 21, clock: 22 }), clock }) });
    await c.rejects(() => reader.begin(), 'PN532TimeoutError', /no ACK/, 'begin with nothing at 0x24');
    const chip = new SimPN532({ clock });
    bus.attach(0x24, { i2cWrite: (b) => chip.i2cWrite(b), i2cRead: (n) => chip.i2cRead(n) });
    const again = new NfcReader({ pn532: new PN532({ transport: new PN532I2C({ io: i2cOn(bus), data: 21, clock: 22 }), clock }) });
    c.equal((await again.begin()).ic, 0x32, 'chip plugged in later');
    again.close();
  },

  'PN532 and NfcReader: a silent chip on SPI or UART frees the device too': async (c) => {
    const clock = new VirtualClock();
    const silent = { spiTransfer: (b: Uint8Array) => new Uint8Array(b.length), uartWrite: () => {}, uartRead: () => undefined };
    const spi = spiOn(silent);
    const pins = { clock: 14, in: 12, out: 13, select: 15 };
    const overSpi = new NfcReader({ pn532: new PN532({ transport: new PN532SPI({ io: spi, ...pins }), clock }) });
    await c.rejects(() => overSpi.begin(), 'PN532TimeoutError', '', 'begin over SPI');
    c.runs(() => new PN532SPI({ io: spi, ...pins }).close(), 'SPI freed');
    const serial = serialOn(silent);
    const overUart = new NfcReader({ pn532: new PN532({ transport: new PN532UART({ io: serial, clock }), clock }) });
    await c.rejects(() => overUart.begin(), 'PN532TimeoutError', '', 'begin over UART');
    c.runs(() => new PN532UART({ io: serial, clock }).close(), 'UART freed');
  },

  'PN532, NfcReader and IsoDep: options range-checked, close twice, use after close throws': async (c) => {
    const clock = new VirtualClock();
    const bus = new SimI2CBus();
    const chip = new SimPN532({ clock });
    bus.attach(0x24, { i2cWrite: (b) => chip.i2cWrite(b), i2cRead: (n) => chip.i2cRead(n) });
    const io = i2cOn(bus);
    const transport = () => new PN532I2C({ io, data: 21, clock: 22 });
    for (const bad of [{ ackTimeoutMs: 0 }, { timeoutMs: -1 }, { pollMs: 0 }, { retries: 11 }, { maxNacks: 1.5 }, { chunkBytes: 300 }]) {
      const t = transport();
      c.throws(() => new PN532({ transport: t, clock, ...bad }), 'RangeError', /PN532/, JSON.stringify(bad));
      t.close();
    }
    const pn532 = new PN532({ transport: transport(), clock });
    c.throws(() => new NfcReader({ pn532, exchangeTimeoutMs: 0 }), 'RangeError', /NfcReader exchangeTimeoutMs/, 'exchangeTimeoutMs');
    c.throws(() => new IsoDep({ pn532, tg: 3 }), 'RangeError', /IsoDep tg/, 'tg');
    c.throws(() => new IsoDep({ pn532, tg: 1, maxGetResponse: 0 }), 'RangeError', /IsoDep maxGetResponse/, 'maxGetResponse');
    const reader = new NfcReader({ pn532 });
    await reader.begin();
    reader.close();
    c.runs(() => reader.close(), 'second reader close');
    c.runs(() => pn532.close(), 'PN532 close after the reader');
    await c.rejects(() => pn532.getFirmwareVersion(), 'Error', 'PN532 is closed', 'command after close');
    await c.rejects(() => reader.waitForCard(10), 'Error', 'NfcReader is closed', 'waitForCard after close');
    await c.rejects(() => reader.startSearch(), 'Error', 'NfcReader is closed', 'startSearch after close');
    await c.rejects(() => reader.begin(), 'Error', 'NfcReader is closed', 'begin after close');
    c.runs(() => transport().close(), 'bus freed');
  },

  'Keypad: opens rows open-drain and columns pulled up in their banks, range-checked, close twice': (c) => {
    const clock = new VirtualClock();
    const matrix = new KeyMatrix({ rowPins: ROWS, columnPins: COLUMNS, clock });
    const { io, opened } = recording(digitalBankOn(matrix));
    const keypad = new Keypad({ io, rows: ROWS, columns: COLUMNS, clock });
    c.equal(opened, [
      { pins: (1 << 13) | (1 << 12) | (1 << 14) | (1 << 27), bank: 0, mode: 9 },
      { pins: (1 << 2) | (1 << 3) | (1 << 4) | (1 << 7), bank: 1, mode: 1 },
    ], 'opened with');
    c.throws(() => new Keypad({ io, rows: ROWS, columns: COLUMNS, clock }), 'RangeError', 'in use', 'second keypad');
    // the rows bank opened before the columns failed is closed again
    c.throws(() => new Keypad({ io, rows: [5], columns: COLUMNS, clock, keymap: [['1', '2', '3', '4']] }), 'RangeError', 'in use', 'columns in use');
    c.runs(() => new Keypad({ io, rows: [5], columns: [6], clock, keymap: [['1']] }).close(), 'row pin freed');
    c.throws(() => new Keypad({ io, rows: [31, 32], columns: [5], clock, keymap: [['1'], ['2']] }), 'RangeError', /not in bank/, 'rows across banks');
    c.throws(() => new Keypad({ io, rows: ROWS, columns: COLUMNS, clock, debounceMs: -1 }), 'RangeError', /debounceMs/, 'debounceMs');
    keypad.close();
    c.runs(() => keypad.close(), 'second close');
    c.throws(() => keypad.poll(), 'Error', 'keypad is closed', 'poll after close');
    c.runs(() => new Keypad({ io, rows: ROWS, columns: COLUMNS, clock }).close(), 'reopen');
  },

  'Buzzer and Feedback: one PWM per tone on the pin, the LED bank owned, close twice, use after close throws': async (c) => {
    const clock = new VirtualClock();
    const recorder = new BuzzerRecorder({ clock });
    const pwm = recording(recorder.pwmClass());
    const leds = new OutputPins({ clock });
    const bank = recording(digitalBankOn(leds));
    const buzzer = new Buzzer({ io: pwm.io, pin: 4 });
    c.throws(() => new Buzzer({ io: pwm.io, pin: 64 }), 'RangeError', /buzzer pin/, 'pin');
    const feedback = new Feedback({ buzzer, io: bank.io, pins: LEDS, clock });
    c.equal(bank.opened, [{ pins: (1 << 25) | (1 << 26), bank: 0, mode: 8 }], 'LED bank opened with');
    c.throws(() => new Feedback({ buzzer, io: bank.io, pins: LEDS, clock }), 'RangeError', 'in use', 'second LED bank');
    await feedback.play('key');
    c.equal(pwm.opened, [{ pin: 4, hz: 4000 }], 'PWM opened with');
    c.throws(() => buzzer.tone(50_000), 'RangeError', /tone hz/, 'tone hz');
    feedback.close();
    c.runs(() => feedback.close(), 'second close');
    c.throws(() => feedback.setLed('green'), 'Error', 'feedback is closed', 'LED after close');
    c.throws(() => buzzer.tone(440), 'Error', 'buzzer is closed', 'buzzer closed with its feedback');
    c.runs(() => new Feedback({ buzzer: new Buzzer({ io: pwm.io, pin: 4 }), io: bank.io, pins: LEDS, clock }).close(), 'reopen');
  },
};

export const CONTRACT_SCENARIOS = Object.keys(CONTRACT);

/** Runs one scenario; the checks that failed, each named (empty: the driver keeps the contract). */
export async function runContract(name: string): Promise<string[]> {
  const scenario = CONTRACT[name];
  if (!scenario) return [`no scenario "${name}"`];
  const checks = new Checks();
  try {
    await scenario(checks);
  } catch (e) {
    checks.failed.push(`stopped: ${describe(e)}`);
  }
  return checks.failed;
}

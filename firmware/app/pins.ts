// The terminal's pin map (hardware/pins.json) as the firmware and the docs see it. Platform-free: the
// device bundle inlines the JSON, the docs generator (hardware/generate.ts) and the tests read it too,
// so the wiring table, the SVG and the firmware cannot disagree.
import { TaplineError } from '../base/errors';
import { bankMask } from '../../drivers/io';
import { present } from '../base/assert';

export type Chip = 'esp32' | 'esp32s3';
export type ReaderTransport = 'i2c' | 'spi' | 'uart';

export interface BoardPins {
  title: string;
  chip: Chip;
  /** The mcconfig platform the board is built with. */
  platform: string;
  i2c: { port: number; sda: number; scl: number; hz: number };
  pn532: {
    transport: ReaderTransport;
    i2c: { address: number };
    spi: { port: number; sck: number; miso: number; mosi: number; ss: number; hz: number; mode: number };
    uart: { port: number; tx: number; rx: number; baud: number };
    irq: number;
    reset: number;
  };
  display: { part: string; address: number; width: number; height: number };
  keypad: { rows: number[]; cols: number[]; colPull: 'internal' | 'external'; layout: string[] };
  buzzer: { pin: number; activeHigh: boolean };
  leds: { green: number; red: number; activeHigh: boolean };
}

export interface PinMap {
  version: number;
  boards: Record<string, BoardPins>;
}

export class PinMapError extends TaplineError {
  override readonly name: string = 'PinMapError';
}

type Direction = 'in' | 'out' | 'io';

/** One wire between the board and a part: what the wiring table and the diagram show. */
export interface Wire {
  gpio: number;
  part: string;
  partPin: string;
  signal: string;
  direction: Direction;
  /** Set for the reader's alternative transports: these wires exist only when that transport is chosen. */
  transport?: ReaderTransport;
  note?: string;
}

/** What each chip's GPIOs may be used for (ESP32 and ESP32-S3 datasheets, pin lists and strapping tables). */
interface ChipRules {
  valid: number[];
  flash: number[];
  strapping: number[];
  console: number[];
  inputOnly: number[];
  reserved: { pins: number[]; why: string }[];
}

function span(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}

export function chipRules(chip: Chip): ChipRules {
  if (chip === 'esp32') {
    return {
      valid: [...span(0, 19), 21, 22, 23, 25, 26, 27, ...span(32, 39)],
      flash: span(6, 11),
      strapping: [0, 2, 5, 12, 15],
      console: [1, 3],
      inputOnly: span(34, 39),
      reserved: [],
    };
  }
  return {
    valid: [...span(0, 21), ...span(26, 48)],
    flash: span(26, 32),
    strapping: [0, 3, 45, 46],
    console: [43, 44],
    inputOnly: [],
    reserved: [
      { pins: span(33, 37), why: 'octal PSRAM (N8R8 modules)' },
      { pins: [19, 20], why: 'native USB D-/D+' },
      { pins: [38, 48], why: 'the DevKitC-1 RGB LED (v1.1 / v1.0)' },
    ],
  };
}

/** Every wire of a board, the reader's alternative transports included. */
export function boardWires(b: BoardPins): Wire[] {
  const hex = (n: number) => '0x' + n.toString(16).toUpperCase();
  const w: Wire[] = [
    { gpio: b.i2c.sda, part: 'PN532', partPin: 'SDA', signal: 'I2C SDA', direction: 'io', transport: 'i2c', note: `address ${hex(b.pn532.i2c.address)}` },
    { gpio: b.i2c.scl, part: 'PN532', partPin: 'SCL', signal: 'I2C SCL', direction: 'out', transport: 'i2c' },
    { gpio: b.pn532.spi.sck, part: 'PN532', partPin: 'SCK', signal: 'SPI SCK', direction: 'out', transport: 'spi', note: `mode ${b.pn532.spi.mode}, ${b.pn532.spi.hz / 1e6} MHz, LSB first in software` },
    { gpio: b.pn532.spi.miso, part: 'PN532', partPin: 'MISO', signal: 'SPI MISO', direction: 'in', transport: 'spi' },
    { gpio: b.pn532.spi.mosi, part: 'PN532', partPin: 'MOSI', signal: 'SPI MOSI', direction: 'out', transport: 'spi' },
    { gpio: b.pn532.spi.ss, part: 'PN532', partPin: 'SS', signal: 'SPI chip select', direction: 'out', transport: 'spi' },
    { gpio: b.pn532.uart.tx, part: 'PN532', partPin: 'RXD (SCL pad)', signal: `UART${b.pn532.uart.port} TX`, direction: 'out', transport: 'uart', note: `${b.pn532.uart.baud} 8N1` },
    { gpio: b.pn532.uart.rx, part: 'PN532', partPin: 'TXD (SDA pad)', signal: `UART${b.pn532.uart.port} RX`, direction: 'in', transport: 'uart' },
    { gpio: b.pn532.irq, part: 'PN532', partPin: 'IRQ', signal: 'reader IRQ (active low)', direction: 'in' },
    { gpio: b.pn532.reset, part: 'PN532', partPin: 'RSTPDN', signal: 'reader reset (active low)', direction: 'out' },
    { gpio: b.i2c.sda, part: b.display.part, partPin: 'SDA', signal: 'I2C SDA', direction: 'io', note: `address ${hex(b.display.address)}, shares the bus` },
    { gpio: b.i2c.scl, part: b.display.part, partPin: 'SCL', signal: 'I2C SCL', direction: 'out' },
  ];
  b.keypad.rows.forEach((gpio, i) => w.push({ gpio, part: 'Keypad', partPin: `R${i + 1}`, signal: `row ${i + 1}`, direction: 'out', note: 'driven low one at a time' }));
  b.keypad.cols.forEach((gpio, i) =>
    w.push({
      gpio, part: 'Keypad', partPin: `C${i + 1}`, signal: `column ${i + 1}`, direction: 'in',
      note: b.keypad.colPull === 'external' ? '10 kΩ pull-up to 3V3 (input-only pin)' : 'internal pull-up',
    }),
  );
  w.push({ gpio: b.buzzer.pin, part: 'Buzzer', partPin: 'driver base', signal: 'buzzer', direction: 'out', note: 'PWM tone, via 1 kΩ to an NPN (2N2222 / S8050)' });
  w.push({ gpio: b.leds.green, part: 'LED green', partPin: 'anode', signal: 'approved', direction: 'out', note: 'via 330 Ω' });
  w.push({ gpio: b.leds.red, part: 'LED red', partPin: 'anode', signal: 'declined', direction: 'out', note: 'via 330 Ω' });
  return w;
}

/** The problems of a board's pin map against its chip's rules; empty when the map is sound. */
export function pinProblems(name: string, b: BoardPins): string[] {
  const rules = chipRules(b.chip);
  const problems: string[] = [];
  const wires = boardWires(b);
  for (const wire of wires) {
    const at = `${name}: GPIO${wire.gpio} (${wire.part} ${wire.partPin})`;
    if (!rules.valid.includes(wire.gpio)) problems.push(`${at} is not a GPIO of ${b.chip}`);
    if (rules.flash.includes(wire.gpio)) problems.push(`${at} is wired to the SPI flash`);
    if (rules.strapping.includes(wire.gpio)) problems.push(`${at} is a strapping pin`);
    if (rules.console.includes(wire.gpio)) problems.push(`${at} is the serial console`);
    for (const r of rules.reserved) if (r.pins.includes(wire.gpio)) problems.push(`${at} is reserved for ${r.why}`);
    if (rules.inputOnly.includes(wire.gpio) && wire.direction !== 'in') problems.push(`${at} is input-only but used as ${wire.direction}`);
  }
  for (const gpio of b.keypad.cols) {
    if (rules.inputOnly.includes(gpio) && b.keypad.colPull !== 'external') {
      problems.push(`${name}: keypad column GPIO${gpio} is input-only (no internal pull-up): set colPull "external" and fit resistors`);
    }
  }
  // A GPIO serves one signal, except that the reader's transports are alternatives (only one is wired)
  // and the I2C bus is shared by its devices.
  const byGpio = new Map<number, Wire[]>();
  for (const wire of wires) byGpio.set(wire.gpio, [...(byGpio.get(wire.gpio) ?? []), wire]);
  for (const [gpio, users] of byGpio) {
    for (let i = 0; i < users.length; i++) {
      for (let j = i + 1; j < users.length; j++) {
        const a = present(users[i], 'wire');
        const c = present(users[j], 'wire');
        const alternatives = a.transport !== undefined && c.transport !== undefined && a.transport !== c.transport;
        const sharedBus = a.signal === c.signal && a.signal.startsWith('I2C');
        if (!alternatives && !sharedBus) problems.push(`${name}: GPIO${gpio} is used by both ${a.part} ${a.partPin} and ${c.part} ${c.partPin}`);
      }
    }
  }
  if (b.keypad.rows.length !== 4 || b.keypad.cols.length !== 4) problems.push(`${name}: the keypad needs 4 rows and 4 columns`);
  if (b.keypad.layout.length !== b.keypad.rows.length || b.keypad.layout.some((r) => r.length !== b.keypad.cols.length)) {
    problems.push(`${name}: keypad layout does not match its rows and columns`);
  }
  for (const [what, pins] of [['rows', b.keypad.rows], ['columns', b.keypad.cols]] as const) {
    if (new Set(pins.map((p) => Math.floor(p / 32))).size > 1) problems.push(`${name}: keypad ${what} must sit in one GPIO bank of 32 (DigitalBank)`);
  }
  if (Math.floor(b.leds.green / 32) !== Math.floor(b.leds.red / 32)) problems.push(`${name}: the LEDs must sit in one GPIO bank (one DigitalBank)`);
  if (b.pn532.i2c.address === b.display.address) problems.push(`${name}: the reader and the display share an I2C address`);
  return problems;
}

/** Returns the named board of a pin map; throws PinMapError when it is missing or unsound. */
export function selectBoard(map: PinMap, name: string): BoardPins {
  const board = map.boards[name];
  if (board === undefined) throw new PinMapError(`no board "${name}" in the pin map (have: ${Object.keys(map.boards).join(', ')})`);
  const problems = pinProblems(name, board);
  if (problems.length > 0) throw new PinMapError(problems.join('; '));
  return board;
}

/** A bit mask of GPIOs for DigitalBank (`pins`); all must be in one bank of 32. */
export function pinMask(pins: number[]): { bank: number; mask: number } {
  try {
    return bankMask(pins);
  } catch (e) {
    throw new PinMapError(e instanceof Error ? e.message : String(e));
  }
}

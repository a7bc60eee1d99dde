// Builds the terminal's parts from the pin map and the platform's ECMA-419 IO classes. Platform-free:
// main.ts passes Moddable's `device.io` classes; a test can pass the simulated ones (host/sim/hw/).
import type { Clock, Log } from '../core/platform';
import type { I2C, I2COptions, SPI, SPIOptions, Serial, SerialOptions } from '../../drivers/io';
import { PinMode } from '../../drivers/io';
import { PN532 } from '../../drivers/pn532/pn532';
import { NfcReader } from '../../drivers/pn532/reader';
import { PN532I2C, PN532SPI, PN532UART, type PN532Transport } from '../../drivers/pn532/transport';
import type { BoardPins } from './pins';
import type { EffectSink } from './runner';

export interface IOClasses {
  I2C: new (options: I2COptions) => I2C;
  SPI: new (options: SPIOptions) => SPI;
  Serial: new (options: SerialOptions) => Serial;
}

/** The reader on the transport the pin map selects. */
export function openReader(board: BoardPins, io: IOClasses, clock: Clock, log: Log): NfcReader {
  const p = board.pn532;
  let transport: PN532Transport;
  if (p.transport === 'i2c') {
    transport = new PN532I2C({ io: new io.I2C({ data: board.i2c.sda, clock: board.i2c.scl, hz: board.i2c.hz, address: p.i2c.address, port: board.i2c.port }) });
  } else if (p.transport === 'spi') {
    transport = new PN532SPI({ io: new io.SPI({ clock: p.spi.sck, in: p.spi.miso, out: p.spi.mosi, select: p.spi.ss, hz: p.spi.hz, mode: p.spi.mode, port: p.spi.port }) });
  } else {
    transport = new PN532UART({ io: new io.Serial({ baud: p.uart.baud, transmit: p.uart.tx, receive: p.uart.rx, port: p.uart.port }), clock });
  }
  return new NfcReader({ pn532: new PN532({ transport, clock, log }), log });
}

/** One output pin (embedded:io/digital). */
export interface OutputPin {
  write(value: number): void;
  close(): void;
}

export type DigitalClass = new (options: { pin: number; mode: number }) => OutputPin;

/** Buzzer and LEDs on plain GPIOs; the display shows its lines on the log until its driver is wired. */
export class Feedback implements EffectSink {
  readonly #green: OutputPin;
  readonly #red: OutputPin;
  readonly #buzzer: OutputPin;
  readonly #on: number;
  readonly #buzzOn: number;
  readonly #setTimer: (callback: () => void, ms: number) => unknown;
  readonly #log: Log;
  #display: ((lines: string[]) => void) | undefined;

  constructor(options: { board: BoardPins; Digital: DigitalClass; setTimer: (callback: () => void, ms: number) => unknown; log: Log; display?: (lines: string[]) => void }) {
    const { board, Digital } = options;
    this.#green = new Digital({ pin: board.leds.green, mode: PinMode.Output });
    this.#red = new Digital({ pin: board.leds.red, mode: PinMode.Output });
    this.#buzzer = new Digital({ pin: board.buzzer.pin, mode: PinMode.Output });
    this.#on = board.leds.activeHigh ? 1 : 0;
    this.#buzzOn = board.buzzer.activeHigh ? 1 : 0;
    this.#setTimer = options.setTimer;
    this.#log = options.log;
    this.#display = options.display;
    this.led('off');
    this.#buzzer.write(this.#buzzOn ^ 1);
  }

  display(lines: string[]): void {
    if (this.#display) this.#display(lines);
    this.#log('debug', 'display', lines.join(' | '));
  }

  led(color: 'off' | 'blue' | 'green' | 'red'): void {
    // The board has no blue LED: "blue" (ready for a tap) shows as both off.
    this.#green.write(color === 'green' ? this.#on : this.#on ^ 1);
    this.#red.write(color === 'red' ? this.#on : this.#on ^ 1);
  }

  beep(pattern: 'key' | 'approved' | 'declined'): void {
    // Active buzzer: on/off times in ms, alternating, starting with on.
    const times = pattern === 'key' ? [30] : pattern === 'approved' ? [120] : [80, 80, 80, 80, 300];
    let level = this.#buzzOn;
    const next = (i: number) => {
      this.#buzzer.write(i < times.length ? level : this.#buzzOn ^ 1);
      if (i >= times.length) return;
      level ^= 1;
      this.#setTimer(() => next(i + 1), times[i]!);
    };
    next(0);
  }

  close(): void {
    this.led('off');
    this.#buzzer.write(this.#buzzOn ^ 1);
    this.#green.close();
    this.#red.close();
    this.#buzzer.close();
  }
}

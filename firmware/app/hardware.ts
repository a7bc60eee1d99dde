// Builds the terminal's parts from the pin map and the platform's ECMA-419 IO classes. Platform-free:
// main.ts passes Moddable's `device.io` classes; a test can pass the simulated ones (host/sim/hw/).
import type { Clock, Log } from '../base/platform';
import type { DigitalBank, DigitalBankOptions, I2C, I2COptions, PWM, PWMOptions, SPI, SPIOptions, Serial, SerialOptions } from '../../drivers/io';
import { PN532 } from '../../drivers/pn532/pn532';
import { NfcReader } from '../../drivers/pn532/reader';
import { PN532I2C, PN532SPI, PN532UART, type PN532Transport } from '../../drivers/pn532/transport';
import { Keypad } from '../../drivers/keypad';
import { Buzzer, Feedback } from '../../drivers/feedback/feedback';
import { SSD1306 } from '../../drivers/display/ssd1306';
import { Framebuffer } from '../../drivers/display/framebuffer';
import { Screens } from '../ui/screens';
import { screenLines } from '../ui/text';
import type { BoardPins } from './pins';
import type { EffectSink } from './runner';
import type { Screen } from '../core/terminal/terminal';

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
    transport = new PN532I2C({ io: io.I2C, data: board.i2c.sda, clock: board.i2c.scl, port: board.i2c.port, hz: board.i2c.hz, address: p.i2c.address });
  } else if (p.transport === 'spi') {
    transport = new PN532SPI({ io: io.SPI, clock: p.spi.sck, in: p.spi.miso, out: p.spi.mosi, select: p.spi.ss, port: p.spi.port, hz: p.spi.hz, mode: p.spi.mode });
  } else {
    transport = new PN532UART({ io: io.Serial, transmit: p.uart.tx, receive: p.uart.rx, port: p.uart.port, baud: p.uart.baud, clock });
  }
  return new NfcReader({ pn532: new PN532({ transport, clock, log }), log });
}

export interface PanelClasses {
  I2C: new (options: I2COptions) => I2C;
  DigitalBank: new (options: DigitalBankOptions) => DigitalBank;
  PWM: new (options: PWMOptions) => PWM;
}

/** The SSD1306 on the shared I2C bus, showing the terminal's display lines. */
export class Display {
  readonly #panel: SSD1306;
  readonly #fb: Framebuffer;
  readonly #screens: Screens;

  constructor(options: { board: BoardPins; I2C: PanelClasses['I2C']; currency?: string }) {
    const { board } = options;
    this.#fb = new Framebuffer({ width: board.display.width, height: board.display.height });
    this.#screens = new Screens({ framebuffer: this.#fb, currency: options.currency });
    this.#panel = new SSD1306({ io: options.I2C, data: board.i2c.sda, clock: board.i2c.scl, port: board.i2c.port, hz: board.i2c.hz, address: board.display.address, width: board.display.width, height: board.display.height });
    // a panel that does not answer closes its bus (SSD1306.init), so the address is free again
    this.#panel.init();
  }

  show(screen: Screen): void {
    this.#screens.show(screen);
    this.#panel.flush(this.#fb);
  }

  close(): void {
    this.#panel.close();
  }
}

/** The 4x4 keypad: rows an open-drain output bank, columns an input bank (pulled up, inside or out). */
export function openKeypad(board: BoardPins, DigitalBank: PanelClasses['DigitalBank'], clock: Clock): Keypad {
  return new Keypad({
    io: DigitalBank,
    rows: board.keypad.rows,
    columns: board.keypad.cols,
    pull: board.keypad.colPull === 'external' ? 'external' : 'internal',
    clock,
    keymap: board.keypad.layout.map((row) => [...row]),
  });
}

/** LEDs on one output bank and the buzzer on PWM (drivers/feedback). */
export function openFeedback(board: BoardPins, io: Pick<PanelClasses, 'DigitalBank' | 'PWM'>, clock: Clock): Feedback {
  return new Feedback({
    buzzer: new Buzzer({ io: io.PWM, pin: board.buzzer.pin }),
    io: io.DigitalBank,
    pins: { green: board.leds.green, red: board.leds.red },
    activeLow: !board.leds.activeHigh,
    clock,
  });
}

/** Where the state machine's effects go on the device: display, LEDs, buzzer. */
export class DeviceSink implements EffectSink {
  readonly #display: { show(screen: Screen): void } | undefined;
  readonly #feedback: Feedback;
  readonly #log: Log;

  constructor(options: { display?: { show(screen: Screen): void }; feedback: Feedback; log: Log }) {
    this.#display = options.display;
    this.#feedback = options.feedback;
    this.#log = options.log;
  }

  display(screen: Screen): void {
    this.#log('debug', 'display', screenLines(screen).join(' | '));
    try {
      this.#display?.show(screen);
    } catch (e) {
      // A display that stops answering must not stop payments: the log keeps the lines.
      this.#log('warn', 'display', e instanceof Error ? e.message : String(e));
    }
  }

  led(color: 'off' | 'blue' | 'green' | 'red'): void {
    this.#feedback.setLed(color);
  }

  beep(pattern: 'key' | 'approved' | 'declined'): void {
    void this.#feedback.play(pattern);
  }
}

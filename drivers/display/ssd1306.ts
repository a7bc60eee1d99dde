// SSD1306 128x64 (or 128x32) OLED on I2C: the init sequence for the common modules (internal charge
// pump, rows and columns remapped so the image is upright), and page updates from a Framebuffer.
// The driver opens the I2C bus with the datasheet's defaults and closes it, as Moddable's drivers do.
import { equalBytes } from '../../firmware/base/bytes';
import { checkRange, closed, type I2C, type I2CDriverOptions } from '../io';
import type { Framebuffer } from './framebuffer';

/** Datasheet (SSD1306 rev 1.1, 8.1.5): slave address 0b011110 + SA0, so 0x3C with SA0 low, 0x3D high. */
export const SSD1306_ADDRESS = 0x3c;
/** Datasheet 13.3: I2C clock cycle time 2.5 us at least, i.e. fast mode, 400 kHz. */
export const SSD1306_HZ = 400_000;

const CONTROL_COMMANDS = 0x00;
const CONTROL_DATA = 0x40;

/** The commands the driver sends, by their datasheet names (section 9, command table). */
export const SSD1306Command = {
  SetContrast: 0x81,
  ResumeToRam: 0xa4,
  NormalDisplay: 0xa6,
  InverseDisplay: 0xa7,
  DisplayOff: 0xae,
  DisplayOn: 0xaf,
  DeactivateScroll: 0x2e,
  SetMemoryAddressingMode: 0x20,
  SetColumnAddress: 0x21,
  SetPageAddress: 0x22,
  SetDisplayStartLine: 0x40,
  SegmentRemap127: 0xa1,
  SetMultiplexRatio: 0xa8,
  ComScanDecrement: 0xc8,
  SetDisplayOffset: 0xd3,
  SetComPins: 0xda,
  SetClockDivide: 0xd5,
  SetPrechargePeriod: 0xd9,
  SetVcomhDeselect: 0xdb,
  ChargePump: 0x8d,
} as const;

/** Parameter values of the init sequence. */
const HORIZONTAL_ADDRESSING = 0x00;
/** Divide ratio 1, oscillator frequency mid-range (the reset value). */
const CLOCK_DEFAULT = 0x80;
const CHARGE_PUMP_ON = 0x14;
/** COM pins configuration: alternate for the 64-row panels, sequential for the 32-row ones. */
const COM_PINS_ALTERNATE = 0x12;
const COM_PINS_SEQUENTIAL = 0x02;
const CONTRAST = 0xcf;
/** Phase 1 one clock, phase 2 fifteen: what the charge pump modules need. */
const PRECHARGE = 0xf1;
/** VCOMH about 0.77 x Vcc. */
const VCOMH = 0x40;

/** Display off, clock, multiplex, offset 0, start line 0, charge pump on, horizontal addressing,
 *  segment and COM remap, COM pins, contrast, pre-charge, VCOMH, resume RAM, normal, no scroll, on. */
export function initSequence(height: number): Uint8Array {
  if (height !== 32 && height !== 64) throw new RangeError(`SSD1306 height must be 32 or 64, not ${String(height)}`);
  const C = SSD1306Command;
  return Uint8Array.of(
    C.DisplayOff,
    C.SetClockDivide, CLOCK_DEFAULT,
    C.SetMultiplexRatio, height - 1,
    C.SetDisplayOffset, 0,
    C.SetDisplayStartLine | 0,
    C.ChargePump, CHARGE_PUMP_ON,
    C.SetMemoryAddressingMode, HORIZONTAL_ADDRESSING,
    C.SegmentRemap127,
    C.ComScanDecrement,
    C.SetComPins, height === 64 ? COM_PINS_ALTERNATE : COM_PINS_SEQUENTIAL,
    C.SetContrast, CONTRAST,
    C.SetPrechargePeriod, PRECHARGE,
    C.SetVcomhDeselect, VCOMH,
    C.ResumeToRam,
    C.NormalDisplay,
    C.DeactivateScroll,
    C.DisplayOn,
  );
}

/** `address` 0x3C, or 0x3D with SA0 tied high; `hz` up to 400 kHz. */
export interface SSD1306Options extends I2CDriverOptions {
  /** 128 columns; 64 rows, or 32 for the small modules. */
  width?: number;
  height?: number;
  /** Data bytes per I2C write (the ESP32 driver is happy with a few dozen). */
  chunkBytes?: number;
}

export class SSD1306 {
  #io: I2C | undefined;
  readonly width: number;
  readonly height: number;
  readonly #chunkBytes: number;
  /** What the panel holds, to send only the pages that changed. */
  #shown: Uint8Array | undefined;

  constructor(options: SSD1306Options) {
    this.width = checkRange('SSD1306 width', options.width ?? 128, 128, 128);
    this.height = options.height ?? 64;
    if (this.height !== 32 && this.height !== 64) throw new RangeError(`SSD1306 height must be 32 or 64, not ${String(this.height)}`);
    this.#chunkBytes = checkRange('SSD1306 chunkBytes', options.chunkBytes ?? 32, 1, 255);
    const address = checkRange('SSD1306 address', options.address ?? SSD1306_ADDRESS, SSD1306_ADDRESS, SSD1306_ADDRESS + 1);
    const hz = checkRange('SSD1306 hz', options.hz ?? SSD1306_HZ, 1, SSD1306_HZ);
    this.#io = new options.io({ data: options.data, clock: options.clock, port: options.port, address, hz });
  }

  /** Sends the init sequence; when the panel does not answer, the bus is closed and the error thrown. */
  init(): void {
    try {
      this.commands(initSequence(this.height));
    } catch (e) {
      this.close();
      throw e;
    }
    this.#shown = undefined;
  }

  commands(bytes: Uint8Array | number[]): void {
    const out = new Uint8Array(bytes.length + 1);
    out[0] = CONTROL_COMMANDS;
    out.set(bytes, 1);
    (this.#io ?? closed('SSD1306')).write(out);
  }

  setContrast(level: number): void {
    this.commands([SSD1306Command.SetContrast, checkRange('contrast', level, 0, 255)]);
  }

  setOn(on: boolean): void {
    this.commands([on ? SSD1306Command.DisplayOn : SSD1306Command.DisplayOff]);
  }

  setInverted(inverted: boolean): void {
    this.commands([inverted ? SSD1306Command.InverseDisplay : SSD1306Command.NormalDisplay]);
  }

  /** Sends the pages of `fb` that differ from what the panel shows (all of them after init). */
  flush(fb: Framebuffer): number {
    if (fb.width !== this.width || fb.height !== this.height) throw new RangeError('framebuffer size differs from the panel');
    const io = (this.#io ?? closed('SSD1306'));
    const pages = this.height / 8;
    let sent = 0;
    for (let page = 0; page < pages; page++) {
      const from = page * this.width;
      const row = fb.bytes.subarray(from, from + this.width);
      if (this.#shown && equalBytes(row, this.#shown.subarray(from, from + this.width))) continue;
      this.commands([SSD1306Command.SetColumnAddress, 0, this.width - 1, SSD1306Command.SetPageAddress, page, page]);
      for (let at = 0; at < row.length; at += this.#chunkBytes) {
        const part = row.subarray(at, Math.min(row.length, at + this.#chunkBytes));
        const out = new Uint8Array(part.length + 1);
        out[0] = CONTROL_DATA;
        out.set(part, 1);
        io.write(out);
      }
      sent++;
    }
    this.#shown = fb.bytes.slice();
    return sent;
  }

  /** Closes the bus; a second call does nothing. */
  close(): void {
    this.#io?.close();
    this.#io = undefined;
  }
}

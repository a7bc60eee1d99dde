// SSD1306 128x64 OLED on I2C (address 0x3C): the init sequence for the common modules (internal charge
// pump, rows and columns remapped so the image is upright), and page updates from a Framebuffer.
import { equalBytes } from '../../firmware/base/bytes';
import type { I2C } from '../io';
import type { Framebuffer } from './framebuffer';

const CONTROL_COMMANDS = 0x00;
const CONTROL_DATA = 0x40;

/** Display off, clock, multiplex 64, offset 0, start line 0, charge pump on, horizontal addressing,
 *  segment and COM remap, COM pins alternate, contrast, pre-charge, VCOMH, resume RAM, normal, no scroll, on. */
export const SSD1306_INIT = Uint8Array.of(
  0xae, 0xd5, 0x80, 0xa8, 0x3f, 0xd3, 0x00, 0x40, 0x8d, 0x14, 0x20, 0x00, 0xa1, 0xc8, 0xda, 0x12, 0x81, 0xcf, 0xd9, 0xf1, 0xdb, 0x40,
  0xa4, 0xa6, 0x2e, 0xaf,
);

export interface SSD1306Options {
  io: I2C;
  width?: number;
  height?: number;
  /** Data bytes per I2C write (the ESP32 driver is happy with a few dozen). */
  chunk?: number;
}

export class SSD1306 {
  private readonly io: I2C;
  readonly width: number;
  readonly height: number;
  private readonly chunk: number;
  /** What the panel holds, to send only the pages that changed. */
  private shown: Uint8Array | undefined;

  constructor(options: SSD1306Options) {
    this.io = options.io;
    this.width = options.width ?? 128;
    this.height = options.height ?? 64;
    this.chunk = options.chunk ?? 32;
  }

  init(): void {
    const sequence = SSD1306_INIT.slice();
    if (this.height === 32) {
      sequence[4] = 0x1f;
      sequence[15] = 0x02;
    }
    this.commands(sequence);
    this.shown = undefined;
  }

  commands(bytes: Uint8Array | number[]): void {
    const out = new Uint8Array(bytes.length + 1);
    out[0] = CONTROL_COMMANDS;
    out.set(bytes, 1);
    this.io.write(out);
  }

  setContrast(level: number): void {
    this.commands([0x81, level & 0xff]);
  }

  setOn(on: boolean): void {
    this.commands([on ? 0xaf : 0xae]);
  }

  setInverted(inverted: boolean): void {
    this.commands([inverted ? 0xa7 : 0xa6]);
  }

  /** Sends the pages of `fb` that differ from what the panel shows (all of them after init). */
  flush(fb: Framebuffer): number {
    if (fb.width !== this.width || fb.height !== this.height) throw new RangeError('framebuffer size differs from the panel');
    const pages = this.height / 8;
    let sent = 0;
    for (let page = 0; page < pages; page++) {
      const from = page * this.width;
      const row = fb.bytes.subarray(from, from + this.width);
      if (this.shown && equalBytes(row, this.shown.subarray(from, from + this.width))) continue;
      this.commands([0x21, 0, this.width - 1, 0x22, page, page]);
      for (let at = 0; at < row.length; at += this.chunk) {
        const part = row.subarray(at, Math.min(row.length, at + this.chunk));
        const out = new Uint8Array(part.length + 1);
        out[0] = CONTROL_DATA;
        out.set(part, 1);
        this.io.write(out);
      }
      sent++;
    }
    this.shown = fb.bytes.slice();
    return sent;
  }

  close(): void {
    this.io.close();
  }
}

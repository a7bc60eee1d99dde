// An SSD1306 at the I2C level: it decodes the control bytes, the command stream (with parameters that
// may span writes) and display data into its 128x64 GDDRAM as the chip's addressing modes place it,
// and shows what the panel would: nothing until the charge pump and the display are on.
import { framebufferToBraille } from '../render';
import type { I2CDevice } from './io';
import { xorByte } from '../../../firmware/base/bytes';

/** Parameter bytes each command takes (commands absent here take none). */
const PARAMS: Record<number, number> = {
  0x81: 1, 0x8d: 1, 0xa8: 1, 0xd3: 1, 0xd5: 1, 0xd9: 1, 0xda: 1, 0xdb: 1, 0x20: 1, 0x21: 2, 0x22: 2,
  0x26: 6, 0x27: 6, 0x29: 5, 0x2a: 5, 0xa3: 2,
};

export class SimSSD1306 implements I2CDevice {
  readonly width = 128;
  readonly height = 64;
  readonly ram = new Uint8Array(1024);
  on = false;
  chargePump = false;
  inverted = false;
  entireOn = false;
  contrast = 0x7f;
  segmentRemap = false;
  comReversed = false;
  multiplex = 63;
  startLine = 0;
  offset = 0;
  /** 0 horizontal, 1 vertical, 2 page. */
  addressing = 2;
  private colStart = 0;
  private colEnd = 127;
  private pageStart = 0;
  private pageEnd = 7;
  private col = 0;
  private page = 0;
  private pending: number[] = [];
  /** Every command decoded, hex with its parameters, for tests. */
  readonly log: string[] = [];
  /** Bytes of display data received. */
  dataBytes = 0;

  i2cRead(count: number): Uint8Array {
    // status byte: bit 6 = display off
    const out = new Uint8Array(count);
    if (count > 0) out[0] = this.on ? 0x00 : 0x40;
    return out;
  }

  i2cWrite(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; ) {
      const control = bytes[i++]!;
      const continuation = (control & 0x80) !== 0;
      const data = (control & 0x40) !== 0;
      const end = continuation ? Math.min(bytes.length, i + 1) : bytes.length;
      for (; i < end; i++) (data ? this.data(bytes[i]!) : this.command(bytes[i]!));
    }
  }

  private command(byte: number): void {
    this.pending.push(byte);
    const op = this.pending[0]!;
    if (this.pending.length <= (PARAMS[op] ?? 0)) return;
    const p = this.pending.slice(1);
    this.pending = [];
    this.log.push([op, ...p].map((b) => b.toString(16).padStart(2, '0')).join(' '));
    if (op === 0xae || op === 0xaf) this.on = op === 0xaf;
    else if (op === 0x8d) this.chargePump = (p[0]! & 0x04) !== 0;
    else if (op === 0x81) this.contrast = p[0]!;
    else if (op === 0xa6 || op === 0xa7) this.inverted = op === 0xa7;
    else if (op === 0xa4 || op === 0xa5) this.entireOn = op === 0xa5;
    else if (op === 0xa0 || op === 0xa1) this.segmentRemap = op === 0xa1;
    else if (op === 0xc0 || op === 0xc8) this.comReversed = op === 0xc8;
    else if (op === 0xa8) this.multiplex = p[0]! & 0x3f;
    else if (op === 0xd3) this.offset = p[0]! & 0x3f;
    else if (op >= 0x40 && op <= 0x7f) this.startLine = op & 0x3f;
    else if (op === 0x20) this.addressing = p[0]! & 0x03;
    else if (op === 0x21) [this.colStart, this.colEnd, this.col] = [p[0]! & 0x7f, p[1]! & 0x7f, p[0]! & 0x7f];
    else if (op === 0x22) [this.pageStart, this.pageEnd, this.page] = [p[0]! & 0x07, p[1]! & 0x07, p[0]! & 0x07];
    else if (op >= 0xb0 && op <= 0xb7) this.page = op & 0x07;
    else if (op <= 0x0f) this.col = (this.col & 0xf0) | op;
    else if (op >= 0x10 && op <= 0x1f) this.col = (this.col & 0x0f) | ((op & 0x0f) << 4);
  }

  private data(byte: number): void {
    this.dataBytes++;
    this.ram[this.page * 128 + this.col] = byte;
    if (this.addressing === 2) {
      this.col = this.col >= 127 ? this.col : this.col + 1;
    } else if (this.addressing === 0) {
      if (this.col < this.colEnd) this.col++;
      else {
        this.col = this.colStart;
        this.page = this.page < this.pageEnd ? this.page + 1 : this.pageStart;
      }
    } else {
      if (this.page < this.pageEnd) this.page++;
      else {
        this.page = this.pageStart;
        this.col = this.col < this.colEnd ? this.col + 1 : this.colStart;
      }
    }
  }

  /** Whether the pixel at (x, y) of the glass is lit, with the module mounted the usual way. */
  lit(x: number, y: number): boolean {
    if (!this.on || !this.chargePump) return false;
    if (this.entireOn) return true;
    // the usual module is wired so that A1 + C8 gives an upright image
    const col = this.segmentRemap ? x : 127 - x;
    const row = (((this.comReversed ? y : 63 - y) + this.startLine + this.offset) & 63);
    const bit = ((this.ram[(row >> 3) * 128 + col]! >> (row & 7)) & 1) === 1;
    return bit !== this.inverted;
  }

  /** What the glass shows, in the framebuffer layout of host/sim/render.ts. */
  screen(): Uint8Array {
    const out = new Uint8Array(1024);
    for (let y = 0; y < 64; y++) for (let x = 0; x < 128; x++) if (this.lit(x, y)) xorByte(out, (y >> 3) * 128 + x, 1 << (y & 7));
    return out;
  }

  /** The glass as text: '#' lit, '.' dark, one line per pixel row. */
  toText(): string {
    const lines: string[] = [];
    for (let y = 0; y < 64; y++) {
      let line = '';
      for (let x = 0; x < 128; x++) line += this.lit(x, y) ? '#' : '.';
      lines.push(line);
    }
    return lines.join('\n');
  }

  /** The glass in braille, 64 x 16 characters. */
  toBraille(): string {
    return framebufferToBraille(this.screen()).join('\n');
  }
}

// A 1-bit framebuffer in the SSD1306's own layout (pages of 8 rows; one byte per column per page,
// bit 0 at the top), with the few drawing operations the terminal's screens need.
import { FONT_5X7, FONT_FIRST, FONT_LAST, GLYPH_HEIGHT, GLYPH_WIDTH } from './font5x7';

export class Framebuffer {
  readonly width: number;
  readonly height: number;
  readonly bytes: Uint8Array;

  constructor(options: { width?: number; height?: number } = {}) {
    this.width = options.width ?? 128;
    this.height = options.height ?? 64;
    if (this.height % 8 !== 0) throw new RangeError('height must be a multiple of 8');
    this.bytes = new Uint8Array((this.width * this.height) / 8);
  }

  clear(on = false): void {
    this.bytes.fill(on ? 0xff : 0x00);
  }

  set(x: number, y: number, on = true): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = (y >> 3) * this.width + x;
    // i is inside bytes: x and y were checked against the geometry above
    if (on) this.bytes[i] = this.bytes[i]! | (1 << (y & 7));
    else this.bytes[i] = this.bytes[i]! & ~(1 << (y & 7));
  }

  get(x: number, y: number): boolean {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return false;
    return ((this.bytes[(y >> 3) * this.width + x]! >> (y & 7)) & 1) === 1;
  }

  rect(x: number, y: number, w: number, h: number, on = true, filled = true): void {
    for (let j = y; j < y + h; j++)
      for (let i = x; i < x + w; i++) if (filled || j === y || j === y + h - 1 || i === x || i === x + w - 1) this.set(i, j, on);
  }

  line(x0: number, y0: number, x1: number, y1: number, on = true): void {
    const dx = Math.abs(x1 - x0);
    const dy = -Math.abs(y1 - y0);
    const sx = x0 < x1 ? 1 : -1;
    const sy = y0 < y1 ? 1 : -1;
    let err = dx + dy;
    for (;;) {
      this.set(x0, y0, on);
      if (x0 === x1 && y0 === y1) return;
      const e2 = 2 * err;
      if (e2 >= dy) (err += dy), (x0 += sx);
      if (e2 <= dx) (err += dx), (y0 += sy);
    }
  }

  /** An arc of a circle, angles in degrees (0 = right, counter-clockwise, y up). */
  arc(cx: number, cy: number, r: number, from: number, to: number, on = true): void {
    const steps = Math.max(8, Math.ceil(((to - from) * r) / 20));
    for (let s = 0; s <= steps; s++) {
      const a = ((from + ((to - from) * s) / steps) * Math.PI) / 180;
      this.set(Math.round(cx + r * Math.cos(a)), Math.round(cy - r * Math.sin(a)), on);
    }
  }

  /** Draws `text` with its top-left at (x, y), each font pixel `scale` wide; returns the width drawn. */
  text(x: number, y: number, text: string, options: { scale?: number; on?: boolean } = {}): number {
    const scale = options.scale ?? 1;
    const on = options.on ?? true;
    let at = x;
    for (let n = 0; n < text.length; n++) {
      let code = text.charCodeAt(n);
      if (code < FONT_FIRST || code > FONT_LAST) code = 0x3f;
      const glyph = (code - FONT_FIRST) * GLYPH_WIDTH;
      for (let col = 0; col < GLYPH_WIDTH; col++) {
        const bits = FONT_5X7[glyph + col]!;
        for (let row = 0; row < GLYPH_HEIGHT; row++)
          if ((bits >> row) & 1) for (let sy = 0; sy < scale; sy++) for (let sx = 0; sx < scale; sx++) this.set(at + col * scale + sx, y + row * scale + sy, on);
      }
      at += (GLYPH_WIDTH + 1) * scale;
    }
    return at - x;
  }

  static textWidth(text: string, scale = 1): number {
    return text.length === 0 ? 0 : text.length * (GLYPH_WIDTH + 1) * scale - scale;
  }
}

// Draws a 128x64 monochrome framebuffer (SSD1306 page layout: 8 pages of 128 column bytes, bit 0 at
// the top) in a text terminal with Unicode braille cells, 2x4 pixels each: 64 columns by 16 rows.

const WIDTH = 128;
const HEIGHT = 64;
// Braille dot bit for pixel (x, y) inside a 2x4 cell.
const DOTS = [
  [0x01, 0x08],
  [0x02, 0x10],
  [0x04, 0x20],
  [0x40, 0x80],
];

export function pixel(framebuffer: Uint8Array, x: number, y: number): boolean {
  return ((framebuffer[(y >> 3) * WIDTH + x]! >> (y & 7)) & 1) === 1;
}

export function framebufferToBraille(framebuffer: Uint8Array): string[] {
  if (framebuffer.length !== (WIDTH * HEIGHT) / 8) throw new RangeError(`framebuffer of ${framebuffer.length} bytes`);
  const lines: string[] = [];
  for (let row = 0; row < HEIGHT; row += 4) {
    let line = '';
    for (let col = 0; col < WIDTH; col += 2) {
      let cell = 0;
      for (let dy = 0; dy < 4; dy++) {
        for (let dx = 0; dx < 2; dx++) if (pixel(framebuffer, col + dx, row + dy)) cell |= DOTS[dy]![dx]!;
      }
      line += String.fromCharCode(0x2800 + cell);
    }
    lines.push(line);
  }
  return lines;
}

// Node only: the simulated OLED's glass as a PNG, each pixel a `scale` x `scale` block, lit pixels in
// the white of the common modules on a near-black panel.
import { PNG } from 'pngjs';
import type { SimSSD1306 } from './ssd1306';

export function screenToPng(display: SimSSD1306, scale = 4): Buffer {
  const border = 2 * scale;
  const png = new PNG({ width: display.width * scale + 2 * border, height: display.height * scale + 2 * border });
  for (let y = 0; y < png.height; y++) {
    for (let x = 0; x < png.width; x++) {
      const px = Math.floor((x - border) / scale);
      const py = Math.floor((y - border) / scale);
      const inside = x >= border && y >= border && px < display.width && py < display.height;
      const lit = inside && display.lit(px, py);
      const i = (y * png.width + x) * 4;
      const [r, g, b] = lit ? [0xe8, 0xf4, 0xff] : inside ? [0x10, 0x12, 0x16] : [0x30, 0x32, 0x36];
      png.data[i] = r;
      png.data[i + 1] = g;
      png.data[i + 2] = b;
      png.data[i + 3] = 0xff;
    }
  }
  return PNG.sync.write(png);
}

export function pngToRows(bytes: Buffer, scale = 4): string[] {
  const png = PNG.sync.read(bytes);
  const border = 2 * scale;
  const rows: string[] = [];
  for (let py = 0; py < (png.height - 2 * border) / scale; py++) {
    let row = '';
    for (let px = 0; px < (png.width - 2 * border) / scale; px++) {
      const i = ((border + py * scale) * png.width + border + px * scale) * 4;
      row += png.data[i]! > 0x80 ? '#' : '.';
    }
    rows.push(row);
  }
  return rows;
}

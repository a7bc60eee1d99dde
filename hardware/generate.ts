// Generates the wiring tables in hardware/WIRING.md and the diagram hardware/wiring.svg from
// hardware/pins.json. Run `npx tsx hardware/generate.ts` after editing the pin map;
// test/hardware-pins.test.ts fails while the committed files differ from what this produces.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { boardWires, pinProblems, type BoardPins, type PinMap, type Wire } from '../firmware/app/pins';

export const hardwareDir = dirname(fileURLToPath(import.meta.url));
export const TABLE_BEGIN = '<!-- generated from pins.json: begin -->';
export const TABLE_END = '<!-- generated from pins.json: end -->';

export function loadPinMap(): PinMap {
  return JSON.parse(readFileSync(join(hardwareDir, 'pins.json'), 'utf8')) as PinMap;
}

function transportLabel(w: Wire, b: BoardPins): string {
  if (w.transport === undefined) return 'always';
  return w.transport === b.pn532.transport ? `${w.transport.toUpperCase()} (default)` : `${w.transport.toUpperCase()} only`;
}

/** The markdown wiring tables of every board (the generated part of WIRING.md). */
export function wiringTables(map: PinMap): string {
  const out: string[] = [];
  for (const [name, b] of Object.entries(map.boards)) {
    out.push(`### ${b.title} (\`${name}\`, \`mcconfig -p ${b.platform}\`)`, '');
    out.push('| GPIO | part | part pin | signal | dir | wired when | note |', '|---:|---|---|---|---|---|---|');
    const wires = boardWires(b).slice().sort((x, y) => x.gpio - y.gpio || x.part.localeCompare(y.part));
    for (const w of wires) {
      out.push(`| ${w.gpio} | ${w.part} | ${w.partPin} | ${w.signal} | ${w.direction} | ${transportLabel(w, b)} | ${w.note ?? ''} |`);
    }
    out.push('', `Keypad layout (rows top to bottom): \`${b.keypad.layout.join(' / ')}\`. Power: 3V3 and GND of the board to every part (see below).`, '');
  }
  return out.join('\n');
}

/** WIRING.md with its generated section replaced by the tables for `map`. */
export function updateWiringDoc(doc: string, map: PinMap): string {
  const begin = doc.indexOf(TABLE_BEGIN);
  const end = doc.indexOf(TABLE_END);
  if (begin < 0 || end < begin) throw new Error('hardware/WIRING.md lacks the generated-section markers');
  return doc.slice(0, begin + TABLE_BEGIN.length) + '\n' + wiringTables(map) + '\n' + doc.slice(end);
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The supply pins each part has: a matrix keypad has none (its column pull-ups go to 3V3), an LED only its cathode. */
const RAILS: Record<string, { pin: string; rail: '3V3' | 'GND' }[]> = {
  Keypad: [],
  'LED green': [{ pin: 'cathode', rail: 'GND' }],
  'LED red': [{ pin: 'cathode', rail: 'GND' }],
  Buzzer: [{ pin: 'buzzer +', rail: '3V3' }, { pin: 'emitter', rail: 'GND' }],
};
const DEFAULT_RAILS: { pin: string; rail: '3V3' | 'GND' }[] = [{ pin: 'VCC', rail: '3V3' }, { pin: 'GND', rail: 'GND' }];

const PART_COLOURS: Record<string, string> = {
  PN532: '#1f6fb2',
  SSD1306: '#6a3fb2',
  Keypad: '#2e8b57',
  Buzzer: '#b8860b',
  'LED green': '#1a9e1a',
  'LED red': '#c62828',
};

/** An SVG diagram of one board: the board's used GPIOs on the left, each part's pins on the right. */
export function wiringSvg(name: string, b: BoardPins): string {
  const wires = boardWires(b).filter((w) => w.transport === undefined || w.transport === b.pn532.transport);
  const gpios = [...new Set(wires.map((w) => w.gpio))].sort((x, y) => x - y);
  const parts = [...new Set(wires.map((w) => w.part))];
  const row = 22;
  const top = 70;
  const boardX = 40;
  const boardW = 170;
  const partX = 620;
  const partW = 200;
  const gpioY = new Map<number, number>();
  gpios.forEach((g, i) => gpioY.set(g, top + 40 + i * row));
  const boardH = 40 + gpios.length * row + 60;
  const pinY = new Map<string, number>();
  const boxes: { part: string; y: number; h: number }[] = [];
  let y = top;
  for (const part of parts) {
    const pins = [...new Set(wires.filter((w) => w.part === part).map((w) => w.partPin))];
    const rails = RAILS[part] ?? DEFAULT_RAILS;
    const h = 34 + (pins.length + rails.length) * row;
    pins.forEach((p, i) => pinY.set(`${part}/${p}`, y + 34 + i * row));
    rails.forEach((r, i) => pinY.set(`${part}/rail/${r.pin}`, y + 34 + (pins.length + i) * row));
    boxes.push({ part, y, h });
    y += h + 16;
  }
  const height = Math.max(top + boardH, y) + 60;
  const s: string[] = [];
  s.push(`<svg xmlns="http://www.w3.org/2000/svg" width="860" height="${height}" viewBox="0 0 860 ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  s.push(`<title>tapline wiring: ${esc(b.title)}</title>`);
  s.push('<rect width="100%" height="100%" fill="#ffffff"/>');
  s.push(`<text x="20" y="28" font-size="16" font-weight="bold">${esc(b.title)}: reader on ${b.pn532.transport.toUpperCase()}</text>`);
  s.push(`<text x="20" y="48" fill="#555">Generated from hardware/pins.json (board "${esc(name)}"). All parts on 3V3; the alternative reader transports are listed in WIRING.md.</text>`);
  s.push(`<rect x="${boardX}" y="${top}" width="${boardW}" height="${boardH}" rx="8" fill="#222" stroke="#000"/>`);
  s.push(`<text x="${boardX + boardW / 2}" y="${top + 22}" fill="#fff" text-anchor="middle" font-weight="bold">${esc(b.chip.toUpperCase())}</text>`);
  for (const g of gpios) {
    const gy = gpioY.get(g)!;
    s.push(`<circle cx="${boardX + boardW}" cy="${gy}" r="4" fill="#ddd"/>`);
    s.push(`<text x="${boardX + boardW - 10}" y="${gy + 4}" fill="#fff" text-anchor="end">GPIO${g}</text>`);
  }
  const railY = top + boardH - 40;
  s.push(`<text x="${boardX + boardW - 10}" y="${railY + 4}" fill="#f66" text-anchor="end">3V3</text>`);
  s.push(`<text x="${boardX + boardW - 10}" y="${railY + 24}" fill="#aaa" text-anchor="end">GND</text>`);
  for (const box of boxes) {
    const colour = PART_COLOURS[box.part] ?? '#444';
    s.push(`<rect x="${partX}" y="${box.y}" width="${partW}" height="${box.h}" rx="6" fill="#f7f7f7" stroke="${colour}" stroke-width="2"/>`);
    s.push(`<text x="${partX + partW / 2}" y="${box.y + 20}" text-anchor="middle" font-weight="bold" fill="${colour}">${esc(box.part)}</text>`);
  }
  const drawn = new Set<string>();
  let lane = 0;
  for (const w of wires) {
    const key = `${w.part}/${w.partPin}`;
    if (drawn.has(key)) continue;
    drawn.add(key);
    const y1 = gpioY.get(w.gpio)!;
    const y2 = pinY.get(key)!;
    const x1 = boardX + boardW;
    const xm = 260 + (lane++ % 16) * 20;
    const colour = PART_COLOURS[w.part] ?? '#444';
    s.push(`<path d="M${x1} ${y1} H${xm} V${y2} H${partX}" fill="none" stroke="${colour}" stroke-width="1.5"/>`);
    s.push(`<circle cx="${partX}" cy="${y2}" r="3" fill="${colour}"/>`);
    s.push(`<text x="${partX + 8}" y="${y2 + 4}">${esc(w.partPin)}</text>`);
  }
  for (const box of boxes) {
    for (const r of RAILS[box.part] ?? DEFAULT_RAILS) {
      const [colour, ry, x] = r.rail === '3V3' ? ['#d32f2f', railY, 226] : ['#555', railY + 20, 242];
      const py = pinY.get(`${box.part}/rail/${r.pin}`)!;
      s.push(`<path d="M${boardX + boardW} ${ry} H${x} V${py} H${partX}" fill="none" stroke="${colour}" stroke-width="1" stroke-dasharray="4 3"/>`);
      s.push(`<text x="${partX + 8}" y="${py + 4}" fill="${colour}">${r.pin} (${r.rail})</text>`);
    }
  }
  if (b.keypad.colPull === 'external') {
    s.push(`<text x="20" y="${height - 24}" fill="#2e8b57">Keypad columns GPIO${b.keypad.cols.join(', ')}: input-only pins, fit a 10 kΩ pull-up from each to 3V3.</text>`);
  }
  s.push('</svg>');
  return s.join('\n') + '\n';
}

/** The diagram shipped in hardware/wiring.svg: the reference board (ESP32-DevKitC). */
export const DIAGRAM_BOARD = 'esp32-devkitc';

function main(): void {
  const map = loadPinMap();
  const problems = Object.entries(map.boards).flatMap(([name, b]) => pinProblems(name, b));
  if (problems.length > 0) {
    console.error(problems.join('\n'));
    process.exit(1);
  }
  const docPath = join(hardwareDir, 'WIRING.md');
  writeFileSync(docPath, updateWiringDoc(readFileSync(docPath, 'utf8'), map));
  writeFileSync(join(hardwareDir, 'wiring.svg'), wiringSvg(DIAGRAM_BOARD, map.boards[DIAGRAM_BOARD]!));
  console.log('hardware/WIRING.md and hardware/wiring.svg regenerated');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();

// Generates the wiring tables in hardware/WIRING.md and one diagram per board, hardware/wiring-BOARD.svg, from
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

const PART_COLOURS: Record<string, string> = {
  PN532: '#1f6fb2',
  SSD1306: '#6a3fb2',
  Keypad: '#2e8b57',
  Buzzer: '#b8860b',
  'LED green': '#1a9e1a',
  'LED red': '#c62828',
};

// ---- the diagram ---------------------------------------------------------------------------------
//
// A schematic a breadboarder can follow: the board's GPIOs on the left, each part on the right with its
// passives drawn (LED series resistors, the buzzer's transistor and base resistor and flyback diode, the
// keypad column pull-ups where the pins have none, the decoupling capacitors). Supplies are drawn as
// local 3V3 and GND symbols at each part, as schematics do, so they need no long rails.
//
// Why no two wires share a run: every signal net gets a vertical lane of its own between the board and
// the parts; the board's pins sit on rows 0, 24, 48... and the parts' pins on rows 12, 36, 60..., so a
// horizontal run on the board side never lies on the same line as one on the part side. Wires cross
// (a crossing without a dot is no connection); a dot marks where a net branches (the I2C bus).
// test/hardware-pins.test.ts reads the paths back and checks both properties.

const ROW = 24;
const TOP = 96;
const BOARD_X = 30;
const BOARD_W = 150;
const LANE_X0 = BOARD_X + BOARD_W + 36;
const LANE_GAP = 14;
const PART_W = 230;

interface Net {
  gpio: number;
  colour: string;
  taps: { part: string; pin: string }[];
}

/** A part block: its signal pins on the left edge, at offsets (multiples of ROW) from its top. */
interface Block {
  part: string;
  pins: { pin: string; label: string; dy: number; above?: boolean }[];
  height: number;
  /** Draws the inside of the block (and its local passives) with (x, y) its top-left corner. */
  draw(x: number, y: number): string[];
}

export function wiringSvg(name: string, b: BoardPins): string {
  const wires = boardWires(b).filter((w) => w.transport === undefined || w.transport === b.pn532.transport);
  const nets = new Map<number, Net>();
  for (const w of wires) {
    const net = nets.get(w.gpio) ?? { gpio: w.gpio, colour: PART_COLOURS[w.part] ?? '#444', taps: [] };
    net.taps.push({ part: w.part, pin: w.partPin });
    nets.set(w.gpio, net);
  }
  const gpios = [...nets.keys()].sort((x, y) => x - y);
  const boardY = new Map(gpios.map((g, i) => [g, TOP + i * ROW] as const));
  const laneX = new Map(gpios.map((g, i) => [g, LANE_X0 + i * LANE_GAP] as const));
  const laneEnd = LANE_X0 + (gpios.length - 1) * LANE_GAP;
  const pullUpX = laneEnd + 24;
  const partX = laneEnd + (b.keypad.colPull === 'external' ? 96 : 40);

  const blocks = partBlocks(b, wires);
  // part pins on the half rows, blocks one half row apart at least
  const pinY = new Map<string, number>();
  const placed: { block: Block; y: number }[] = [];
  let y = TOP - ROW / 2;
  for (const block of blocks) {
    placed.push({ block, y });
    for (const p of block.pins) pinY.set(`${block.part}/${p.pin}`, y + p.dy);
    y += block.height + ROW;
  }
  const boardH = gpios.length * ROW + 3 * ROW;
  const height = Math.max(TOP + boardH, y) + 70;
  const width = partX + PART_W + 200;

  const s: string[] = [];
  s.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  s.push(`<title>tapline wiring: ${esc(b.title)}</title>`);
  s.push('<rect width="100%" height="100%" fill="#ffffff"/>');
  s.push(`<text x="20" y="28" font-size="16" font-weight="bold">${esc(b.title)}: reader on ${b.pn532.transport.toUpperCase()}</text>`);
  s.push(`<text x="20" y="48" fill="#555">Generated from hardware/pins.json (board "${esc(name)}", mcconfig -p ${esc(b.platform)}). Every part on 3V3.</text>`);
  s.push(`<text x="20" y="66" fill="#555">A crossing without a dot is no connection; every 3V3 and GND symbol is the board's 3V3 and GND pin.</text>`);

  // the board
  s.push(`<rect x="${BOARD_X}" y="${TOP - ROW}" width="${BOARD_W}" height="${boardH}" rx="8" fill="#222" stroke="#000"/>`);
  s.push(`<text x="${BOARD_X + 14}" y="${TOP - ROW + 18}" fill="#fff" font-weight="bold">${esc(b.chip.toUpperCase())}</text>`);
  for (const g of gpios) {
    const gy = boardY.get(g)!;
    s.push(`<text x="${BOARD_X + BOARD_W - 10}" y="${gy + 4}" fill="#fff" text-anchor="end">GPIO${g}</text>`);
  }
  const supplyY = TOP + gpios.length * ROW + ROW / 2;
  s.push(`<text x="${BOARD_X + BOARD_W - 10}" y="${supplyY + 4}" fill="#f88" text-anchor="end">3V3</text>`);
  s.push(...stub(BOARD_X + BOARD_W, supplyY, 14), ...vcc(BOARD_X + BOARD_W + 14, supplyY));
  s.push(`<text x="${BOARD_X + BOARD_W - 10}" y="${supplyY + ROW + 4}" fill="#bbb" text-anchor="end">GND</text>`);
  s.push(...stub(BOARD_X + BOARD_W, supplyY + ROW, 14), ...gnd(BOARD_X + BOARD_W + 14, supplyY + ROW));

  // the wires: board pin, own lane, part pin(s)
  for (const g of gpios) {
    const net = nets.get(g)!;
    const x = laneX.get(g)!;
    const y0 = boardY.get(g)!;
    const ys = net.taps.map((t) => pinY.get(`${t.part}/${t.pin}`)!);
    const low = Math.min(y0, ...ys);
    const high = Math.max(y0, ...ys);
    const d = [`M${BOARD_X + BOARD_W} ${y0} H${x}`, `M${x} ${low} V${high}`, ...ys.map((py) => `M${x} ${py} H${partX}`)].join(' ');
    s.push(`<path class="wire" data-net="GPIO${g}" d="${d}" fill="none" stroke="${net.colour}" stroke-width="1.6"/>`);
    s.push(`<circle class="pin" data-pin="board/GPIO${g}" cx="${BOARD_X + BOARD_W}" cy="${y0}" r="3.5" fill="#ddd"/>`);
    for (const py of [y0, ...ys]) {
      if (py !== low && py !== high) s.push(`<circle cx="${x}" cy="${py}" r="3" fill="${net.colour}"/>`);
    }
    net.taps.forEach((t, i) => {
      const py = ys[i]!;
      s.push(`<circle class="pin" data-pin="${esc(t.part)}/${esc(t.pin)}" cx="${partX}" cy="${py}" r="3" fill="${net.colour}"/>`);
      if (t.part === 'Keypad' && t.pin.startsWith('C') && b.keypad.colPull === 'external') {
        // an external pull-up on an input-only column: from the wire up to 3V3
        const n = Number(t.pin.slice(1));
        s.push(`<circle cx="${pullUpX}" cy="${py}" r="3" fill="${net.colour}"/>`);
        s.push(...resistorV(pullUpX, py, py - 30, `R${3 + n} 10 kΩ`), ...vcc(pullUpX, py - 30, true));
      }
    });
  }

  for (const { block, y: by } of placed) {
    const colour = PART_COLOURS[block.part] ?? '#444';
    s.push(`<rect x="${partX}" y="${by - ROW / 2 + 2}" width="${PART_W}" height="${block.height}" rx="6" fill="#f7f7f7" stroke="${colour}" stroke-width="2"/>`);
    s.push(`<text x="${partX + PART_W - 8}" y="${by - ROW / 2 + 18}" text-anchor="end" font-weight="bold" fill="${colour}">${esc(block.part)}</text>`);
    // a pin that leads into a drawn circuit has its label above the lead
    for (const p of block.pins) s.push(p.above ? label(partX + 6, by + p.dy - 6, p.label) : `<text x="${partX + 8}" y="${by + p.dy + 4}">${esc(p.label)}</text>`);
    s.push(...block.draw(partX, by - ROW / 2 + 2));
  }
  const notes = b.keypad.colPull === 'external'
    ? `Keypad columns GPIO${b.keypad.cols.join(', ')} are input-only pins without pull-ups: R4-R7 (10 kΩ) to 3V3.`
    : 'Keypad columns use the chip\'s internal pull-ups: no resistors.';
  s.push(`<text x="20" y="${height - 40}" fill="#2e8b57">${esc(notes)}</text>`);
  s.push(`<text x="20" y="${height - 20}" fill="#555">Part numbers in hardware/BOM.md; power, decoupling and antenna notes in hardware/WIRING.md.</text>`);
  s.push('</svg>');
  return s.join('\n') + '\n';
}

/** Each part the board wires, with its pins and the passives around it. */
function partBlocks(b: BoardPins, wires: Wire[]): Block[] {
  const gpioOf = (part: string, pin: string) => wires.find((w) => w.part === part && w.partPin === pin)!.gpio;
  const signalPins = (part: string) => [...new Set(wires.filter((w) => w.part === part).map((w) => w.partPin))];
  const blocks: Block[] = [];
  const module = (part: string, caps: [string, string]): Block => {
    const pins = signalPins(part).map((pin, i) => ({ pin, label: `${pin}  (GPIO${gpioOf(part, pin)})`, dy: i * ROW }));
    const height = Math.max(pins.length * ROW, 4 * ROW) + ROW;
    return {
      part,
      pins,
      height,
      draw: (x, y) => supplyWithCaps(x + PART_W, y + ROW + 2, caps),
    };
  };
  const pn532 = module('PN532', ['C1 100 nF', 'C3 10 µF']);
  const oled = module(b.display.part, ['C2 100 nF', 'C4 10 µF']);
  blocks.push(pn532, oled);

  const external = b.keypad.colPull === 'external';
  const keyPins = [
    ...b.keypad.rows.map((_, i) => `R${i + 1}`),
    ...b.keypad.cols.map((_, i) => `C${i + 1}`),
  ];
  let dy = 0;
  const kp = keyPins.map((pin) => {
    // a pull-up needs the room of a row above its wire
    if (external && pin.startsWith('C')) dy += ROW;
    const at = { pin, label: `${pin}  (GPIO${gpioOf('Keypad', pin)})`, dy };
    dy += ROW;
    return at;
  });
  blocks.push({
    part: 'Keypad',
    pins: kp,
    height: dy + ROW / 2,
    draw: (x, y) => keypadGrid(x + 120, y + 28, b.keypad.layout),
  });

  blocks.push({
    part: 'Buzzer',
    pins: [{ pin: 'driver base', label: `GPIO${b.buzzer.pin}`, dy: 4 * ROW, above: true }],
    height: 6 * ROW,
    draw: (x, y) => buzzerDriver(x, y + 4 * ROW + ROW / 2 - 2),
  });
  for (const [colour, n] of [['green', 1], ['red', 2]] as const) {
    blocks.push({
      part: `LED ${colour}`,
      pins: [{ pin: 'anode', label: `GPIO${b.leds[colour]}`, dy: ROW, above: true }],
      height: 2 * ROW + ROW / 2,
      draw: (x, y) => ledChain(x, y + ROW + ROW / 2 - 2, `R${n} 330 Ω`, colour === 'green' ? '#1a9e1a' : '#c62828', colour === 'green' ? 'approved' : 'declined'),
    });
  }
  return blocks;
}

// ---- symbols (all strokes; `x, y` is where the lead starts) ----

function line(x1: number, y1: number, x2: number, y2: number, colour = '#333', w = 1.4): string {
  return `<path d="M${x1} ${y1} L${x2} ${y2}" stroke="${colour}" stroke-width="${w}" fill="none"/>`;
}

function stub(x: number, y: number, len: number): string[] {
  return [line(x, y, x + len, y)];
}

function label(x: number, y: number, text: string, anchor = 'start', colour = '#333'): string {
  return `<text x="${x}" y="${y}" font-size="10" text-anchor="${anchor}" fill="${colour}">${esc(text)}</text>`;
}

function vcc(x: number, y: number, labelRight = false): string[] {
  const text = labelRight ? label(x + 9, y - 3, '3V3', 'start', '#d32f2f') : label(x, y - 10, '3V3', 'middle', '#d32f2f');
  return [line(x, y, x, y - 6, '#d32f2f'), line(x - 6, y - 6, x + 6, y - 6, '#d32f2f', 2), text];
}

function gnd(x: number, y: number): string[] {
  return [line(x, y, x, y + 6), line(x - 7, y + 6, x + 7, y + 6, '#333', 1.6), line(x - 4, y + 9, x + 4, y + 9), line(x - 1.5, y + 12, x + 1.5, y + 12)];
}

function zigzag(points: number, from: [number, number], step: [number, number], amp: [number, number]): string {
  let d = `M${from[0]} ${from[1]}`;
  for (let i = 1; i <= points; i++) {
    const side = i === points ? 0 : i % 2 === 1 ? 1 : -1;
    d += ` L${from[0] + step[0] * i + amp[0] * side} ${from[1] + step[1] * i + amp[1] * side}`;
  }
  return `<path d="${d}" stroke="#333" stroke-width="1.4" fill="none"/>`;
}

/** A resistor from (x, y) to the right, 40 long. */
function resistorH(x: number, y: number, text: string): string[] {
  return [line(x, y, x + 8, y), zigzag(8, [x + 8, y], [3, 0], [0, 4]), line(x + 32, y, x + 40, y), label(x + 20, y - 8, text, 'middle')];
}

/** A resistor from (x, y1) up or down to (x, y2). */
function resistorV(x: number, y1: number, y2: number, text: string): string[] {
  const dir = Math.sign(y2 - y1);
  const len = Math.abs(y2 - y1);
  const body = Math.min(24, len - 6);
  const a = y1 + dir * ((len - body) / 2);
  return [line(x, y1, x, a), zigzag(8, [x, a], [0, (dir * body) / 8], [4, 0]), line(x, a + dir * body, x, y2), label(x + 8, (y1 + y2) / 2 + 4, text)];
}

/** A capacitor from (x, y) down to a GND symbol. */
function capacitorDown(x: number, y: number, text: string): string[] {
  return [line(x, y, x, y + 12), line(x - 8, y + 12, x + 8, y + 12, '#333', 2), line(x - 8, y + 17, x + 8, y + 17, '#333', 2), line(x, y + 17, x, y + 28), ...gnd(x, y + 28), label(x + 11, y + 20, text)];
}

/** A module's VCC and GND on its right edge: VCC to 3V3 with its decoupling capacitors, GND to ground. */
function supplyWithCaps(x: number, y: number, caps: [string, string]): string[] {
  const out: string[] = [label(x - 8, y + 4, 'VCC', 'end'), label(x - 8, y + ROW + 4, 'GND', 'end')];
  out.push(line(x, y, x + 160, y), ...vcc(x + 160, y));
  out.push(`<circle cx="${x + 20}" cy="${y}" r="2.5" fill="#333"/>`, `<circle cx="${x + 96}" cy="${y}" r="2.5" fill="#333"/>`);
  out.push(...capacitorDown(x + 20, y, caps[0]), ...capacitorDown(x + 96, y, caps[1]));
  out.push(line(x, y + ROW, x + 8, y + ROW), ...gnd(x + 8, y + ROW));
  return out;
}

function keypadGrid(x: number, y: number, layout: string[]): string[] {
  const out: string[] = [];
  layout.forEach((row, r) =>
    [...row].forEach((key, c) => {
      out.push(`<rect x="${x + c * 22}" y="${y + r * 22}" width="18" height="18" rx="3" fill="#fff" stroke="#2e8b57"/>`);
      out.push(`<text x="${x + c * 22 + 9}" y="${y + r * 22 + 13}" text-anchor="middle" font-size="11">${esc(key)}</text>`);
    }),
  );
  return out;
}

/** GPIO -> R3 1 kΩ -> NPN base; collector to the buzzer (and the flyback diode across it) to 3V3; emitter to GND. */
function buzzerDriver(x: number, y: number): string[] {
  const out: string[] = [...resistorH(x + 50, y, 'R3 1 kΩ'), line(x, y, x + 50, y)];
  const bx = x + 90;
  const qx = bx + 22;
  out.push(line(bx, y, bx + 10, y), `<circle cx="${qx}" cy="${y}" r="14" fill="none" stroke="#333" stroke-width="1.2"/>`);
  out.push(line(bx + 10, y - 9, bx + 10, y + 9, '#333', 2));
  out.push(line(bx + 10, y - 4, qx + 8, y - 12), line(qx + 8, y - 12, qx + 8, y - 30)); // collector
  out.push(line(bx + 10, y + 4, qx + 8, y + 12), `<path d="M${qx + 8} ${y + 12} l-7 -1 l3 -5 z" fill="#333"/>`); // emitter arrow
  out.push(line(qx + 8, y + 12, qx + 8, y + 26), ...gnd(qx + 8, y + 26), label(qx + 18, y + 4, 'Q1 NPN'), label(qx + 18, y + 16, '2N2222 / S8050'));
  // the buzzer between 3V3 and the collector, the diode across it
  const top = y - 30;
  out.push(`<rect x="${qx + 2}" y="${top - 28}" width="12" height="22" fill="#fff" stroke="#b8860b" stroke-width="1.6"/>`, line(qx + 8, top, qx + 8, top - 6));
  out.push(line(qx + 8, top - 28, qx + 8, top - 38), ...vcc(qx + 8, top - 38), label(qx - 4, top - 14, 'BZ1', 'end'));
  const dx = qx + 44;
  out.push(line(qx + 8, top, dx, top), line(qx + 8, top - 34, dx, top - 34), `<circle cx="${qx + 8}" cy="${top}" r="2.5" fill="#333"/>`, `<circle cx="${qx + 8}" cy="${top - 34}" r="2.5" fill="#333"/>`);
  // diode pointing up (cathode to 3V3)
  out.push(line(dx, top, dx, top - 10), `<path d="M${dx - 6} ${top - 10} L${dx + 6} ${top - 10} L${dx} ${top - 20} Z" fill="none" stroke="#333" stroke-width="1.4"/>`);
  out.push(line(dx - 6, top - 20, dx + 6, top - 20, '#333', 2), line(dx, top - 20, dx, top - 34), label(dx + 9, top - 12, 'D1 1N4148'));
  return out;
}

/** GPIO -> series resistor -> LED -> GND. */
function ledChain(x: number, y: number, resistor: string, colour: string, meaning: string): string[] {
  const out: string[] = [line(x, y, x + 50, y), ...resistorH(x + 50, y, resistor)];
  const lx = x + 100;
  out.push(line(x + 90, y, lx, y), `<path d="M${lx} ${y - 7} L${lx} ${y + 7} L${lx + 12} ${y} Z" fill="${colour}" stroke="#333" stroke-width="1.2"/>`);
  out.push(line(lx + 12, y - 7, lx + 12, y + 7, '#333', 2), line(lx + 16, y - 8, lx + 22, y - 14, colour), line(lx + 20, y - 6, lx + 26, y - 12, colour));
  out.push(line(lx + 12, y, lx + 36, y), line(lx + 36, y, lx + 36, y + 4), ...gnd(lx + 36, y + 4), label(lx + 46, y + 4, meaning));
  return out;
}

/** The boards that get a diagram: every board of the pin map, in hardware/wiring-BOARD.svg. */
export function diagramPath(board: string): string {
  return join(hardwareDir, `wiring-${board}.svg`);
}

function main(): void {
  const map = loadPinMap();
  const problems = Object.entries(map.boards).flatMap(([name, b]) => pinProblems(name, b));
  if (problems.length > 0) {
    console.error(problems.join('\n'));
    process.exit(1);
  }
  const docPath = join(hardwareDir, 'WIRING.md');
  writeFileSync(docPath, updateWiringDoc(readFileSync(docPath, 'utf8'), map));
  for (const [name, b] of Object.entries(map.boards)) writeFileSync(diagramPath(name), wiringSvg(name, b));
  console.log(`hardware/WIRING.md and ${Object.keys(map.boards).map((n) => `hardware/wiring-${n}.svg`).join(', ')} regenerated`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();

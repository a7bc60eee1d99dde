import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { diagramPath, hardwareDir, loadPinMap, updateWiringDoc, wiringSvg } from '../hardware/generate';
import { boardWires, pinMask, pinProblems, selectBoard, PinMapError, type BoardPins } from '../firmware/app/pins';

const map = loadPinMap();
const clone = (b: BoardPins): BoardPins => JSON.parse(JSON.stringify(b)) as BoardPins;

describe('hardware: the pin map', () => {
  it('has both boards the manifests build, each sound by its chip rules', () => {
    expect(Object.keys(map.boards)).to.include.members(['esp32-devkitc', 'esp32s3-devkitc']);
    for (const [name, b] of Object.entries(map.boards)) expect(pinProblems(name, b), name).to.deep.equal([]);
    expect(map.boards['esp32-devkitc']!.platform).to.equal('esp32/nodemcu');
    expect(map.boards['esp32s3-devkitc']!.platform).to.equal('esp32/esp32s3');
  });

  it('keeps the DevKitC I2C bus on the Moddable defaults and the reader and OLED on it', () => {
    const b = map.boards['esp32-devkitc']!;
    expect([b.i2c.sda, b.i2c.scl]).to.deep.equal([21, 22]);
    expect(b.pn532.i2c.address).to.equal(0x24);
    expect(b.display.address).to.equal(0x3c);
    expect(b.pn532.transport).to.equal('i2c');
  });

  it('refuses strapping, flash and console pins, outputs on input-only pins and double use', () => {
    const base = map.boards['esp32-devkitc']!;
    const cases: [string, (b: BoardPins) => void, RegExp][] = [
      ['strapping', (b) => (b.leds.red = 12), /strapping/],
      ['flash', (b) => (b.buzzer.pin = 7), /SPI flash/],
      ['console', (b) => (b.leds.green = 1), /console/],
      ['input-only output', (b) => (b.keypad.rows[0] = 34), /input-only but used as out/],
      ['pull-up on input-only', (b) => (b.keypad.colPull = 'internal'), /no internal pull-up/],
      ['double use', (b) => (b.buzzer.pin = 16), /used by both/],
      ['not a GPIO', (b) => (b.pn532.irq = 24), /not a GPIO/],
      ['split bank', (b) => (b.keypad.cols[0] = 4), /one GPIO bank/],
      ['same address', (b) => (b.display.address = 0x24), /share an I2C address/],
    ];
    for (const [what, change, reason] of cases) {
      const b = clone(base);
      change(b);
      const problems = pinProblems('test', b);
      expect(problems.join('\n'), what).to.match(reason);
      expect(() => selectBoard({ version: 1, boards: { test: b } }, 'test')).to.throw(PinMapError);
    }
    const s3 = clone(map.boards['esp32s3-devkitc']!);
    s3.leds.red = 48;
    expect(pinProblems('s3', s3).join('\n')).to.match(/RGB LED/);
    expect(() => selectBoard(map, 'nope')).to.throw(PinMapError, /no board "nope"/);
  });

  it('lets the reader transports share pins only with each other', () => {
    const b = map.boards['esp32-devkitc']!;
    const at23 = boardWires(b).filter((w) => w.gpio === 23);
    expect(at23.map((w) => w.transport).sort()).to.deep.equal(['spi', 'uart']);
  });

  it('gives DigitalBank masks for the keypad', () => {
    const b = map.boards['esp32-devkitc']!;
    expect(pinMask(b.keypad.rows)).to.deep.equal({ bank: 0, mask: (1 << 13) | (1 << 14) | (1 << 27) | (1 << 26) });
    expect(pinMask(b.keypad.cols)).to.deep.equal({ bank: 1, mask: (1 << 2) | (1 << 3) | (1 << 4) | (1 << 7) });
    expect(() => pinMask([4, 40])).to.throw(PinMapError);
  });
});

describe('hardware: generated documents match pins.json', () => {
  it('WIRING.md carries the tables generated from the pin map', () => {
    const doc = readFileSync(join(hardwareDir, 'WIRING.md'), 'utf8');
    expect(updateWiringDoc(doc, map), 'run: npx tsx hardware/generate.ts').to.equal(doc);
    for (const wire of boardWires(map.boards['esp32-devkitc']!)) {
      expect(doc).to.include(`| ${wire.gpio} | ${wire.part} | ${wire.partPin} |`);
    }
  });

  for (const [name, b] of Object.entries(map.boards)) {
    describe(`the diagram of ${name}`, () => {
      const svg = readFileSync(diagramPath(name), 'utf8');

      it('is the one generated from the pin map, and well-formed', () => {
        expect(wiringSvg(name, b), 'run: npx tsx hardware/generate.ts').to.equal(svg);
        expect(svg.startsWith('<svg ')).to.equal(true);
        expect(svg.trim().endsWith('</svg>')).to.equal(true);
        const opened = (svg.match(/<(path|rect|circle|text|title)\b/g) ?? []).length;
        const closed = (svg.match(/\/>|<\/text>|<\/title>/g) ?? []).length;
        expect(opened).to.equal(closed);
      });

      it('connects every GPIO of the default wiring to its part pin, and no two wires share a run', () => {
        const pins = new Map([...svg.matchAll(/<circle class="pin" data-pin="([^"]+)" cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => [m[1]!, [Number(m[2]), Number(m[3])] as const]));
        const nets = [...svg.matchAll(/<path class="wire" data-net="GPIO(\d+)" d="([^"]+)"/g)].map((m) => ({ gpio: Number(m[1]), segments: segments(m[2]!) }));
        const wires = boardWires(b).filter((w) => w.transport === undefined || w.transport === b.pn532.transport);
        expect(new Set(nets.map((n) => n.gpio))).to.deep.equal(new Set(wires.map((w) => w.gpio)));
        for (const w of wires) {
          const net = nets.find((n) => n.gpio === w.gpio)!;
          for (const end of [`board/GPIO${w.gpio}`, `${w.part}/${w.partPin}`]) {
            const at = pins.get(end);
            expect(at, end).to.not.equal(undefined);
            expect(net.segments.some((s) => touches(s, at!)), `GPIO${w.gpio} reaches ${end}`).to.equal(true);
          }
        }
        for (let i = 0; i < nets.length; i++) {
          for (let j = i + 1; j < nets.length; j++) {
            for (const s of nets[i]!.segments) {
              for (const t of nets[j]!.segments) {
                expect(overlap(s, t), `GPIO${nets[i]!.gpio} and GPIO${nets[j]!.gpio} share a run`).to.equal(false);
              }
            }
          }
        }
      });

      it('draws the passives: LED resistors, the buzzer transistor, base resistor and diode, pull-ups where needed, capacitors', () => {
        for (const part of ['R1 330 Ω', 'R2 330 Ω', 'R3 1 kΩ', 'Q1 NPN', 'D1 1N4148', 'BZ1', 'C1 100 nF', 'C2 100 nF', 'C3 10 µF', 'C4 10 µF']) {
          expect(svg, part).to.include(`>${part}<`);
        }
        const pullUps = (svg.match(/>R[4-7] 10 kΩ</g) ?? []).length;
        expect(pullUps).to.equal(b.keypad.colPull === 'external' ? 4 : 0);
        for (const gpio of boardWires(b).filter((w) => w.transport === undefined || w.transport === b.pn532.transport).map((w) => w.gpio)) {
          expect(svg).to.include(`>GPIO${gpio}<`);
        }
      });
    });
  }

  it('WIRING.md and the README show each board\'s diagram', () => {
    const doc = readFileSync(join(hardwareDir, 'WIRING.md'), 'utf8');
    const readme = readFileSync(join(hardwareDir, '..', 'README.md'), 'utf8');
    for (const name of Object.keys(map.boards)) {
      expect(doc).to.include(`(wiring-${name}.svg)`);
      expect(readme).to.include(`hardware/wiring-${name}.svg`);
    }
  });

  it('the BOM lists every part of the wiring', () => {
    const bom = readFileSync(join(hardwareDir, 'BOM.md'), 'utf8');
    for (const part of ['ESP32-DevKitC', 'PN532', 'SSD1306', '4x4', 'Buzzer', 'LED green', 'LED red', '10 kΩ', 'ESP32-S3']) {
      expect(bom).to.include(part);
    }
  });
});

interface Segment {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

/** The straight pieces of an SVG path made of M, H and V commands. */
function segments(d: string): Segment[] {
  const out: Segment[] = [];
  let x = 0;
  let y = 0;
  for (const [, op, a, b] of d.matchAll(/([MHV])\s*([\d.-]+)(?:[ ,]([\d.-]+))?/g)) {
    if (op === 'M') {
      x = Number(a);
      y = Number(b);
    } else if (op === 'H') {
      out.push({ x1: Math.min(x, Number(a)), y1: y, x2: Math.max(x, Number(a)), y2: y });
      x = Number(a);
    } else {
      out.push({ x1: x, y1: Math.min(y, Number(a)), x2: x, y2: Math.max(y, Number(a)) });
      y = Number(a);
    }
  }
  return out;
}

function touches(s: Segment, [x, y]: readonly [number, number]): boolean {
  return x >= s.x1 && x <= s.x2 && y >= s.y1 && y <= s.y2;
}

/** Two pieces on one line that share more than a point. */
function overlap(s: Segment, t: Segment): boolean {
  if (s.y1 === s.y2 && t.y1 === t.y2 && s.y1 === t.y1) return Math.min(s.x2, t.x2) - Math.max(s.x1, t.x1) > 0;
  if (s.x1 === s.x2 && t.x1 === t.x2 && s.x1 === t.x1) return Math.min(s.y2, t.y2) - Math.max(s.y1, t.y1) > 0;
  return false;
}

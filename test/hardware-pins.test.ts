import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DIAGRAM_BOARD, hardwareDir, loadPinMap, updateWiringDoc, wiringSvg } from '../hardware/generate';
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

  it('wiring.svg is the diagram generated from the pin map, and well-formed', () => {
    const svg = readFileSync(join(hardwareDir, 'wiring.svg'), 'utf8');
    expect(wiringSvg(DIAGRAM_BOARD, map.boards[DIAGRAM_BOARD]!), 'run: npx tsx hardware/generate.ts').to.equal(svg);
    expect(svg.startsWith('<svg ')).to.equal(true);
    expect(svg.trim().endsWith('</svg>')).to.equal(true);
    const opened = (svg.match(/<(path|rect|circle|text|title)\b/g) ?? []).length;
    const closed = (svg.match(/\/>|<\/text>|<\/title>/g) ?? []).length;
    expect(opened).to.equal(closed);
    for (const gpio of [21, 22, 13, 34, 25, 16, 17]) expect(svg).to.include(`>GPIO${gpio}<`);
  });

  it('the BOM lists every part of the wiring', () => {
    const bom = readFileSync(join(hardwareDir, 'BOM.md'), 'utf8');
    for (const part of ['ESP32-DevKitC', 'PN532', 'SSD1306', '4x4', 'Buzzer', 'LED green', 'LED red', '10 kΩ', 'ESP32-S3']) {
      expect(bom).to.include(part);
    }
  });
});

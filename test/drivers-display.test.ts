import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Framebuffer } from '../drivers/display/framebuffer';
import { Screens, wrap } from '../firmware/ui/screens';
import { SSD1306 } from '../drivers/display/ssd1306';
import { i2cOn, SimI2CBus } from '../host/sim/hw/io';
import { SimSSD1306 } from '../host/sim/hw/ssd1306';
import { pngToRows } from '../host/sim/hw/png';
import { renderScreen, SCREENS } from '../host/sim/hw/screen-gallery';
import { SCREENS_DIR } from '../host/sim/hw/screens-png';
import { XSScenario } from '../host/xs/scenario';
import { toHex } from '../firmware/base/bytes';
import { typeKeys } from './drivers-keys';

function panel() {
  const bus = new SimI2CBus();
  const sim = new SimSSD1306();
  bus.attach(0x3c, sim);
  const display = new SSD1306({ io: i2cOn(bus), data: 21, clock: 22 });
  return { bus, sim, display, fb: new Framebuffer() };
}

describe('drivers: SSD1306 display', () => {
  it('sends the init sequence the panel decodes into a lit, upright display', () => {
    const { sim, display } = panel();
    expect(sim.on).to.equal(false);
    display.init();
    expect(sim.log).to.deep.equal(['ae', 'd5 80', 'a8 3f', 'd3 00', '40', '8d 14', '20 00', 'a1', 'c8', 'da 12', '81 cf', 'd9 f1', 'db 40', 'a4', 'a6', '2e', 'af']);
    expect([sim.on, sim.chargePump, sim.segmentRemap, sim.comReversed, sim.addressing, sim.multiplex]).to.deep.equal([true, true, true, true, 0, 63]);
  });

  it('shows nothing before init, and exactly the framebuffer after a flush', () => {
    const { sim, display, fb } = panel();
    fb.text(0, 0, 'Hello, 12.50!');
    fb.line(0, 63, 127, 0);
    expect(sim.screen().every((b) => b === 0)).to.equal(true);
    display.init();
    display.flush(fb);
    expect(Buffer.from(sim.screen()).equals(Buffer.from(fb.bytes))).to.equal(true);
    expect(sim.lit(0, 63) && sim.lit(127, 0)).to.equal(true);
  });

  it('draws the 5x7 glyphs as designed', () => {
    const { sim, display, fb } = panel();
    display.init();
    fb.text(0, 0, 'A1');
    display.flush(fb);
    const rows = sim.toText().split('\n').slice(0, 7).map((r) => r.slice(0, 11));
    expect(rows).to.deep.equal([
      '.###....#..',
      '#...#..##..',
      '#...#...#..',
      '#####...#..',
      '#...#...#..',
      '#...#...#..',
      '#...#..###.',
    ]);
  });

  it('resends only the pages that changed', () => {
    const { sim, display, fb } = panel();
    display.init();
    expect(display.flush(fb)).to.equal(8);
    const before = sim.dataBytes;
    fb.set(5, 20);
    expect(display.flush(fb)).to.equal(1);
    expect(sim.dataBytes - before).to.equal(128);
    expect(sim.lit(5, 20)).to.equal(true);
    expect(display.flush(fb)).to.equal(0);
  });

  it('the panel model decodes single commands with the continuation bit and page addressing', () => {
    const sim = new SimSSD1306();
    sim.i2cWrite(Uint8Array.of(0x80, 0x81, 0x80, 0x10, 0x00, 0x8d, 0x14, 0xaf));
    expect([sim.contrast, sim.chargePump, sim.on]).to.deep.equal([0x10, true, true]);
    sim.i2cWrite(Uint8Array.of(0x00, 0x81));
    sim.i2cWrite(Uint8Array.of(0x00, 0x22));
    expect(sim.contrast).to.equal(0x22);
    // page mode: B2, column 0x15
    sim.i2cWrite(Uint8Array.of(0x00, 0xb2, 0x05, 0x11));
    sim.i2cWrite(Uint8Array.of(0x40, 0xff, 0x01));
    expect(sim.ram[2 * 128 + 0x15]).to.equal(0xff);
    expect(sim.ram[2 * 128 + 0x16]).to.equal(0x01);
    sim.i2cWrite(Uint8Array.of(0x00, 0xa7));
    expect(sim.inverted).to.equal(true);
  });

  it('each screen is distinct and the committed PNGs match what the panel shows', () => {
    const seen = new Set<string>();
    for (const screen of SCREENS) {
      const sim = renderScreen(screen.draw);
      const text = sim.toText();
      expect(text, screen.name).to.include('#');
      seen.add(text);
      const png = readFileSync(join(SCREENS_DIR, `${screen.name}.png`));
      expect(pngToRows(png).join('\n'), `docs/screens/${screen.name}.png is stale: npx tsx host/sim/hw/screens-png.ts`).to.equal(text);
    }
    expect(seen.size).to.equal(SCREENS.length);
  });

  it('puts the decline reason on screen and wraps it at word boundaries', () => {
    expect(wrap('over the wallet daily limit', 17)).to.deep.equal(['over the wallet', 'daily limit']);
    expect(wrap('abcdefghijklmnopqrstuvwxyz', 10)).to.deep.equal(['abcdefghij', 'klmnopqrst', 'uvwxyz']);
    const fb = new Framebuffer();
    new Screens({ framebuffer: fb }).declined('card removed');
    const expected = new Framebuffer();
    expected.text(28, 24, 'card removed');
    for (let x = 28; x < 100; x++) for (let y = 24; y < 31; y++) expect(fb.get(x, y)).to.equal(expected.get(x, y));
    // the banner is drawn inverted
    expect(fb.get(0, 0)).to.equal(true);
  });

  it('draws the terminal display effect lines', () => {
    const fb = new Framebuffer();
    new Screens({ framebuffer: fb }).lines(['APPROVED', '12.50', 'balance 875.50']);
    const expected = new Framebuffer();
    expected.text((128 - Framebuffer.textWidth('APPROVED', 2)) >> 1, 2, 'APPROVED', { scale: 2 });
    for (let x = 0; x < 128; x++) for (let y = 0; y < 18; y++) expect(fb.get(x, y)).to.equal(expected.get(x, y));
  });
});

describe('drivers: display and keypad on the XS engine @xs', () => {
  let xs: XSScenario;
  before(async () => (xs = await XSScenario.load('test/xs/drivers-hmi.guest.ts')));
  after(() => xs?.close());

  it('draws every screen pixel for pixel as Node does', async () => {
    const { value } = await xs.call<{ name: string; screen: string }[]>('screens');
    expect(value.map((v) => v.name)).to.deep.equal(SCREENS.map((s) => s.name));
    for (const [i, screen] of SCREENS.entries()) expect(value[i]!.screen, screen.name).to.equal(toHex(renderScreen(screen.draw).screen()));
  });

  it('types an amount on the keypad', async () => {
    const presses: [number, number, number][] = [[0, 0, 80], [0, 1, 60], [3, 1, 200], [3, 1, 60], [3, 2, 100]];
    const { value } = await xs.call<string[]>('keys', presses);
    expect(value).to.deep.equal(['1', '2', '0', '0', '#']);
    expect(value).to.deep.equal(typeKeys(presses));
  });
});

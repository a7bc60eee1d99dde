// Renders each terminal screen through the real path (Screens -> Framebuffer -> SSD1306 driver ->
// simulated I2C -> simulated SSD1306) and writes the glass as PNGs under docs/screens/:
// `npx tsx host/sim/hw/screens-png.ts`. test/drivers-display.test.ts checks they are up to date.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Framebuffer } from '../../../drivers/display/framebuffer';
import { Screens } from '../../../drivers/display/screens';
import { SSD1306 } from '../../../drivers/display/ssd1306';
import { SimI2C, SimI2CBus } from './io';
import { screenToPng } from './png';
import { SimSSD1306 } from './ssd1306';

export const SCREENS: { name: string; title: string; draw: (s: Screens) => void }[] = [
  { name: 'amount', title: 'Amount entry (merchant mode)', draw: (s) => s.amountEntry(1250) },
  { name: 'tap', title: 'Tap prompt', draw: (s) => s.tapPrompt(1250) },
  { name: 'approved', title: 'Approved, with the balance the wallet reports', draw: (s) => s.approved(1250, 87_550) },
  { name: 'declined', title: 'Declined, with the reason', draw: (s) => s.declined('over the wallet daily limit') },
  { name: 'pin', title: 'PIN entry above the verification threshold', draw: (s) => s.pinEntry(2, 2) },
  { name: 'balance', title: 'Balance', draw: (s) => s.balance(87_550) },
  { name: 'offline', title: 'Offline status with pending receipts', draw: (s) => s.offlineStatus({ online: false, pending: 37, minutesSinceSync: 200, journalPercent: 12 }) },
];

/** Draws one screen and returns the simulated panel showing it. */
export function renderScreen(draw: (s: Screens) => void): SimSSD1306 {
  const bus = new SimI2CBus();
  const panel = new SimSSD1306();
  bus.attach(0x3c, panel);
  const display = new SSD1306({ io: new SimI2C({ bus, data: 21, clock: 22, hz: 400_000, address: 0x3c }) });
  const fb = new Framebuffer();
  display.init();
  draw(new Screens({ framebuffer: fb }));
  display.flush(fb);
  return panel;
}

export const SCREENS_DIR = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..'), 'docs', 'screens');

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  mkdirSync(SCREENS_DIR, { recursive: true });
  const index = ['# Terminal screens', '', 'The SSD1306 128x64 screens as the simulated panel shows them, drawn by `drivers/display/screens.ts`', 'through the SSD1306 driver and the simulated panel (`host/sim/hw/screens-png.ts` regenerates them).', ''];
  for (const screen of SCREENS) {
    writeFileSync(join(SCREENS_DIR, `${screen.name}.png`), screenToPng(renderScreen(screen.draw)));
    index.push(`## ${screen.title}`, '', `![${screen.title}](${screen.name}.png)`, '');
  }
  writeFileSync(join(SCREENS_DIR, 'README.md'), index.join('\n'));
  console.log(`wrote ${SCREENS.length} screens`);
}

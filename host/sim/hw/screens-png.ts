// Writes each screen of host/sim/hw/screen-gallery.ts, as the simulated panel shows it, as a PNG under docs/screens/:
// `npx tsx host/sim/hw/screens-png.ts`. test/drivers-display.test.ts checks they are up to date.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { screenToPng } from './png';
import { renderScreen, SCREENS } from './screen-gallery';

export const SCREENS_DIR = join(resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..'), 'docs', 'screens');

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  mkdirSync(SCREENS_DIR, { recursive: true });
  const index = ['# Terminal screens', '', 'The SSD1306 128x64 screens as the simulated panel shows them, drawn by `firmware/ui/screens.ts`', 'through the SSD1306 driver and the simulated panel (`host/sim/hw/screens-png.ts` regenerates them).', ''];
  for (const screen of SCREENS) {
    writeFileSync(join(SCREENS_DIR, `${screen.name}.png`), screenToPng(renderScreen(screen.draw)));
    index.push(`## ${screen.title}`, '', `![${screen.title}](${screen.name}.png)`, '');
  }
  writeFileSync(join(SCREENS_DIR, 'README.md'), index.join('\n'));
  console.log(`wrote ${SCREENS.length} screens`);
}

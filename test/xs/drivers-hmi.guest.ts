// Runs inside XS: the display path (screens, framebuffer, SSD1306 driver, simulated panel) and the keypad
// driver over the simulated key matrix.
import { toHex } from '../../firmware/base/bytes';
import { renderScreen, SCREENS } from '../../host/sim/hw/screen-gallery';
import { serve } from '../../host/xs/guest';
import { typeKeys } from '../drivers-keys';

serve({
  screens: () => SCREENS.map((s) => ({ name: s.name, screen: toHex(renderScreen(s.draw).screen()) })),
  keys: (presses: [number, number, number][]) => typeKeys(presses),
});

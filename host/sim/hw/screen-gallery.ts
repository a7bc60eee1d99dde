// The terminal's screens as a gallery, each drawn through the real path (Screens -> Framebuffer ->
// SSD1306 driver -> simulated I2C -> simulated SSD1306). Platform-free: the XS tests draw them too.
import { Framebuffer } from '../../../drivers/display/framebuffer';
import { Screens } from '../../../firmware/ui/screens';
import { SSD1306 } from '../../../drivers/display/ssd1306';
import { i2cOn, SimI2CBus } from './io';
import { SimSSD1306 } from './ssd1306';

export const SCREENS: { name: string; title: string; draw: (s: Screens) => void }[] = [
  { name: 'amount', title: 'Amount entry (merchant mode)', draw: (s) => s.amountEntry(1250) },
  { name: 'tap', title: 'Tap prompt', draw: (s) => s.tapPrompt(1250) },
  { name: 'approved', title: 'Approved, with the balance the wallet reports', draw: (s) => s.approved(1250, 87_550) },
  { name: 'declined', title: 'Declined, with the reason', draw: (s) => s.declined('over the wallet daily limit') },
  { name: 'pin', title: 'PIN entry above the verification threshold', draw: (s) => s.pinEntry(2, 2) },
  { name: 'balance', title: 'Balance', draw: (s) => s.balance(87_550) },
  { name: 'offline', title: 'Offline status with pending receipts', draw: (s) => s.offlineStatus({ online: false, pending: 37, minutesSinceSync: 200, journalPercent: 12 }) },
  {
    name: 'today', title: 'Key D: today\'s totals (payments, refunds, net) and the offline status',
    draw: (s) => s.todayStatus({ day: 20718, payments: 1234, paid: 9_876_550, refunds: 12, refunded: 45_000 }, { online: false, pending: 499, minutesSinceSync: 200 }),
  },
  {
    name: 'yesterday', title: 'Key D again: the day before, for closing the day',
    draw: (s) => s.previousDay({ day: 20717, payments: 87, paid: 412_350, refunds: 3, refunded: 500_000 }, true),
  },
];

/** Draws one screen and returns the simulated panel showing it. */
export function renderScreen(draw: (s: Screens) => void): SimSSD1306 {
  const bus = new SimI2CBus();
  const panel = new SimSSD1306();
  bus.attach(0x3c, panel);
  const display = new SSD1306({ io: i2cOn(bus), data: 21, clock: 22 });
  const fb = new Framebuffer();
  display.init();
  draw(new Screens({ framebuffer: fb }));
  display.flush(fb);
  return panel;
}

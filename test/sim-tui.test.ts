// The interactive simulator's text screen: in a small terminal (50x20) every line fits and the OLED is
// one line of plain text; in a big one the OLED is drawn in braille as well.
import { expect } from 'chai';
import { Framebuffer } from '../drivers/display/framebuffer';
import { Screens } from '../firmware/ui/screens';
import { framebufferToBraille } from '../host/sim/render';
import { tuiFrame, type TuiState } from '../host/sim/tui';

describe('simulator: the interactive screen', () => {
  const fb = new Framebuffer();
  new Screens({ framebuffer: fb }).show({ kind: 'approved', amount: 2000, balanceAfter: 48_000 });
  const state: TuiState = {
    title: 'tapline simulator: merchant terminal, data in /home/someone/projects/tapline/.sim',
    framebuffer: fb.bytes,
    oled: ['APPROVED', '20.00', 'balance 480.00'],
    led: 'green',
    beep: 'approved',
    networkUp: false,
    powered: true,
    decision: 'APPROVED 2000',
    log: Array.from({ length: 20 }, (_, i) => `[info] pay: line ${i} of a log that runs on longer than fifty columns do`),
  };
  const wallets = ['alice-card', 'bob-phone', 'carol-card', 'mallory-clone'];

  it('fits 50x20 with the OLED as one plain line and the newest log lines', () => {
    const lines = tuiFrame(state, wallets, 50, 20);
    expect(lines.length).to.be.at.most(20);
    for (const l of lines) expect([...l].length, l).to.be.at.most(50);
    expect(lines).to.include('OLED: APPROVED | 20.00 | balance 480.00');
    expect(lines.some((l) => l.startsWith('LED green'))).to.equal(true);
    expect(lines.some((l) => l.includes('A bal, D status'))).to.equal(true);
    expect(lines.at(-1)).to.match(/^\[info\] pay: line 19 /);
    expect(lines.join('\n')).not.to.include(framebufferToBraille(fb.bytes)[8]!);
  });

  it('draws the OLED in braille, and still says it in text, when the terminal is big enough', () => {
    const lines = tuiFrame(state, wallets, 100, 40);
    const braille = framebufferToBraille(fb.bytes);
    expect(lines).to.include(`|${braille[8]}|`);
    expect(lines).to.include('OLED: APPROVED | 20.00 | balance 480.00');
    expect(lines.length).to.be.at.most(40);
  });
});

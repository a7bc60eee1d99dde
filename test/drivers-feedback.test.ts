import { expect } from 'chai';
import { VirtualClock } from '../firmware/base/platform';
import { Buzzer, Feedback } from '../drivers/feedback/feedback';
import { digitalBankOn } from '../host/sim/hw/io';
import { BuzzerRecorder, OutputPins } from '../host/sim/hw/feedback';

const RED = 25;
const GREEN = 26;
const BLUE = 27;

function setup(activeLow = false) {
  const clock = new VirtualClock();
  const recorder = new BuzzerRecorder({ clock });
  const pins = new OutputPins({ clock });
  const feedback = new Feedback({
    buzzer: new Buzzer({ io: recorder.pwmClass(), pin: 4 }),
    io: digitalBankOn(pins),
    pins: { red: RED, green: GREEN, blue: BLUE },
    activeLow,
    clock,
  });
  return { clock, recorder, pins, feedback };
}

describe('drivers: buzzer and LEDs', () => {
  it('approved: a short high beep and green, then back to the steady colour', async () => {
    const { recorder, pins, feedback } = setup();
    feedback.setLed('blue');
    await feedback.play('approved');
    expect(recorder.tones()).to.deep.equal([[0, 120, 2700]]);
    expect(pins.changes.map((c) => c.level)).to.deep.equal([0, 1 << BLUE, 1 << GREEN, 1 << BLUE]);
    expect(pins.changes.at(-1)!.at).to.equal(1000);
  });

  it('declined: a long low beep and red', async () => {
    const { recorder, pins, feedback } = setup();
    await feedback.play('declined');
    const [[, ms, hz]] = recorder.tones() as [[number, number, number]];
    expect(ms).to.equal(600);
    expect(hz).to.be.below(1000);
    expect(pins.changes.map((c) => c.level)).to.deep.equal([0, 1 << RED, 0]);
  });

  it('drives active-low LEDs inverted and a half-duty square wave', async () => {
    const { recorder, pins, feedback } = setup(true);
    await feedback.play('key');
    expect(recorder.events[0]!.duty).to.equal(0.5);
    expect(pins.levels(1 << RED)).to.equal(1 << RED);
    feedback.setLed('red');
    expect(pins.levels(1 << RED)).to.equal(0);
  });

  it('a newer pattern cuts the running one short', async () => {
    const { recorder, feedback } = setup();
    const first = feedback.play([{ hz: 1000, ms: 50 }, { hz: 1500, ms: 50 }]);
    const second = feedback.play('key');
    await Promise.all([first, second]);
    expect(recorder.tones().map((t) => t[2])).to.deep.equal([1000, 4000]);
  });
});

import { expect } from 'chai';
import { keypadRig } from './drivers-keys';


function setup(options: { keymap?: string[][]; debounceMs?: number } = {}) {
  const { clock, matrix, keypad } = keypadRig(options);
  /** Polls every 5 ms for `ms` and collects the events. */
  const run = (ms: number) => {
    const events: string[] = [];
    for (let t = 0; t < ms; t += 5) {
      events.push(...keypad.poll());
      clock.advance(5);
    }
    return events;
  };
  return { clock, matrix, keypad, run };
}

describe('drivers: keypad', () => {
  it('reports one event per press, however long the key is held', () => {
    const { matrix, run } = setup();
    matrix.press(0, 0);
    expect(run(500)).to.deep.equal(['1']);
    matrix.release(0, 0);
    expect(run(100)).to.deep.equal([]);
    matrix.press(3, 2);
    expect(run(100)).to.deep.equal(['#']);
  });

  it('debounces a bouncing contact into one event', () => {
    const { matrix, clock, keypad, run } = setup();
    matrix.press(1, 1, 12);
    const events: string[] = [];
    // poll every millisecond through the bounce
    for (let t = 0; t < 60; t++) {
      events.push(...keypad.poll());
      clock.advance(1);
    }
    expect(events).to.deep.equal(['5']);
    expect(run(50)).to.deep.equal([]);
  });

  it('ignores a tap shorter than the debounce time', () => {
    const { matrix, keypad, clock } = setup({ debounceMs: 20 });
    matrix.press(2, 3);
    keypad.poll();
    clock.advance(10);
    keypad.poll();
    matrix.release(2, 3);
    clock.advance(30);
    expect(keypad.poll()).to.deep.equal([]);
  });

  it('reads two held keys without a phantom third', () => {
    const { matrix, run, keypad } = setup();
    matrix.press(0, 1);
    expect(run(50)).to.deep.equal(['2']);
    matrix.press(2, 3);
    expect(run(50)).to.deep.equal(['C']);
    expect(keypad.held().sort()).to.deep.equal(['2', 'C']);
    matrix.press(0, 2);
    expect(run(50)).to.deep.equal(['3']);
  });

  it('refuses the ghost key three keys on a rectangle make', () => {
    const { matrix, run, keypad } = setup();
    matrix.press(0, 0);
    matrix.press(0, 1);
    expect(run(50).sort()).to.deep.equal(['1', '2']);
    matrix.press(1, 0);
    // (1,1) would read closed too: the reading is ambiguous, so no event at all
    expect(run(100)).to.deep.equal([]);
    expect(keypad.scan()).to.equal(undefined);
    matrix.release(0, 0);
    expect(run(50)).to.deep.equal(['4']);
    expect(keypad.held()).to.not.include('5');
  });

  it('takes a custom key map', () => {
    const keymap = [
      ['a', 'b', 'c', 'd'],
      ['e', 'f', 'g', 'h'],
      ['i', 'j', 'k', 'l'],
      ['ok', 'm', 'cancel', 'n'],
    ];
    const { matrix, run } = setup({ keymap });
    matrix.press(3, 0);
    expect(run(50)).to.deep.equal(['ok']);
    expect(() => setup({ keymap: [['x']] })).to.throw(RangeError);
  });
});

// Types on the keypad driver over the simulated key matrix. Platform-free: the XS guest runs it too.
import { VirtualClock } from '../firmware/base/platform';
import { Keypad } from '../drivers/keypad';
import { digitalBankOn } from '../host/sim/hw/io';
import { KeyMatrix } from '../host/sim/hw/keypad';

export const ROWS = [13, 12, 14, 27];
export const COLUMNS = [34, 35, 36, 39];

/** The keypad driver on the simulated matrix, rows open-drain and columns pulled up, as on the board. */
export function keypadRig(options: { keymap?: string[][]; debounceMs?: number } = {}) {
  const clock = new VirtualClock();
  const matrix = new KeyMatrix({ rowPins: ROWS, columnPins: COLUMNS, clock });
  const keypad = new Keypad({
    io: digitalBankOn(matrix),
    rows: ROWS,
    columns: COLUMNS,
    clock,
    ...options,
  });
  return { clock, matrix, keypad };
}

/** Presses [row, column, holdMs] one after the other (each with a 12 ms bounce), polling every 2 ms. */
export function typeKeys(presses: [number, number, number][]): string[] {
  const { clock, matrix, keypad } = keypadRig();
  const events: string[] = [];
  const wait = (ms: number) => {
    for (let t = 0; t < ms; t += 2) {
      events.push(...keypad.poll());
      clock.advance(2);
    }
  };
  for (const [row, column, hold] of presses) {
    matrix.press(row, column, 12);
    wait(hold);
    matrix.release(row, column);
    wait(40);
  }
  return events;
}

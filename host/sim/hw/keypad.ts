// A diode-less key matrix at the pin level: rows driven open-drain, columns pulled up. A column reads
// low when a chain of closed keys links it to a row pulled low, which is what makes ghost keys.
import type { Clock } from '../../../firmware/base/platform';
import type { PinNetwork } from './io';

export class KeyMatrix implements PinNetwork {
  private readonly rowPins: number[];
  private readonly columnPins: number[];
  private readonly clock: Clock;
  /** Row pins released (high) by the row bank; a 0 bit pulls the row low. */
  private driven = ~0;
  private readonly closed = new Map<string, number>();

  constructor(options: { rowPins: number[]; columnPins: number[]; clock: Clock }) {
    this.rowPins = options.rowPins;
    this.columnPins = options.columnPins;
    this.clock = options.clock;
  }

  /** Closes the key at (row, column); its contact bounces (open/closed each millisecond) for `bounceMs`. */
  press(row: number, column: number, bounceMs = 0): void {
    this.closed.set(`${row},${column}`, this.clock.now() + bounceMs);
  }

  release(row: number, column: number): void {
    this.closed.delete(`${row},${column}`);
  }

  drive(pins: number, value: number): void {
    this.driven = (this.driven & ~pins) | (value & pins);
  }

  levels(pins: number): number {
    const now = this.clock.now();
    const closed: [number, number][] = [];
    for (const [key, settledAt] of this.closed) {
      if (now < settledAt && Math.floor(now) % 2 === 1) continue;
      const [r, c] = key.split(',').map(Number) as [number, number];
      closed.push([r, c]);
    }
    // rows and columns as nodes, closed keys as wires: flood from the rows held low
    const lowRows = new Set<number>();
    const lowColumns = new Set<number>();
    this.rowPins.forEach((pin, r) => {
      if ((this.driven & (1 << pin)) === 0) lowRows.add(r);
    });
    for (let grew = true; grew; ) {
      grew = false;
      for (const [r, c] of closed) {
        if (lowRows.has(r) && !lowColumns.has(c)) (lowColumns.add(c), (grew = true));
        if (lowColumns.has(c) && !lowRows.has(r)) (lowRows.add(r), (grew = true));
      }
    }
    let out = ~0;
    this.columnPins.forEach((pin, c) => {
      if (lowColumns.has(c)) out &= ~(1 << pin);
    });
    return out & pins;
  }
}

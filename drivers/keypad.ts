// A 4x4 (or any R x C) matrix keypad without diodes: rows are open-drain outputs, columns inputs with
// pull-ups. One row at a time is pulled low; a low column means a key closes that crossing.
import type { Clock } from '../firmware/base/platform';
import type { DigitalBank } from './io';

export const DEFAULT_KEYMAP = [
  ['1', '2', '3', 'A'],
  ['4', '5', '6', 'B'],
  ['7', '8', '9', 'C'],
  ['*', '0', '#', 'D'],
];

export interface KeypadOptions {
  /** Output bank (open drain) holding the row pins. */
  rows: DigitalBank;
  /** Input bank (pull-ups) holding the column pins. */
  columns: DigitalBank;
  /** GPIO numbers of the rows, top to bottom, and of the columns, left to right. */
  rowPins: number[];
  columnPins: number[];
  clock: Clock;
  keymap?: string[][];
  /** A key must read the same for this long before it counts (contacts bounce for a few ms). */
  debounceMs?: number;
}

export class Keypad {
  private readonly rows: DigitalBank;
  private readonly columns: DigitalBank;
  private readonly rowPins: number[];
  private readonly columnPins: number[];
  private readonly allRows: number;
  private readonly clock: Clock;
  private readonly keymap: string[][];
  private readonly debounceMs: number;
  /** Debounced state, one bit per key (row * columns + column). */
  private stable = 0;
  private candidate = 0;
  private candidateSince = 0;

  constructor(options: KeypadOptions) {
    this.rows = options.rows;
    this.columns = options.columns;
    this.rowPins = options.rowPins;
    this.columnPins = options.columnPins;
    this.clock = options.clock;
    this.keymap = options.keymap ?? DEFAULT_KEYMAP;
    this.debounceMs = options.debounceMs ?? 20;
    if (this.rowPins.length * this.columnPins.length > 31) throw new RangeError('at most 31 keys');
    if (this.keymap.length !== this.rowPins.length || this.keymap.some((r) => r.length !== this.columnPins.length))
      throw new RangeError(`keymap must be ${this.rowPins.length} rows of ${this.columnPins.length} keys`);
    this.allRows = this.rowPins.reduce((m, p) => m | (1 << p), 0);
    this.rows.write(this.allRows);
  }

  /** The keys closed right now, one bit per key; undefined when the reading is ambiguous (ghosting). */
  scan(): number | undefined {
    let keys = 0;
    const rowHits: number[] = [];
    for (let r = 0; r < this.rowPins.length; r++) {
      this.rows.write(this.allRows & ~(1 << this.rowPins[r]!));
      const levels = this.columns.read();
      let hits = 0;
      for (let c = 0; c < this.columnPins.length; c++) {
        if ((levels & (1 << this.columnPins[c]!)) === 0) {
          hits |= 1 << c;
          keys |= 1 << (r * this.columnPins.length + c);
        }
      }
      rowHits.push(hits);
    }
    this.rows.write(this.allRows);
    // Without diodes, three closed keys on the corners of a rectangle make the fourth look closed:
    // two rows sharing two columns cannot be told apart from that, so the reading is not trusted.
    for (let a = 0; a < rowHits.length; a++)
      for (let b = a + 1; b < rowHits.length; b++) if (bitCount(rowHits[a]! & rowHits[b]!) >= 2) return undefined;
    return keys;
  }

  /** Scans once and returns the keys that became pressed (debounced), in scan order. */
  poll(): string[] {
    const now = this.clock.now();
    const raw = this.scan();
    if (raw === undefined) {
      // keep what is known; a new press is only reported once the reading is clear again
      this.candidate = this.stable;
      this.candidateSince = now;
      return [];
    }
    if (raw !== this.candidate) {
      this.candidate = raw;
      this.candidateSince = now;
    }
    if (this.candidate === this.stable || now - this.candidateSince < this.debounceMs) return [];
    const pressed = this.candidate & ~this.stable;
    this.stable = this.candidate;
    const out: string[] = [];
    for (let i = 0; pressed >> i; i++) if ((pressed >> i) & 1) out.push(this.keymap[Math.floor(i / this.columnPins.length)]![i % this.columnPins.length]!);
    return out;
  }

  /** The keys held down, debounced. */
  held(): string[] {
    const out: string[] = [];
    for (let i = 0; this.stable >> i; i++) if ((this.stable >> i) & 1) out.push(this.keymap[Math.floor(i / this.columnPins.length)]![i % this.columnPins.length]!);
    return out;
  }

  close(): void {
    this.rows.close();
    this.columns.close();
  }
}

function bitCount(n: number): number {
  let count = 0;
  for (; n; n &= n - 1) count++;
  return count;
}

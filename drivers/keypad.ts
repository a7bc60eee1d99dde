// A 4x4 (or any R x C) matrix keypad without diodes: rows are open-drain outputs, columns inputs with
// pull-ups. One row at a time is pulled low; a low column means a key closes that crossing.
import type { Clock } from '../firmware/base/platform';
import { bankMask, checkRange, closed, PinMode, type DigitalBank, type DigitalBankOptions, type IOClass } from './io';

export const DEFAULT_KEYMAP = [
  ['1', '2', '3', 'A'],
  ['4', '5', '6', 'B'],
  ['7', '8', '9', 'C'],
  ['*', '0', '#', 'D'],
];

export interface KeypadOptions {
  /** The ECMA-419 DigitalBank class (`device.io.DigitalBank`); the driver opens a bank for the rows and one for the columns. */
  io: IOClass<DigitalBankOptions, DigitalBank>;
  /** GPIO numbers of the rows, top to bottom (one bank, driven open drain), and of the columns, left to right (one bank). */
  rows: number[];
  columns: number[];
  /** Columns pulled up by the chip (the default), or by resistors on the board (input-only GPIOs have no pull-up). */
  pull?: 'internal' | 'external';
  clock: Clock;
  keymap?: string[][];
  /** A key must read the same for this long before it counts (contacts bounce for a few ms). */
  debounceMs?: number;
}

export class Keypad {
  #rows: DigitalBank | undefined;
  #columns: DigitalBank | undefined;
  readonly #rowPins: number[];
  readonly #columnPins: number[];
  readonly #allRows: number;
  readonly #clock: Clock;
  readonly #keymap: string[][];
  readonly #debounceMs: number;
  /** Debounced state, one bit per key (row * columns + column). */
  #stable = 0;
  #candidate = 0;
  #candidateSince = 0;

  constructor(options: KeypadOptions) {
    this.#rowPins = options.rows;
    this.#columnPins = options.columns;
    this.#clock = options.clock;
    this.#keymap = options.keymap ?? DEFAULT_KEYMAP;
    this.#debounceMs = checkRange('keypad debounceMs', options.debounceMs ?? 20, 0, 1000);
    if (this.#rowPins.length * this.#columnPins.length > 31) throw new RangeError('at most 31 keys');
    if (this.#keymap.length !== this.#rowPins.length || this.#keymap.some((r) => r.length !== this.#columnPins.length))
      throw new RangeError(`keymap must be ${this.#rowPins.length} rows of ${this.#columnPins.length} keys`);
    const rows = bankMask(this.#rowPins);
    const columns = bankMask(this.#columnPins);
    this.#allRows = this.#rowPins.reduce((m, p) => m | (1 << p), 0);
    this.#rows = new options.io({ pins: rows.mask, bank: rows.bank, mode: PinMode.OutputOpenDrain });
    try {
      this.#columns = new options.io({ pins: columns.mask, bank: columns.bank, mode: options.pull === 'external' ? PinMode.Input : PinMode.InputPullUp });
      this.#rows.write(this.#allRows);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** The keys closed right now, one bit per key; undefined when the reading is ambiguous (ghosting). */
  scan(): number | undefined {
    const rows = this.#rows ?? closed('keypad');
    const columns = this.#columns ?? closed('keypad');
    let keys = 0;
    const rowHits: number[] = [];
    for (let r = 0; r < this.#rowPins.length; r++) {
      rows.write(this.#allRows & ~(1 << this.#rowPins[r]!));
      const levels = columns.read();
      let hits = 0;
      for (let c = 0; c < this.#columnPins.length; c++) {
        if ((levels & (1 << this.#columnPins[c]!)) === 0) {
          hits |= 1 << c;
          keys |= 1 << (r * this.#columnPins.length + c);
        }
      }
      rowHits.push(hits);
    }
    rows.write(this.#allRows);
    // Without diodes, three closed keys on the corners of a rectangle make the fourth look closed:
    // two rows sharing two columns cannot be told apart from that, so the reading is not trusted.
    for (let a = 0; a < rowHits.length; a++)
      for (let b = a + 1; b < rowHits.length; b++) if (bitCount(rowHits[a]! & rowHits[b]!) >= 2) return undefined;
    return keys;
  }

  /** Scans once and returns the keys that became pressed (debounced), in scan order. */
  poll(): string[] {
    const now = this.#clock.now();
    const raw = this.scan();
    if (raw === undefined) {
      // keep what is known; a new press is only reported once the reading is clear again
      this.#candidate = this.#stable;
      this.#candidateSince = now;
      return [];
    }
    if (raw !== this.#candidate) {
      this.#candidate = raw;
      this.#candidateSince = now;
    }
    if (this.#candidate === this.#stable || now - this.#candidateSince < this.#debounceMs) return [];
    const pressed = this.#candidate & ~this.#stable;
    this.#stable = this.#candidate;
    const out: string[] = [];
    for (let i = 0; pressed >> i; i++) if ((pressed >> i) & 1) out.push(this.#keymap[Math.floor(i / this.#columnPins.length)]![i % this.#columnPins.length]!);
    return out;
  }

  /** The keys held down, debounced. */
  held(): string[] {
    const out: string[] = [];
    for (let i = 0; this.#stable >> i; i++) if ((this.#stable >> i) & 1) out.push(this.#keymap[Math.floor(i / this.#columnPins.length)]![i % this.#columnPins.length]!);
    return out;
  }

  /** Closes both banks; a second call does nothing. */
  close(): void {
    this.#rows?.close();
    this.#columns?.close();
    this.#rows = undefined;
    this.#columns = undefined;
  }
}

function bitCount(n: number): number {
  let count = 0;
  for (; n; n &= n - 1) count++;
  return count;
}

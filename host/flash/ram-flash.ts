// A NOR flash in RAM for tests and benchmarks: erase to 0xFF, writes only clear bits, and power can be
// cut inside any write or erase. Platform-free so it runs on XS as well as Node.
import { TaplineError } from '../../firmware/base/errors';
import type { Flash, FlashStatus } from '../../firmware/core/journal/flash';

export class PowerLossError extends TaplineError {
  override readonly name: string = 'PowerLossError';
  constructor(message = 'power lost') {
    super(message);
  }
}

export class FlashRangeError extends TaplineError {
  override readonly name: string = 'FlashRangeError';
}

export interface RamFlashOptions {
  blocks: number;
  blockLength?: number;
  /** Seeded randomness in [0, 1) for partial effects of an interrupted operation. */
  random?: () => number;
}

/** Counters a benchmark reads: what the flash actually did. */
export interface FlashCounters {
  writes: number;
  bytesProgrammed: number;
  erases: number;
  bytesErased: number;
  reads: number;
  bytesRead: number;
}

export class RamFlash implements Flash {
  readonly data: Uint8Array;
  readonly blockLength: number;
  readonly blocks: number;
  readonly counters: FlashCounters = { writes: 0, bytesProgrammed: 0, erases: 0, bytesErased: 0, reads: 0, bytesRead: 0 };
  readonly eraseCounts: number[];
  readonly #random: () => number;
  /** Mutating operations (writes and block erases) started since power-up, and the one power dies in. */
  #steps = 0;
  #cutAt = -1;
  #dead = false;
  /** Worn NOR: blocks whose erase leaves bits at 0, bytes with bits that no longer clear, bits that flip on read. */
  readonly #wornErase = new Set<number>();
  readonly #stuck = new Map<number, number>();
  readonly #flips: Array<{ offset: number; bit: number; reads: number }> = [];

  constructor(options: RamFlashOptions) {
    this.blockLength = options.blockLength ?? 4096;
    this.blocks = options.blocks;
    this.data = new Uint8Array(this.blocks * this.blockLength).fill(0xff);
    this.eraseCounts = new Array<number>(this.blocks).fill(0);
    this.#random = options.random ?? Math.random;
  }

  /** Power dies during the `step`-th mutating operation from now (0 = the next one). */
  cutPowerAt(step: number): void {
    this.#cutAt = this.#steps + step;
  }

  /** Power dies now, between operations (e.g. while the terminal waits for the wallet's answer). */
  cutPowerNow(): void {
    this.#dead = true;
  }

  /** Power returns: the flash keeps its bits, the cut plan is cleared. */
  powerOn(): void {
    this.#dead = false;
    this.#cutAt = -1;
  }

  /** The block wears out: an erase leaves some of its bits at 0 (it no longer reads back blank). */
  wearErase(block: number): void {
    this.#wornErase.add(block);
  }

  /** The byte at `byteOffset` wears out: the bits of `mask` stay at 1 whatever is programmed. */
  wearProgram(byteOffset: number, mask = 0x01): void {
    this.#stuck.set(byteOffset, (this.#stuck.get(byteOffset) ?? 0) | mask);
  }

  /** A weak cell: the next `reads` reads that cover `byteOffset` return `bit` flipped (read disturb). */
  flipOnRead(byteOffset: number, bit = 0, reads = 1): void {
    this.#flips.push({ offset: byteOffset, bit, reads });
  }

  get steps(): number {
    return this.#steps;
  }

  get dead(): boolean {
    return this.#dead;
  }

  status(): FlashStatus {
    return { size: this.data.length, blockLength: this.blockLength, blocks: this.blocks };
  }

  read(byteLength: number, byteOffset: number): ArrayBuffer {
    this.#alive();
    this.#range(byteOffset, byteLength);
    this.counters.reads++;
    this.counters.bytesRead += byteLength;
    const out = this.data.slice(byteOffset, byteOffset + byteLength);
    for (const f of this.#flips) {
      if (f.reads <= 0 || f.offset < byteOffset || f.offset >= byteOffset + byteLength) continue;
      out[f.offset - byteOffset]! ^= 1 << f.bit;
      f.reads--;
    }
    return out.buffer;
  }

  write(buffer: ArrayBuffer | ArrayBufferView, byteOffset: number): void {
    this.#alive();
    const bytes = ArrayBuffer.isView(buffer) ? new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength) : new Uint8Array(buffer);
    this.#range(byteOffset, bytes.length);
    this.counters.writes++;
    this.counters.bytesProgrammed += bytes.length;
    if (this.#step()) {
      // A partial program: some of the bits the write would clear are cleared, the rest stay set.
      const keep = this.#random();
      for (let i = 0; i < bytes.length; i++) {
        let clear = ~bytes[i]! & 0xff;
        for (let bit = 1; bit < 0x100; bit <<= 1) if (clear & bit && this.#random() < keep) clear &= ~bit;
        this.data[byteOffset + i]! &= ~clear & 0xff;
      }
      this.#die();
    }
    // Bits stuck at 1 (worn cells) only where a test wore some: a lookup per byte would be most of a
    // write's computrons, charged to the journal's append figures.
    const data = this.data;
    if (this.#stuck.size === 0) for (let i = 0; i < bytes.length; i++) data[byteOffset + i]! &= bytes[i]!;
    else for (let i = 0; i < bytes.length; i++) data[byteOffset + i]! &= bytes[i]! | (this.#stuck.get(byteOffset + i) ?? 0);
  }

  eraseBlock(start: number, end = start + 1): void {
    this.#alive();
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > this.blocks || end <= start) {
      throw new FlashRangeError(`cannot erase blocks ${start}..${end} of ${this.blocks}`);
    }
    for (let block = start; block < end; block++) {
      const base = block * this.blockLength;
      this.counters.erases++;
      this.counters.bytesErased += this.blockLength;
      this.eraseCounts[block]!++;
      if (this.#step()) {
        // An interrupted erase: some bits already set back to 1, others not yet.
        const done = this.#random();
        for (let i = 0; i < this.blockLength; i++) {
          let set = ~this.data[base + i]! & 0xff;
          for (let bit = 1; bit < 0x100; bit <<= 1) if (set & bit && this.#random() >= done) set &= ~bit;
          this.data[base + i]! |= set;
        }
        this.#die();
      }
      this.data.fill(0xff, base, base + this.blockLength);
      if (this.#wornErase.has(block)) for (let i = 0; i < this.blockLength; i += 509) this.data[base + i] = 0xef;
    }
  }

  #step(): boolean {
    return this.#steps++ === this.#cutAt;
  }

  #die(): never {
    this.#dead = true;
    throw new PowerLossError();
  }

  #alive(): void {
    if (this.#dead) throw new PowerLossError('flash used after power loss');
  }

  #range(offset: number, length: number): void {
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > this.data.length) {
      throw new FlashRangeError(`range ${offset}+${length} outside ${this.data.length} bytes`);
    }
  }
}

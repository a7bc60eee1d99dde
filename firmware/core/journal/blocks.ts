// The ring's per-block state, packed: a few typed arrays indexed by block number and the ring's order
// as a circular list of block numbers. A full 1 MiB partition (256 blocks) then costs ~5.9 KB of
// chunks and a handful of slots, the same as an empty one; an object per block cost ~20 slots each,
// more than the DevKitC's 6,144 slots hold (docs/JOURNAL.md, RAM).
// The chain values are not kept: a block's anchor is in its header, read with the block whenever it
// is walked, and the journal keeps the head's end chain itself.

/** Its records were walked and their chain checked (boot leaves older blocks for later). */
export const VERIFIED = 1;
/** Retired: nothing more is written to it; its records stay until acknowledged. */
export const WORN = 2;
/** In the ring (between the oldest kept block and the head). */
export const IN_RING = 4;
/** open() found a valid header on it (only meaningful during open). */
export const HEADER = 8;

export class BlockTable {
  readonly blocks: number;
  readonly epoch: Uint32Array;
  /** Sequence number of the block's first record (its header's). */
  readonly firstSeq: Uint32Array;
  /** Sequence number of its last record (firstSeq - 1 when empty). */
  readonly lastSeq: Uint32Array;
  /** Highest sequence number in the block that needs acknowledgement (0: none). */
  readonly needsAck: Uint32Array;
  /** Offset of free space in the block. */
  readonly end: Uint32Array;
  readonly flags: Uint8Array;
  /** The ring, oldest first: block numbers from `#first`, `#length` of them, wrapping. */
  readonly #order: Uint16Array;
  #first = 0;
  #length = 0;

  constructor(blocks: number) {
    if (blocks > 0xffff) throw new RangeError(`${blocks} blocks: at most 65535`);
    this.blocks = blocks;
    this.epoch = new Uint32Array(blocks);
    this.firstSeq = new Uint32Array(blocks);
    this.lastSeq = new Uint32Array(blocks);
    this.needsAck = new Uint32Array(blocks);
    this.end = new Uint32Array(blocks);
    this.flags = new Uint8Array(blocks);
    this.#order = new Uint16Array(blocks);
  }

  /** Blocks in the ring. */
  get length(): number {
    return this.#length;
  }

  /** The `i`-th oldest block of the ring (0 <= i < length). */
  at(i: number): number {
    let p = this.#first + i;
    if (p >= this.blocks) p -= this.blocks;
    return this.#order[p]!;
  }

  /** The newest block (-1: the ring is empty). */
  get head(): number {
    return this.#length === 0 ? -1 : this.at(this.#length - 1);
  }

  has(block: number, flag: number): boolean {
    return (this.flags[block]! & flag) !== 0;
  }

  set(block: number, flag: number): void {
    this.flags[block]! |= flag;
  }

  /** A block joins the ring as its newest. */
  push(block: number): void {
    let p = this.#first + this.#length;
    if (p >= this.blocks) p -= this.blocks;
    this.#order[p] = block;
    this.#length++;
    this.flags[block]! |= IN_RING;
  }

  /** A block joins the ring as its oldest (open() builds the ring from the head back). */
  unshift(block: number): void {
    this.#first = this.#first === 0 ? this.blocks - 1 : this.#first - 1;
    this.#order[this.#first] = block;
    this.#length++;
    this.flags[block]! |= IN_RING;
  }

  /** The `n` oldest blocks leave the ring. */
  dropOldest(n: number): void {
    for (let i = 0; i < n; i++) this.flags[this.at(i)]! &= ~(IN_RING | VERIFIED | WORN);
    this.#first = (this.#first + n) % this.blocks;
    this.#length -= n;
  }

  /** An empty ring, every block's state cleared. */
  clear(): void {
    this.flags.fill(0);
    this.#first = 0;
    this.#length = 0;
  }

  /** Block `block` opened empty: first record `nextSeq`, records from `recordsStart`. */
  reset(block: number, epoch: number, nextSeq: number, recordsStart: number): void {
    this.epoch[block] = epoch;
    this.firstSeq[block] = nextSeq;
    this.lastSeq[block] = nextSeq - 1;
    this.needsAck[block] = 0;
    this.end[block] = recordsStart;
    this.flags[block] = 0;
  }
}

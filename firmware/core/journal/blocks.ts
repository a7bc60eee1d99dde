// The ring's per-block state, packed: a few typed arrays indexed by block number and the ring's order
// as a list of block numbers. A full 1 MiB partition (256 blocks) then costs ~5.4 KB of chunks and a
// handful of slots (an empty one next to nothing); an object per block cost ~20 slots each,
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
  /** Block numbers below it have room in the arrays: they grow to the highest block in use, so an empty journal costs next to nothing. */
  capacity = 0;
  epoch = new Uint32Array(0);
  /** Sequence number of the block's first record (its header's). */
  firstSeq = new Uint32Array(0);
  /** Sequence number of its last record (firstSeq - 1 when empty). */
  lastSeq = new Uint32Array(0);
  /** Highest sequence number in the block that needs acknowledgement (0: none). */
  needsAck = new Uint32Array(0);
  /** Offset of free space in the block (the journal takes blocks of at most 32 KiB). */
  end = new Uint16Array(0);
  flags = new Uint8Array(0);
  /**
   * The ring, oldest first: `order[0..length)` are block numbers. Hot loops read these arrays
   * directly (a call per block costs more computrons than the loop's own work); they are replaced
   * when they grow (`ensure`), so a loop takes them after any call that may grow them.
   */
  order = new Uint16Array(0);
  length = 0;

  constructor(blocks: number) {
    if (blocks > 0xffff) throw new RangeError(`${blocks} blocks: at most 65535`);
    this.blocks = blocks;
  }

  /** Room for block numbers below `count` (doubling, up to the partition's blocks). */
  ensure(count: number): void {
    if (count <= this.capacity) return;
    const c = Math.min(this.blocks, Math.max(count, this.capacity * 2, 16));
    const grow = <T extends Uint8Array | Uint16Array | Uint32Array>(old: T, make: (n: number) => T): T => {
      const a = make(c);
      a.set(old);
      return a;
    };
    this.epoch = grow(this.epoch, (n) => new Uint32Array(n));
    this.firstSeq = grow(this.firstSeq, (n) => new Uint32Array(n));
    this.lastSeq = grow(this.lastSeq, (n) => new Uint32Array(n));
    this.needsAck = grow(this.needsAck, (n) => new Uint32Array(n));
    this.end = grow(this.end, (n) => new Uint16Array(n));
    this.flags = grow(this.flags, (n) => new Uint8Array(n));
    this.order = grow(this.order, (n) => new Uint16Array(n));
    this.capacity = c;
  }

  /** The `i`-th oldest block of the ring (0 <= i < length). */
  at(i: number): number {
    return this.order[i]!;
  }

  /** The newest block (-1: the ring is empty). */
  get head(): number {
    return this.length === 0 ? -1 : this.order[this.length - 1]!;
  }

  has(block: number, flag: number): boolean {
    return (this.flags[block]! & flag) !== 0;
  }

  set(block: number, flag: number): void {
    this.flags[block]! |= flag;
  }

  /** A block joins the ring as its newest. */
  push(block: number): void {
    this.order[this.length++] = block;
    this.flags[block]! |= IN_RING;
  }

  /** The ring is the first `count` entries of `order`, newest first (open() finds it from the head back). */
  adoptReversed(count: number): void {
    this.order.subarray(0, count).reverse();
    this.length = count;
  }

  /** The `n` oldest blocks leave the ring. */
  dropOldest(n: number): void {
    for (let i = 0; i < n; i++) this.flags[this.order[i]!]! &= ~(IN_RING | VERIFIED | WORN);
    this.order.copyWithin(0, n, this.length);
    this.length -= n;
  }

  /** An empty ring, every block's state cleared. */
  clear(): void {
    this.flags.fill(0);
    this.length = 0;
  }

  /** Position in the ring of the oldest block whose last sequence is above `seq` (length if none): lastSeq rises along the ring. */
  firstAfter(seq: number): number {
    let low = 0;
    let high = this.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (this.lastSeq[this.order[mid]!]! > seq) high = mid;
      else low = mid + 1;
    }
    return low;
  }

  /** Block `block` opened empty: first record `nextSeq`, records from `recordsStart`. */
  reset(block: number, epoch: number, nextSeq: number, recordsStart: number): void {
    this.ensure(block + 1);
    this.epoch[block] = epoch;
    this.firstSeq[block] = nextSeq;
    this.lastSeq[block] = nextSeq - 1;
    this.needsAck[block] = 0;
    this.end[block] = recordsStart;
    this.flags[block] = 0;
  }
}

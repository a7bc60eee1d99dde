// The receipt journal: an append-only log in a raw flash partition (docs/JOURNAL.md).
// - A ring of erase blocks, each opened with a header (epoch, first sequence, chain anchor, erase count).
// - Records: marker, type, length, sequence, a 16-byte hash chain link, payload, CRC-32 over all of it.
//   A record counts only if its CRC holds, its sequence follows and its link chains: a torn write fails
//   these and is dropped at boot. An append returns only after its record is written and read back.
// - A block leaves the ring only when every record in it that needs the service's acknowledgement is
//   acknowledged; records of "keyed" types (latest one wins: acknowledgement, checkpoints, stored
//   updates) are first copied forward. A RECLAIM record names the newest epoch dropped, so a block
//   whose erase was cut short can never come back.
import { AssertionError, TaplineError } from '../../base/errors';
import { assert, present } from '../../base/assert';
import { sha256 } from '@noble/hashes/sha2.js';
import { equalBytes, readU32, writeU32 } from '../../base/bytes';
import { type Log, silentLog } from '../../base/platform';
import { type DurableLog, JournalFullError } from '../../base/ports';
import { Crc32 } from './crc32';
import { type Flash, readBytes } from './flash';
import { BlockTable, HEADER, IN_RING, VERIFIED, WORN } from './blocks';

export const BLOCK_HEADER_BYTES = 36;
export const RECORD_OVERHEAD = 28;
export const CHAIN_BYTES = 16;
const BLOCK_MAGIC = 0x54504a31; // "TPJ1"
const RECORD_MARK = 0xa5;

/** Internal record types: the service's acknowledgement (u32 sequence) and the reclaim point (u32 epoch). */
export const RECORD_ACK = 0xf0;
export const RECORD_RECLAIM = 0xf1;
/** Internal, keyed: the blocks retired as worn (u16 each), never opened again (docs/JOURNAL.md, J14). */
export const RECORD_RETIRED = 0x2f;
/** Most blocks the journal retires; past that the flash is worn out and appends fail with FlashError. */
export const MAX_RETIRED = 16;
/**
 * After each block header, written with it: acknowledged-up-to, the reclaimed epoch and where the
 * newest record of each keyed type was when the block opened (+ CRC-32), so that a boot reads the head
 * block, not the partition. It takes no sequence number.
 */
export const INDEX_BYTES = 192;
const INDEX_ENTRY = 11;
const MAX_INDEX_ENTRIES = 16;
/** Where a block's records start. */
export const RECORDS_START = BLOCK_HEADER_BYTES + INDEX_BYTES;

/**
 * The flash misbehaved (an operating error): a block that will not erase or program, a record that no
 * longer reads back. The caller declines the payment or retries later; nothing in the journal is wrong.
 */
export class FlashError extends TaplineError {
  override readonly name: string = 'FlashError';
}

/**
 * The journal was used against its contract, or one of its invariants broke (a programmer error): never
 * a decline. It goes up to the main loop, which logs it and restarts (firmware/base/errors.ts).
 */
export class JournalBug extends AssertionError {
  override readonly name: string = 'JournalBug';
}

function fail(message: string): never {
  throw new JournalBug(message);
}

// The layout constants agree with each other (checked once, at module load).
assert(RECORD_OVERHEAD === 1 + 1 + 2 + 4 + CHAIN_BYTES + 4, 'record overhead is marker, type, length, sequence, link and CRC');
assert(BLOCK_HEADER_BYTES === 4 * 4 + CHAIN_BYTES + 4, 'block header is magic, epoch, first sequence, erase count, anchor and CRC');
assert(INDEX_BYTES >= 9 + MAX_INDEX_ENTRIES * INDEX_ENTRY + 4, 'the index area holds every keyed entry and its CRC');
assert(RECORDS_START % 4 === 0, 'records start 4-aligned');

export interface JournalOptions {
  flash: Flash;
  log?: Log;
  /** Record types that must be acknowledged by the service before their block is reclaimed (default: [1], receipts). */
  acknowledgedTypes?: number[];
  /** Record types of which only the latest counts; copied forward when their block is reclaimed. */
  keyedTypes?: number[];
  /**
   * Keyed types whose value may be larger than one record (a long deny list, a big checkpoint): written
   * as parts over several records, it counts once its last part is durable (docs/JOURNAL.md, J13).
   */
  spanningTypes?: number[];
  /** Blocks kept free for acknowledgements, reclaim bookkeeping and carried records (default 4). */
  reserveBlocks?: number;
  /**
   * Before blocks are reclaimed, `snapshot()` gives a fresh checkpoint to append as a record of `type`
   * (a keyed type), so that a boot can rebuild state from it plus the records after it; `written(seq)`
   * is told once one is durable. With `delta`, a periodic or explicit checkpoint is, while the newest
   * full one spans several records, one record of `delta.type` instead: `delta.snapshot(base)` says the
   * state as a change of the full checkpoint at sequence `base` (undefined: write a full one). A delta
   * counts only after its full checkpoint; a full one makes the delta before it stale.
   */
  checkpoint?: {
    type: number;
    snapshot: () => Uint8Array;
    written?: (seq: number) => void;
    delta?: { type: number; snapshot: (base: number) => Uint8Array | undefined };
  };
  /** Check the hash chain of the records boot reads (default true); older blocks are checked when first read. */
  verifyChainAtBoot?: boolean;
  /** Records between periodic checkpoints (default 32): what a boot replays at most. */
  checkpointEvery?: number;
  /** SHA-256 over the concatenation of `parts` (default: noble's; the device may pass a native one). */
  sha256?: (parts: Uint8Array[]) => Uint8Array;
  /** CRC-32 (IEEE) of bytes[start..end) (default: the table-driven one of crc32.ts). */
  crc32?: (bytes: Uint8Array, start: number, end: number) => number;
  /** parseBlockHeader's contract (default: it, over `crc32`; the device passes a native one). */
  blockHeader?: (bytes: Uint8Array | ArrayBuffer, out: Uint32Array) => boolean;
}

/**
 * Whether `bytes` (a flash read as it comes, or a view of one) start with a valid block header (magic,
 * CRC-32 of its first 32 bytes, non-zero epoch and first sequence); if so its epoch and first sequence
 * go to out[0] and out[1]. The reference the native blockHeader (native/tapline_native.c) is checked
 * against.
 */
export function parseBlockHeader(bytes: Uint8Array | ArrayBuffer, out: Uint32Array, crc32: (bytes: Uint8Array, start: number, end: number) => number): boolean {
  const h = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (h.length < BLOCK_HEADER_BYTES || readU32(h, 0) !== BLOCK_MAGIC || readU32(h, 32) !== crc32(h, 0, 32)) return false;
  const epoch = readU32(h, 4);
  const firstSeq = readU32(h, 8);
  if (epoch === 0 || firstSeq === 0) return false;
  out[0] = epoch;
  out[1] = firstSeq;
  return true;
}

/** SHA-256 of the concatenation, by noble (the reference the native one is checked against). */
export function nobleSha256(parts: Uint8Array[]): Uint8Array {
  const h = sha256.create();
  for (const p of parts) h.update(p);
  return h.digest();
}

export interface JournalRecord {
  seq: number;
  type: number;
  payload: Uint8Array;
}

export interface RecoveryReport {
  /** Blocks in the ring after recovery, and records in them. */
  blocks: number;
  records: number;
  lastSeq: number;
  ackedUpTo: number;
  /** The head block ended in a torn or unverifiable write (dropped; appends continue in a new block). */
  tornTail: boolean;
  /** Blocks that were reclaimed but still carried a valid header (e.g. an erase cut short), ignored. */
  staleBlocks: number;
  /**
   * Where sequence or chain did not continue: should never happen; logged as tampering. Blocks boot did
   * not read are checked when first read (replay, upload), and what they show is added to this list.
   */
  breaks: string[];
}

interface Located {
  /** The record (for a spanning value: its last part). */
  seq: number;
  /** Its block's number. */
  block: number;
  offset: number;
  size: number;
  /** A spanning value: the sequence it was started at (every part is at or after it), its parts, their bytes on flash. */
  span?: { valueId: number; parts: number; bytes: number };
}

interface Parsed {
  type: number;
  seq: number;
  chain: Uint8Array;
  payload: Uint8Array;
  size: number;
}

type Room = 'user' | 'internal' | 'reclaim';

/** Header of each part of a spanning value: value id (u32), part index (u16), part count (u16). */
export const PART_HEADER_BYTES = 8;

function partHeader(p: Uint8Array): { valueId: number; index: number; count: number } | undefined {
  if (p.length < PART_HEADER_BYTES) return undefined;
  const count = (p[6]! << 8) | p[7]!;
  const index = (p[4]! << 8) | p[5]!;
  return count > 0 && index < count ? { valueId: readU32(p, 0), index, count } : undefined;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

const defaultCrc = new Crc32();
function tableCrc(bytes: Uint8Array, start: number, end: number): number {
  return defaultCrc.compute(bytes, start, end);
}

export class Journal implements DurableLog {
  readonly #flash: Flash;
  readonly #log: Log;
  readonly #crc: { compute: (bytes: Uint8Array, start: number, end: number) => number };
  readonly #sha256: (parts: Uint8Array[]) => Uint8Array;
  readonly #blockHeader: (bytes: Uint8Array | ArrayBuffer, out: Uint32Array) => boolean;
  readonly #checkpointEvery: number;
  #lastCheckpointSeq = 0;
  readonly #ackTypes: Set<number>;
  readonly #keyedTypes: Set<number>;
  readonly #spanning: Set<number>;
  readonly #reserve: number;
  readonly #checkpoint: JournalOptions['checkpoint'];
  readonly #verifyChain: boolean;
  readonly #blocks: number;
  readonly #blockLength: number;
  /** Every block's state and the ring's order (packed: docs/JOURNAL.md, RAM). */
  readonly #t: BlockTable;
  #nextSeq = 1;
  /** The chain value after the last record (the head's end). */
  #chain: Uint8Array = new Uint8Array(CHAIN_BYTES);
  #ackedUpTo = 0;
  #reclaimedEpoch = 0;
  #keyed = new Map<number, Located>();
  /** Blocks retired as worn, and whether a RECORD_RETIRED still has to say so. */
  #retired = new Set<number>();
  #retiredUnsaved = false;
  #opened = false;
  #breaks: string[] = [];
  /**
   * The head's records as open() walked them, until the next write: boot's replay of the records after
   * the checkpoint then reads them from here, not the block again (a 4 KiB read and a CRC per record).
   */
  #headRecords: { block: number; records: Array<[Parsed, number]> } | undefined;
  /**
   * The same for the last block verified outside open (the checkpoint's, when boot reads it from a
   * block before the head): the replay of the records after the checkpoint starts in that block.
   * Both are dropped together (#dropKeptRecords).
   */
  #verifiedRecords: { block: number; records: Array<[Parsed, number]> } | undefined;

  constructor(options: JournalOptions) {
    this.#flash = options.flash;
    this.#log = options.log ?? silentLog;
    this.#ackTypes = new Set(options.acknowledgedTypes ?? [1]);
    this.#keyedTypes = new Set([...(options.keyedTypes ?? []), RECORD_ACK, RECORD_RECLAIM, RECORD_RETIRED]);
    if (options.checkpoint) this.#keyedTypes.add(options.checkpoint.type);
    if (options.checkpoint?.delta) this.#keyedTypes.add(options.checkpoint.delta.type);
    this.#spanning = new Set(options.spanningTypes ?? []);
    for (const t of this.#spanning) if (!this.#keyedTypes.has(t)) throw new JournalBug(`spanning type ${t} is not keyed`);
    if (options.checkpoint?.delta && this.#spanning.has(options.checkpoint.delta.type)) throw new JournalBug(`delta checkpoint type ${options.checkpoint.delta.type} spans records`);
    if (this.#keyedTypes.size > MAX_INDEX_ENTRIES) throw new JournalBug(`at most ${MAX_INDEX_ENTRIES} keyed record types`);
    // Two at least: one the acknowledgement may take, one that reclaim bookkeeping always finds.
    this.#reserve = Math.max(2, options.reserveBlocks ?? 4);
    this.#checkpoint = options.checkpoint;
    this.#verifyChain = options.verifyChainAtBoot ?? true;
    this.#crc = { compute: options.crc32 ?? tableCrc };
    this.#sha256 = options.sha256 ?? nobleSha256;
    const crc = this.#crc.compute;
    this.#blockHeader = options.blockHeader ?? ((h, out) => parseBlockHeader(h, out, crc));
    this.#checkpointEvery = options.checkpointEvery ?? 32;
    const status = this.#flash.status();
    this.#blocks = status.blocks;
    this.#blockLength = status.blockLength;
    if (this.#blockLength < 512 || this.#blockLength > 0x8000 || this.#blockLength % 4 !== 0) throw new JournalBug(`unsupported block length ${this.#blockLength}`);
    if (this.#blocks < this.#reserve + 2) throw new JournalBug(`${this.#blocks} blocks: need at least ${this.#reserve + 2}`);
    if (this.#blocks > 0xffff) throw new JournalBug(`${this.#blocks} blocks: at most 65535 (block numbers are u16)`);
    this.#t = new BlockTable(this.#blocks);
  }

  /** Largest payload one record can hold. */
  get maxPayload(): number {
    return this.#blockLength - RECORDS_START - RECORD_OVERHEAD;
  }

  /**
   * Largest value of a type: one record's payload, or for a spanning type what a quarter of the
   * partition holds (a value is copied forward whole, and the reserve must hold the copy).
   */
  maxValueBytes(type: number): number {
    if (!this.#spanning.has(type)) return this.maxPayload;
    return Math.max(1, Math.floor((this.#blocks - this.#reserve - 2) / 4)) * (this.maxPayload - PART_HEADER_BYTES);
  }

  get lastSeq(): number {
    return this.#nextSeq - 1;
  }

  /** The sequence number the next append will get. */
  get nextSeq(): number {
    return this.#nextSeq;
  }

  get ackedUpTo(): number {
    return this.#ackedUpTo;
  }

  /** Blocks in use, and the whole partition. */
  get usage(): { usedBlocks: number; blocks: number; freeBlocks: number } {
    return { usedBlocks: this.#t.length, blocks: this.#blocks, freeBlocks: this.#free() };
  }

  /** Blocks retired as worn (still in the ring until their records are acknowledged, then never reused). */
  get retiredBlocks(): number[] {
    return [...this.#retired].sort((a, b) => a - b);
  }

  /** Blocks neither in the ring nor retired. */
  #free(): number {
    let retiredOutside = 0;
    for (const index of this.#retired) if (!this.#t.has(index, IN_RING)) retiredOutside++;
    return this.#blocks - this.#t.length - retiredOutside;
  }

  /**
   * A block that failed to erase or program, or returned different bits on two reads: it takes no more
   * records and is never opened again; what it holds stays readable until acknowledged (J14, J15).
   */
  #retire(index: number, why: string): void {
    const t = this.#t;
    const inRing = t.has(index, IN_RING);
    if (inRing) t.set(index, WORN);
    if (this.#retired.has(index)) return;
    this.#retired.add(index);
    this.#retiredUnsaved = true;
    const held = inRing ? t.lastSeq[index]! - t.firstSeq[index]! + 1 : 0;
    this.#log('error', 'journal', `block ${index} retired (${why}); ${held > 0 ? `its ${held} records stay until acknowledged` : 'it held no records'}; ${this.#retired.size} of ${this.#blocks} blocks retired`);
  }

  /** Scans the partition and rebuilds the head, sequence, chain and acknowledgement. Call once at boot. */
  open(): RecoveryReport {
    const t = this.#t;
    const n = this.#blocks;
    t.clear();
    this.#dropKeptRecords();
    const newest = this.#readHeaders();
    // Sized now (to the highest block with a header): block numbers at or above the capacity have none.
    const { epoch, firstSeq, flags, capacity } = t;
    // The ring: the newest block, then its predecessors by index whose epochs count down by one.
    // Retired blocks in between are stepped over (J14): no valid header, or an older epoch.
    const run = t.order;
    let found = 0;
    for (let b = newest; b >= 0 && found < n; ) {
      run[found++] = b;
      flags[b]! |= IN_RING;
      const want = epoch[b]! - 1;
      // Most often the block before it by index is its predecessor: the search below, its first step.
      const before = b === 0 ? n - 1 : b - 1;
      if (want > 0 && before < capacity && (flags[before]! & (HEADER | IN_RING)) === HEADER && epoch[before] === want && firstSeq[before]! <= firstSeq[b]!) {
        b = before;
        continue;
      }
      let prev = -1;
      for (let back = 1; back <= MAX_RETIRED + 1 && back < n; back++) {
        const h = b - back < 0 ? b - back + n : b - back;
        if (h >= capacity || (flags[h]! & HEADER) === 0) continue;
        if (epoch[h] === want && firstSeq[h]! <= firstSeq[b]!) prev = h;
        if (epoch[h]! >= want) break;
      }
      b = prev >= 0 && want > 0 && (flags[prev]! & IN_RING) === 0 ? prev : -1;
    }
    t.adoptReversed(found);
    const { order, lastSeq, needsAck } = t;
    const keyed = new Map<number, Located>();
    let ackedUpTo = 0;
    let reclaimed = 0;
    let tornHead = false;
    const flipped: number[] = [];
    /** The blocks boot walked: their anchors and end chains, for the checks between them. */
    const walked = new Map<number, { anchor: Uint8Array; chain: Uint8Array }>();
    // Read from the head back to the newest block whose index record reads back: that index says what
    // the older blocks hold, so they are not read at all (docs/JOURNAL.md, boot).
    let index: Uint8Array | undefined;
    let indexBlock = -1;
    let start = t.length - 1;
    for (; start >= 0 && !index; start--) {
      const block = t.at(start);
      index = this.#indexOf(block);
      if (index) indexBlock = block;
      const scan = this.#scanBlock(block, this.#verifyChain, (r, offset) => {
        if (this.#keyedTypes.has(r.type)) {
          const seen = keyed.get(r.type);
          const at = this.#locate(r, block, offset);
          if (at && (!seen || seen.seq < r.seq)) keyed.set(r.type, at);
        }
        if (r.type === RECORD_ACK && r.payload.length === 4) ackedUpTo = Math.max(ackedUpTo, readU32(r.payload, 0));
        if (r.type === RECORD_RECLAIM && r.payload.length === 4) reclaimed = Math.max(reclaimed, readU32(r.payload, 0));
      });
      walked.set(block, scan);
      if (block === t.head) this.#headRecords = { block, records: scan.records };
      if (this.#verifyChain) t.set(block, VERIFIED);
      if (scan.dirty === 'flipped') flipped.push(block);
      else if (scan.dirty && block === t.head) tornHead = true;
    }
    // Blocks older than the index: complete when the next one opened, so the next header says where they end.
    const { end } = t;
    const blockLength = this.#blockLength;
    for (let i = start; i >= 0; i--) {
      const block = order[i]!;
      const next = order[i + 1]!;
      const last = firstSeq[next]! - 1;
      // #checkInvariants' per-block checks for the blocks boot did not walk, here where the values are
      // at hand (it then checks only the walked ones): its end is the block's, epochs rise to the next.
      if (!(last >= firstSeq[block]! - 1 && epoch[block]! < epoch[next]!)) fail(`block ${block} (epoch ${epoch[block]}, first ${firstSeq[block]}) does not precede block ${next} (epoch ${epoch[next]}, first ${firstSeq[next]})`);
      lastSeq[block] = last;
      end[block] = blockLength;
      needsAck[block] = last; // unknown until read: assume a receipt up to its end
    }
    if (index) {
      const at = this.#readIndex(index, t.epoch[indexBlock]!);
      ackedUpTo = Math.max(ackedUpTo, at.ackedUpTo);
      reclaimed = Math.max(reclaimed, at.reclaimed);
      for (const [type, loc] of at.keyed) {
        const seen = keyed.get(type);
        if (!seen || seen.seq < loc.seq) keyed.set(type, loc);
      }
    }
    // Epochs rise along the ring: the blocks at or below the reclaimed epoch are its oldest.
    let stale = 0;
    while (stale < t.length && epoch[order[stale]!]! <= reclaimed) stale++;
    t.dropOldest(stale);
    const breaks: string[] = (this.#breaks = []);
    // Between the blocks boot walked (the rest are checked when first read).
    for (let i = Math.max(1, start + 2 - stale); i < t.length; i++) {
      const [p, b] = [order[i - 1]!, order[i]!];
      const a = walked.get(p);
      if (!a || (flags[p]! & VERIFIED) === 0) continue;
      const anchor = walked.get(b)?.anchor;
      if (firstSeq[b] !== lastSeq[p]! + 1 || !anchor || !equalBytes(anchor, a.chain)) {
        breaks.push(`block ${b} (epoch ${epoch[b]}) starts at ${firstSeq[b]} but block ${p} ends at ${lastSeq[p]}`);
      }
    }
    // Records in the ring: its sequence span, less the gaps between blocks (only where boot walked
    // both: an older block ends where the next starts). A pass over the ring fewer than summing each.
    let records = t.length > 0 ? lastSeq[t.head]! - firstSeq[order[0]!]! + 1 : 0;
    for (let i = Math.max(1, start + 2 - stale); i < t.length; i++) records -= firstSeq[order[i]!]! - lastSeq[order[i - 1]!]! - 1;
    for (const message of breaks) this.#log('error', 'journal', `chain break: ${message}`);
    const head = t.head;
    const last = head >= 0 ? lastSeq[head]! : 0;
    // An index entry naming a record past the end of the journal (forged flash) is dropped, not trusted.
    this.#keyed = new Map([...keyed].filter(([, at]) => t.has(at.block, IN_RING) && at.seq <= last));
    this.#reclaimedEpoch = reclaimed;
    this.#nextSeq = last + 1;
    this.#chain = head >= 0 ? present(walked.get(head), 'the head is walked at boot').chain : new Uint8Array(CHAIN_BYTES);
    this.#ackedUpTo = Math.min(ackedUpTo, this.#nextSeq - 1);
    this.#lastCheckpointSeq = this.#checkpointSeq();
    this.#retired = new Set();
    this.#retiredUnsaved = false;
    const retired = this.latest(RECORD_RETIRED)?.payload;
    for (let i = 0; retired && i + 1 < retired.length; i += 2) {
      const index = (retired[i]! << 8) | retired[i + 1]!;
      if (index < this.#blocks) this.#retired.add(index);
    }
    for (const b of this.#retired) if (t.has(b, IN_RING)) t.set(b, WORN);
    for (const index of flipped) this.#retire(index, 'two reads of it differ');
    this.#opened = true;
    this.#checkInvariants(Math.max(0, start + 1 - stale));
    const report: RecoveryReport = {
      blocks: t.length,
      records,
      lastSeq: this.lastSeq,
      ackedUpTo: this.#ackedUpTo,
      tornTail: head >= 0 && tornHead,
      staleBlocks: stale,
      breaks,
    };
    this.#log(
      'info',
      'journal',
      `open: ${report.blocks}/${this.#blocks} blocks, ${report.records} records, last ${report.lastSeq}, acked ${report.ackedUpTo}` +
        (report.tornTail ? ', torn tail dropped' : ''),
    );
    return report;
  }

  /** Erases the whole partition: a new, empty journal. */
  format(): void {
    this.#flash.eraseBlock(0, this.#blocks);
    this.#t.clear();
    this.#dropKeptRecords();
    this.#nextSeq = 1;
    this.#chain = new Uint8Array(CHAIN_BYTES);
    this.#ackedUpTo = 0;
    this.#reclaimedEpoch = 0;
    this.#keyed.clear();
    this.#lastCheckpointSeq = 0;
    this.#retired = new Set();
    this.#retiredUnsaved = false;
    this.#opened = true;
    this.#checkInvariants();
  }

  canAppend(bytes: number): boolean {
    if (bytes > this.maxPayload) return false;
    const size = align4(RECORD_OVERHEAD + bytes);
    const free = this.#free();
    const reserve = this.#reserveBlocks();
    const reclaimable = free <= reserve ? this.#reclaimable() : 0;
    if (reclaimable === 0) return this.#userFits(size) || free > reserve;
    // The append will reclaim first, which writes a checkpoint and copies keyed records forward.
    let bookkeeping = 64;
    for (const [type, at] of this.#keyed) bookkeeping += this.#span(type, at)?.bytes ?? at.size;
    const usable = this.#blockLength - RECORDS_START;
    return free + reclaimable - Math.ceil(bookkeeping / usable) - 1 > reserve;
  }

  /** A payment may use the head block only while no bookkeeping has dipped into the reserve. */
  #userFits(size: number): boolean {
    const head = this.#t.head;
    return head >= 0 && !this.#t.has(head, WORN) && this.#t.end[head]! + size <= this.#blockLength && this.#free() >= this.#reserveBlocks();
  }
  /**
   * Free blocks payments leave alone: the configured reserve, plus room to copy every spanning value of
   * several parts forward in a reclaim (a part fills about a block).
   */
  #reserveBlocks(): number {
    let parts = 0;
    // A value of one part is copied like any keyed record: the configured reserve already holds it.
    for (const type of this.#spanning) {
      const at = this.#keyed.get(type);
      const n = at ? (this.#span(type, at)?.parts ?? 0) : 0;
      if (n > 1) parts += n;
    }
    return this.#reserve + parts;
  }

  /** Appends a record; resolves once it is durable (written and read back). Throws JournalFullError. */
  append(type: number, payload: Uint8Array): Promise<number> {
    try {
      return Promise.resolve(this.appendSync(type, payload));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  appendSync(type: number, payload: Uint8Array): number {
    if (!Number.isInteger(type) || type < 1 || type >= RECORD_ACK) throw new JournalBug(`record type ${type} is reserved or invalid`);
    if (this.#spanning.has(type)) return this.#appendValue(type, payload, 'user');
    return this.#append(type, payload, 'user');
  }

  /** Records that the service holds every receipt up to `seq`, then reclaims what that frees. */
  acknowledge(seq: number): void {
    if (seq <= this.#ackedUpTo) return;
    if (seq > this.lastSeq) throw new JournalBug(`cannot acknowledge ${seq}: the last record is ${this.lastSeq}`);
    const payload = new Uint8Array(4);
    writeU32(payload, 0, seq);
    this.#append(RECORD_ACK, payload, 'internal');
    this.#ackedUpTo = seq;
    this.#reclaim();
    this.#checkInvariants();
  }

  /** Sequence of the newest checkpoint (full or delta) a boot replays after; 0: none. */
  get lastCheckpointSeq(): number {
    return this.#lastCheckpointSeq;
  }

  /** Appends a checkpoint now (after a state change no record says, e.g. the offline totals reset). */
  checkpoint(): number {
    if (!this.#checkpoint) throw new JournalBug('no checkpoint configured');
    this.#mustBeOpen();
    return this.#writeCheckpoint('internal', this.#deltaSnapshot());
  }

  /**
   * Where a boot's replay starts: the newest full checkpoint, or its delta. A delta older than the full
   * checkpoint is stale: dropped here, so that neither a reclaim copies it nor the cadence counts it.
   */
  #checkpointSeq(): number {
    const cp = this.#checkpoint;
    const full = cp && this.#keyed.get(cp.type);
    if (!cp || !full) return 0;
    const delta = cp.delta && this.#keyed.get(cp.delta.type);
    if (delta && delta.seq < full.seq) this.#keyed.delete(cp.delta!.type);
    return delta && delta.seq > full.seq ? delta.seq : full.seq;
  }

  /** A delta of the newest full checkpoint, if that spans several records and the state can say one in a record. */
  #deltaSnapshot(): Uint8Array | undefined {
    const cp = this.#checkpoint;
    const full = cp && this.#keyed.get(cp.type);
    if (!cp?.delta || !full || (this.#span(cp.type, full)?.parts ?? 1) < 2) return undefined;
    const delta = cp.delta.snapshot(full.seq);
    return delta && delta.length <= this.maxPayload ? delta : undefined;
  }

  /**
   * Appends `delta` as the checkpoint, or (none) a full one (`full`, or a fresh snapshot), and tells the
   * owner when a full one is durable.
   */
  #writeCheckpoint(room: Room, delta: Uint8Array | undefined, full?: Uint8Array): number {
    const cp = present(this.#checkpoint, 'a checkpoint is configured');
    if (delta) {
      const seq = this.#append(cp.delta!.type, delta, room);
      this.#lastCheckpointSeq = seq;
      return seq;
    }
    const seq = this.#appendValue(cp.type, full ?? cp.snapshot(), room);
    if (cp.delta) this.#keyed.delete(cp.delta.type);
    this.#lastCheckpointSeq = seq;
    cp.written?.(seq);
    return seq;
  }

  /** The latest record of a keyed type, if any. */
  latest(type: number): JournalRecord | undefined {
    const at = this.#keyed.get(type);
    if (!at) return undefined;
    const payload = this.#readValue(type, at);
    if (!payload) {
      this.#log('error', 'journal', `record ${at.seq} (type ${type}) the index names does not read back`);
      this.#keyed.delete(type);
      return undefined;
    }
    return { seq: at.seq, type, payload };
  }

  /** The value a keyed location holds: its record's payload, or a spanning value's parts joined. */
  #readValue(type: number, at: Located): Uint8Array | undefined {
    this.#verify(at.block);
    const r = this.#parseAt(at.block, at.offset);
    if (!r || r.seq !== at.seq || r.type !== type || r.seq > this.#t.lastSeq[at.block]!) return undefined;
    if (!this.#spanning.has(type)) return r.payload;
    const span = this.#span(type, at);
    if (!span) return undefined;
    // A value of one part is this record: no walk back for the others (a boot's checkpoint, usually).
    if (span.parts === 1) return span.valueId === r.seq ? r.payload.slice(PART_HEADER_BYTES) : undefined;
    const parts: Uint8Array[] = [];
    this.replay(span.valueId - 1, (p) => {
      if (p.seq > at.seq) return false;
      const h = p.type === type ? partHeader(p.payload) : undefined;
      // views, not copies: the join below is the one copy (XS meters a typed array's copy at 2 computrons a byte)
      if (h && h.valueId === span.valueId && h.count === span.parts && h.index === parts.length) parts.push(p.payload.subarray(PART_HEADER_BYTES));
      return parts.length < span.parts;
    });
    if (parts.length !== span.parts) return undefined;
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  /** Where a keyed record counts from: a spanning type only at its last part. */
  #locate(r: Parsed, block: number, offset: number): Located | undefined {
    if (!this.#spanning.has(r.type)) return { seq: r.seq, block, offset, size: r.size };
    const h = partHeader(r.payload);
    if (!h || h.index !== h.count - 1 || h.valueId > r.seq || r.seq - h.valueId > 0xffff) return undefined;
    return { seq: r.seq, block, offset, size: r.size, span: { valueId: h.valueId, parts: h.count, bytes: h.count * (this.#blockLength - RECORDS_START) } };
  }

  /** A spanning location's span, read from its last part when boot took it from an index. */
  #span(type: number, at: Located): Located['span'] {
    if (at.span || !this.#spanning.has(type)) return at.span;
    const r = this.#parseAt(at.block, at.offset);
    if (r && r.seq === at.seq && r.type === type) at.span = this.#locate(r, at.block, at.offset)?.span;
    return at.span;
  }

  /** The records of `block` kept from an earlier walk (the head's from open, the last verified), or undefined. */
  #keptRecords(block: number): Array<[Parsed, number]> | undefined {
    if (this.#headRecords?.block === block) return this.#headRecords.records;
    if (this.#verifiedRecords?.block === block) return this.#verifiedRecords.records;
    return undefined;
  }

  /** A write, an erase or a replay read to the end: the kept records are stale or no longer needed. */
  #dropKeptRecords(): void {
    this.#headRecords = this.#verifiedRecords = undefined;
  }

  /**
   * A block boot did not read: walk it with the chain checked now. Records past a break are not
   * accepted (the block ends there for replay) and the break is logged as tamper evidence. Returns
   * the records that walk accepted (undefined: the block was verified before).
   */
  #verify(block: number): Array<[Parsed, number]> | undefined {
    const t = this.#t;
    if (t.has(block, VERIFIED)) return undefined;
    const expected = t.lastSeq[block]!;
    const end = t.end[block]!;
    const scan = this.#scanBlock(block, true);
    if (scan.dirty === 'flipped') this.#retire(block, 'two reads of it differ');
    t.set(block, VERIFIED);
    t.end[block] = end;
    if (t.lastSeq[block] !== expected) {
      const message = `block ${block} (epoch ${t.epoch[block]}) verifies up to ${t.lastSeq[block]}, its successor starts at ${expected + 1}`;
      this.#breaks.push(message);
      this.#log('error', 'journal', `chain break: ${message}`);
    }
    this.#verifiedRecords = { block, records: scan.records };
    return scan.records;
  }

  /**
   * Visits records with a sequence number above `afterSeq`, oldest first; the visitor returns false to
   * stop. Reads the flash block by block, so it needs one block of RAM whatever the journal holds.
   */
  replay(afterSeq: number, visit: (record: JournalRecord) => boolean | void): void {
    this.#mustBeOpen();
    const t = this.#t;
    // lastSeq rises along the ring unless a chain break was found: then every block is looked at.
    for (let i = this.#breaks.length === 0 ? t.firstAfter(afterSeq) : 0; i < t.length; i++) {
      const block = t.at(i);
      if (t.lastSeq[block]! <= afterSeq) continue;
      // A block first read now is walked once, its chain checked, and those records are the visit's.
      let records = this.#verify(block);
      const lastSeq = t.lastSeq[block]!;
      // The visitor is called from here, not from inside the walk: a frame less under what it does
      // (a receipt's restore at boot is the deepest stack the DevKitC's 768 slots see).
      if (!records) records = this.#keptRecords(block);
      if (!records) {
        const found = this.#scanBlock(block, false, undefined, false);
        if (found.dirty === 'flipped') this.#retire(block, 'two reads of it differ');
        records = found.records;
      }
      for (const [r] of records) {
        // Only what open() verified: a record past a chain break is not replayed.
        if (r.seq <= afterSeq || r.seq > lastSeq) continue;
        if (visit({ seq: r.seq, type: r.type, payload: r.payload }) === false) return;
      }
    }
    // Read to the end: boot's replay is done, and the head's records need not stay in RAM.
    this.#dropKeptRecords();
  }

  /** Records that still need acknowledgement, oldest first, up to `maxBytes` of payload or `maxRecords`. */
  unacknowledged(maxRecords: number, maxBytes: number): JournalRecord[] {
    const out: JournalRecord[] = [];
    let bytes = 0;
    this.replay(this.#ackedUpTo, (r) => {
      if (!this.#ackTypes.has(r.type)) return true;
      if (out.length >= maxRecords || (out.length > 0 && bytes + r.payload.length > maxBytes)) return false;
      out.push({ seq: r.seq, type: r.type, payload: r.payload.slice() });
      bytes += r.payload.length;
      return true;
    });
    return out;
  }

  /** Sequence number of the newest record that needs acknowledgement (0 when none). */
  get lastAcknowledgeable(): number {
    // A block's records all follow its predecessor's: the newest block that needs any has the highest.
    const { order, needsAck } = this.#t;
    for (let i = this.#t.length - 1; i >= 0; i--) if (needsAck[order[i]!]! > 0) return needsAck[order[i]!]!;
    return 0;
  }

  #mustBeOpen(): void {
    if (!this.#opened) throw new JournalBug('journal not opened');
  }

  /**
   * `room` says how deep into the free blocks this append may go: payments stop at the reserve, the
   * acknowledgement may use all but one block, reclaim bookkeeping the last one, so that a reclaim can
   * always finish and free space.
   */
  #append(type: number, payload: Uint8Array, room: Room, part?: { last: boolean }): number {
    this.#mustBeOpen();
    const t = this.#t;
    const size = align4(RECORD_OVERHEAD + payload.length);
    if (payload.length > this.maxPayload) {
      throw new JournalBug(`record of ${payload.length} bytes exceeds the ${this.maxPayload} one block holds`);
    }
    // The parts of a spanning value go one after the other: its first part did the housekeeping.
    if (room === 'user' && !part) this.#housekeeping(size);
    for (let attempt = 0; attempt < 3; attempt++) {
      let head = t.head;
      const fits = room === 'user' ? this.#userFits(size) : head >= 0 && !t.has(head, WORN) && t.end[head]! + size <= this.#blockLength;
      if (head < 0 || !fits) head = this.#openBlock(room);
      const seq = this.#nextSeq;
      const record = new Uint8Array(size);
      for (let i = 28 + payload.length; i < size; i++) record[i] = 0xff; // the padding stays erased
      record[0] = RECORD_MARK;
      record[1] = type;
      record[2] = payload.length >> 8;
      record[3] = payload.length & 0xff;
      writeU32(record, 4, seq);
      const chain = this.#link(this.#chain, record.subarray(0, 8), payload);
      record.set(chain, 8);
      record.set(payload, 24);
      writeU32(record, 24 + payload.length, this.#crc.compute(record, 0, 24 + payload.length));
      const offset = t.end[head]!;
      const at = head * this.#blockLength + offset;
      this.#dropKeptRecords();
      this.#flash.write(record, at);
      if (!sameBytes(readBytes(this.#flash, at, size), record) && !sameBytes(readBytes(this.#flash, at, size), record)) {
        // Twice wrong: worn cells. The block takes nothing more; the record goes again into a new one.
        t.end[head] = this.#dirtyEnd(readBytes(this.#flash, head * this.#blockLength, this.#blockLength), offset + 4);
        this.#retire(head, `record ${seq} did not read back`);
        continue;
      }
      t.end[head] = offset + size;
      t.lastSeq[head] = seq;
      if (this.#ackTypes.has(type)) t.needsAck[head] = seq;
      if (this.#keyedTypes.has(type) && (!part || part.last)) {
        const at = this.#locate({ type, seq, chain, payload, size }, head, offset);
        if (at) this.#keyed.set(type, at);
      }
      this.#nextSeq = seq + 1;
      this.#chain = chain;
      this.#checkHead();
      if (this.#retiredUnsaved && type !== RECORD_RETIRED && room !== 'reclaim' && !part) this.#saveRetired();
      return seq;
    }
    throw new FlashError('flash keeps failing to program');
  }

  /**
   * Before a payment's record: the periodic checkpoint, and a reclaim once payments reach the reserve.
   * Boot replays the records after the newest checkpoint: keep that a short walk (a checkpoint of
   * several parts comes as many times less often, so checkpoints stay a small share of the writes).
   * Only where it takes nothing a payment was promised (canAppend does not count it).
   */
  #housekeeping(size: number): void {
    this.#periodicCheckpoint(1, size);
    if (this.#free() <= this.#reserveBlocks()) this.#reclaim();
  }

  /**
   * The periodic checkpoint, written now if the next `records` appends would write it: an idle moment
   * calls this so that no payment waits for the checkpoint (a boot still replays at most
   * `checkpointEvery` records). True when it wrote one; as in a payment's housekeeping, only where it
   * takes no room a payment was promised.
   */
  checkpointAhead(records: number): boolean {
    this.#mustBeOpen();
    return this.#periodicCheckpoint(records, 0);
  }

  #periodicCheckpoint(records: number, size: number): boolean {
    const cp = this.#checkpoint;
    const cpAt = cp && this.#keyed.get(cp.type);
    // Without deltas, a checkpoint of several parts comes as many times less often (and a boot replays
    // as many times more): checkpoints stay a small share of the writes.
    const cpParts = (cp && !cp.delta && cpAt && this.#span(cp.type, cpAt)?.parts) || 1;
    if (!cp || this.#nextSeq + records - 1 - this.#lastCheckpointSeq <= this.#checkpointEvery * cpParts) return false;
    const delta = this.#deltaSnapshot();
    const snapshot = delta ?? cp.snapshot();
    const head = this.#t.head;
    const inHead = head >= 0 && this.#t.end[head]! + align4(RECORD_OVERHEAD + snapshot.length) + size <= this.#blockLength;
    const parts = delta ? 1 : this.#partsOf(cp.type, snapshot.length);
    if (!((parts === 1 && inHead) || this.#free() > this.#reserveBlocks() + parts)) return false;
    this.#writeCheckpoint('internal', delta, snapshot);
    return true;
  }
  #partsOf(type: number, bytes: number): number {
    if (!this.#spanning.has(type)) return 1;
    return Math.max(1, Math.ceil(bytes / (this.maxPayload - PART_HEADER_BYTES)));
  }

  /**
   * A keyed value: one record, or for a spanning type its parts, each headed by the value id (the
   * sequence number it starts at), its index and the count. It counts once its last part is durable.
   */
  #appendValue(type: number, value: Uint8Array, room: Room): number {
    this.#mustBeOpen();
    if (!this.#spanning.has(type)) return this.#append(type, value, room);
    if (value.length > this.maxValueBytes(type)) throw new JournalBug(`value of ${value.length} bytes exceeds the ${this.maxValueBytes(type)} a spanning type holds`);
    const chunk = this.maxPayload - PART_HEADER_BYTES;
    const count = this.#partsOf(type, value.length);
    if (room === 'user') {
      this.#housekeeping(this.#blockLength);
      // All of it or nothing: a value cut short by a full journal would only waste the blocks it took.
      // After it, the reserve must still hold a copy of it (and not of the value it replaces).
      const old = this.#keyed.get(type);
      const reserveAfter = this.#reserveBlocks() - ((old && this.#span(type, old)?.parts) ?? 0) + count;
      if (this.#free() - count <= reserveAfter) throw new JournalFullError();
    }
    const valueId = this.#nextSeq;
    let seq = 0;
    for (let index = 0; index < count; index++) {
      const data = value.subarray(index * chunk, Math.min(value.length, (index + 1) * chunk));
      const payload = new Uint8Array(PART_HEADER_BYTES + data.length);
      writeU32(payload, 0, valueId);
      payload[4] = index >> 8;
      payload[5] = index & 0xff;
      payload[6] = count >> 8;
      payload[7] = count & 0xff;
      payload.set(data, PART_HEADER_BYTES);
      seq = this.#append(type, payload, room === 'user' ? 'internal' : room, { last: index === count - 1 });
    }
    return seq;
  }

  /**
   * The journal's invariants, checked at the end of every function that changes the ring (open,
   * format, acknowledge, reclaim): a failure is a bug in the journal (JournalBug), never what the flash
   * held, which open() has already judged. O(blocks): the append path checks only the head (#checkHead).
   */
  #checkInvariants(from = 0): void {
    const t = this.#t;
    const { order, epoch, end, firstSeq, lastSeq } = t;
    if (t.length > this.#blocks) fail(`ring of ${t.length} blocks in a partition of ${this.#blocks}`);
    // The ring's blocks before `from` were checked by open() as it built them; its oldest is still
    // above the reclaimed epoch, and the rest rise from the block before `from`.
    if (from > 0 && !(epoch[order[0]!]! > this.#reclaimedEpoch)) this.#checkBlock(order[0]!);
    // #checkBlock's checks inline: a call per block would cost more than the checks.
    let previous = from > 0 ? epoch[order[from - 1]!]! : this.#reclaimedEpoch;
    const blockLength = this.#blockLength;
    for (let i = from, n = t.length; i < n; i++) {
      const b = order[i]!;
      const e = end[b]!;
      const ep = epoch[b]!;
      if (!(e >= RECORDS_START && e <= blockLength && (e & 3) === 0) || !(lastSeq[b]! >= firstSeq[b]! - 1) || !(ep > previous)) {
        this.#checkBlock(b);
        fail(`epoch ${ep} of block ${b} follows epoch ${previous}`);
      }
      previous = ep;
    }
    this.#checkHead();
    for (const [type, at] of this.#keyed) {
      if (!(at.seq <= this.lastSeq && t.has(at.block, IN_RING))) fail(`keyed record ${at.seq} (type ${type}) is outside the ring`);
    }
  }

  /**
   * The invariants an append can break, in O(1) (plain comparisons; a message is built only on
   * failure): the head block's bounds, its epoch above its predecessor's, the journal's counters.
   */
  #checkHead(): void {
    const t = this.#t;
    const last = this.#nextSeq - 1;
    if (this.#ackedUpTo > last) fail(`acknowledged up to ${this.#ackedUpTo} beyond the last record ${last}`);
    if (this.#lastCheckpointSeq > last) fail(`checkpoint ${this.#lastCheckpointSeq} beyond the last record ${last}`);
    const head = t.head;
    if (head < 0) return;
    this.#checkBlock(head);
    if (t.lastSeq[head] !== last) fail(`the head ends at ${t.lastSeq[head]}, the journal at ${last}`);
    if (t.length > 1 && !(t.epoch[head]! > t.epoch[t.at(t.length - 2)]!)) fail(`epoch ${t.epoch[head]} of the head follows epoch ${t.epoch[t.at(t.length - 2)]}`);
  }

  #checkBlock(b: number): void {
    const t = this.#t;
    const end = t.end[b]!;
    if (!(end >= RECORDS_START && end <= this.#blockLength && (end & 3) === 0)) fail(`block ${b} ends at ${end}`);
    if (!(t.epoch[b]! > this.#reclaimedEpoch)) fail(`block ${b} of epoch ${t.epoch[b]} is at or below the reclaimed epoch ${this.#reclaimedEpoch}`);
    if (!(t.lastSeq[b]! >= t.firstSeq[b]! - 1)) fail(`block ${b} ends at ${t.lastSeq[b]} before it starts at ${t.firstSeq[b]}`);
  }

  /** Makes the retired set durable (a keyed record), so a reboot does not open those blocks again. */
  #saveRetired(): void {
    const list = this.retiredBlocks;
    const payload = new Uint8Array(list.length * 2);
    list.forEach((index, i) => {
      payload[2 * i] = index >> 8;
      payload[2 * i + 1] = index & 0xff;
    });
    try {
      this.#append(RECORD_RETIRED, payload, 'internal');
      this.#retiredUnsaved = false;
    } catch (e) {
      // Not durable yet: the next append tries again; until then a reboot may find the block worn anew.
      if (!(e instanceof JournalFullError || e instanceof FlashError)) throw e;
    }
  }

  #reclaimable(): number {
    const t = this.#t;
    let n = 0;
    for (; n < t.length - 1; n++) {
      const block = t.at(n);
      // Boot assumed a receipt up to the end of a block it did not read: look before deciding.
      if (t.needsAck[block]! > this.#ackedUpTo && !t.has(block, VERIFIED)) this.#verify(block);
      if (t.needsAck[block]! > this.#ackedUpTo) break;
    }
    return n;
  }

  /** Drops acknowledged blocks from the tail of the ring (their erase happens when they are reused). */
  #reclaim(): void {
    const t = this.#t;
    const n = this.#reclaimable();
    if (n === 0) return;
    const last = t.at(n - 1);
    const lastEpoch = t.epoch[last]!;
    const lastSeq = t.lastSeq[last]!;
    // Epochs rise along the ring: a block is among the dropped if it is in the ring at or below `last`'s.
    const dropped = (block: number): boolean => t.has(block, IN_RING) && t.epoch[block]! <= lastEpoch;
    // A checkpoint newer than everything dropped already covers it (e.g. a reclaim cut short by power).
    const cp = this.#checkpoint;
    const at = cp && this.#keyed.get(cp.type);
    // Parts of a spanning value are at or after its value id: it is touched if that is in a dropped block.
    const touched = (type: number, at: Located): boolean => (this.#span(type, at)?.valueId ?? at.seq) <= lastSeq || dropped(at.block);
    // a full one: a delta would name the checkpoint that is being dropped
    if (cp && !(at && !touched(cp.type, at))) this.#writeCheckpoint('reclaim', undefined);
    for (const [type, at] of [...this.#keyed]) {
      if (type === RECORD_RECLAIM || !touched(type, at)) continue;
      const value = this.#readValue(type, at);
      if (!value) throw new FlashError(`record ${at.seq} (type ${type}) no longer reads back`);
      this.#appendValue(type, value.slice(), 'reclaim');
    }
    const payload = new Uint8Array(4);
    writeU32(payload, 0, lastEpoch);
    this.#append(RECORD_RECLAIM, payload, 'reclaim');
    t.dropOldest(n);
    this.#reclaimedEpoch = lastEpoch;
    this.#log('debug', 'journal', `reclaimed ${n} block(s) up to epoch ${lastEpoch}`);
    this.#checkInvariants();
  }

  #openBlock(room: Room): number {
    const head = this.#t.head;
    let index = head >= 0 ? (head + 1) % this.#blocks : 0;
    for (;;) {
      const free = this.#free();
      if (free <= (room === 'user' ? this.#reserve : room === 'internal' ? 1 : 0)) throw new JournalFullError();
      if (this.#retired.size > MAX_RETIRED) throw new FlashError(`${this.#retired.size} blocks retired: the flash is worn out`);
      while (this.#retired.has(index)) index = (index + 1) % this.#blocks;
      if (this.#tryOpen(index, head)) return index;
      index = (index + 1) % this.#blocks;
    }
  }

  /** Erases and opens block `index` as the new head; false (and the block retired) if it is worn. */
  #tryOpen(index: number, head: number): boolean {
    const t = this.#t;
    const epoch = Math.max(head >= 0 ? t.epoch[head]! : 0, this.#reclaimedEpoch) + 1;
    const base = index * this.#blockLength;
    const old = readBytes(this.#flash, base, BLOCK_HEADER_BYTES);
    const eraseCount = (this.#headerValid(old) ? readU32(old, 12) : 0) + 1;
    const header = new Uint8Array(RECORDS_START).fill(0xff);
    header.set(this.#indexPayload(), BLOCK_HEADER_BYTES);
    writeU32(header, RECORDS_START - 4, this.#crc.compute(header, BLOCK_HEADER_BYTES, RECORDS_START - 4));
    writeU32(header, 0, BLOCK_MAGIC);
    writeU32(header, 4, epoch);
    writeU32(header, 8, this.#nextSeq);
    writeU32(header, 12, eraseCount);
    header.set(this.#chain, 16);
    writeU32(header, 32, this.#crc.compute(header, 0, 32));
    let why = 'does not erase';
    this.#dropKeptRecords();
    for (let attempt = 0; attempt < 2; attempt++) {
      this.#flash.eraseBlock(index);
      if (!isBlank(readBytes(this.#flash, base, this.#blockLength))) continue;
      this.#flash.write(header, base);
      if (sameBytes(readBytes(this.#flash, base, RECORDS_START), header)) {
        t.reset(index, epoch, this.#nextSeq, RECORDS_START);
        t.set(index, VERIFIED);
        t.push(index);
        this.#checkHead();
        return true;
      }
      why = 'its header does not program';
    }
    // Never a valid header on a retired block: clearing the magic always works on NOR (bits go to 0).
    this.#flash.write(new Uint8Array(4), base);
    this.#retire(index, why);
    return false;
  }

  /** A block header's magic, CRC and fields hold. */
  #headerValid(h: Uint8Array): boolean {
    return readU32(h, 0) === BLOCK_MAGIC && readU32(h, 32) === this.#crc.compute(h, 0, 32) && readU32(h, 4) !== 0 && readU32(h, 8) !== 0;
  }

  /**
   * Reads every block's header into the table (each valid one flagged HEADER, with its epoch and first
   * sequence) and returns the block of the newest epoch (-1: none). The one loop of a boot that reads
   * the whole partition, a header a block: its check is one call (native on the device), and the
   * arrays are taken once they are sized, so that a header costs little more than its read
   * (docs/JOURNAL.md, boot). lastSeq, end and needsAck are set for the blocks that join the ring.
   */
  #readHeaders(): number {
    const t = this.#t;
    const flash = this.#flash;
    const check = this.#blockHeader;
    const length = this.#blockLength;
    const fields = new Uint32Array(2);
    let newest = -1;
    let newestEpoch = 0;
    // the bound in a local: on XS a #private read costs ~70 computrons, 256 of them here
    for (let i = 0, n = this.#blocks; i < n; i++) {
      // The read as it comes: a view of it per block cost more than the native check.
      if (!check(flash.read(BLOCK_HEADER_BYTES, i * length), fields)) continue;
      const epoch = fields[0]!;
      if (i >= t.capacity) t.ensure(i + 1);
      t.epoch[i] = epoch;
      t.firstSeq[i] = fields[1]!;
      t.flags[i] = HEADER;
      if (newest < 0 || epoch > newestEpoch) {
        newest = i;
        newestEpoch = epoch;
      }
    }
    return newest;
  }

  #parse(bytes: Uint8Array, offset: number): Parsed | undefined {
    if (offset + RECORD_OVERHEAD > bytes.length || bytes[offset] !== RECORD_MARK) return undefined;
    const type = bytes[offset + 1]!;
    const length = (bytes[offset + 2]! << 8) | bytes[offset + 3]!;
    const size = align4(RECORD_OVERHEAD + length);
    if (type === 0 || type === 0xff || offset + size > bytes.length) return undefined;
    if (readU32(bytes, offset + 24 + length) !== this.#crc.compute(bytes, offset, offset + 24 + length)) return undefined;
    return {
      type,
      seq: readU32(bytes, offset + 4),
      chain: bytes.subarray(offset + 8, offset + 24),
      payload: bytes.subarray(offset + 24, offset + 24 + length),
      size,
    };
  }

  #parseAt(block: number, offset: number): Parsed | undefined {
    const read = () => this.#parse(readBytes(this.#flash, block * this.#blockLength, this.#blockLength), offset);
    const r = read();
    if (r) return r;
    // A weak cell may read wrong once: a second read that parses means the block is failing (J15).
    const again = read();
    if (again) this.#retire(block, 'two reads of it differ');
    return again;
  }

  #link(prev: Uint8Array, head: Uint8Array, payload: Uint8Array): Uint8Array {
    return this.#sha256([prev, head, payload]).subarray(0, CHAIN_BYTES);
  }

  #indexPayload(): Uint8Array {
    const entries = [...this.#keyed].slice(0, MAX_INDEX_ENTRIES);
    const out = new Uint8Array(9 + entries.length * INDEX_ENTRY);
    writeU32(out, 0, this.#ackedUpTo);
    writeU32(out, 4, this.#reclaimedEpoch);
    out[8] = entries.length;
    entries.forEach(([type, at], i) => {
      const o = 9 + i * INDEX_ENTRY;
      out[o] = type;
      writeU32(out, o + 1, at.seq);
      out[o + 5] = at.block >> 8;
      out[o + 6] = at.block & 0xff;
      out[o + 7] = at.offset >> 8;
      out[o + 8] = at.offset & 0xff;
      out[o + 9] = at.size >> 8;
      out[o + 10] = at.size & 0xff;
    });
    return out;
  }

  /** The index area of a block, if its CRC holds. */
  #indexOf(block: number): Uint8Array | undefined {
    const area = readBytes(this.#flash, block * this.#blockLength + BLOCK_HEADER_BYTES, INDEX_BYTES);
    if (readU32(area, INDEX_BYTES - 4) !== this.#crc.compute(area, 0, INDEX_BYTES - 4)) return undefined;
    const n = area[8]!;
    return n > MAX_INDEX_ENTRIES ? undefined : area.subarray(0, 9 + n * INDEX_ENTRY);
  }

  /**
   * An index read at boot (its CRC held). Entries naming blocks not in the ring at or before the
   * index's own block (of epoch `maxEpoch`) are dropped.
   */
  #readIndex(p: Uint8Array, maxEpoch: number): { ackedUpTo: number; reclaimed: number; keyed: Map<number, Located> } {
    const t = this.#t;
    const keyed = new Map<number, Located>();
    if (p.length < 9 || p.length !== 9 + p[8]! * INDEX_ENTRY) return { ackedUpTo: 0, reclaimed: 0, keyed };
    for (let i = 0; i < p[8]!; i++) {
      const o = 9 + i * INDEX_ENTRY;
      const type = p[o]!;
      const seq = readU32(p, o + 1);
      const block = (p[o + 5]! << 8) | p[o + 6]!;
      const offset = (p[o + 7]! << 8) | p[o + 8]!;
      const size = (p[o + 9]! << 8) | p[o + 10]!;
      if (block >= this.#blocks || !t.has(block, IN_RING) || t.epoch[block]! > maxEpoch) continue;
      if (!this.#keyedTypes.has(type) || seq < t.firstSeq[block]! || offset < RECORDS_START || offset + size > this.#blockLength) continue;
      keyed.set(type, { seq, block, offset, size });
    }
    return { ackedUpTo: readU32(p, 0), reclaimed: readU32(p, 4), keyed };
  }

  /**
   * Walks a block's records from its header, keeping only those that continue the sequence (and, when
   * asked, the chain). A torn write leaves garbage of unknown length: the walk steps over it, four bytes
   * at a time, to the record that continues the sequence (a retry written after it), if any. With
   * `update`, sets the block's end (past any garbage), last sequence and acknowledgement need.
   * Returns whether garbage followed (or 'flipped': two reads differed), the block's anchor and the
   * chain value after its last record.
   */
  #scanBlock(block: number, verifyChain: boolean, visit?: (r: Parsed, offset: number) => void, update = true): { dirty: boolean | 'flipped'; anchor: Uint8Array; chain: Uint8Array; records: Array<[Parsed, number]> } {
    let bytes = readBytes(this.#flash, block * this.#blockLength, this.#blockLength);
    let walk = this.#walk(block, bytes, verifyChain);
    let flipped = false;
    // Garbage after the last record: a torn write, or a weak cell that read wrong this once (J15).
    // Read again: bits that differ between two reads are the flash's fault, not a torn write's.
    for (let again = 0; again < 2 && walk.end > walk.offset; again++) {
      const second = readBytes(this.#flash, block * this.#blockLength, this.#blockLength);
      if (equalBytes(second, bytes)) break;
      flipped = true;
      const retry = this.#walk(block, second, verifyChain);
      if (retry.records.length >= walk.records.length) [bytes, walk] = [second, retry];
    }
    if (visit) for (const [r, offset] of walk.records) visit(r, offset);
    if (update) {
      const t = this.#t;
      t.end[block] = walk.end;
      t.lastSeq[block] = t.firstSeq[block]! + walk.records.length - 1;
      t.needsAck[block] = walk.needsAck;
    }
    const anchor = bytes.slice(16, 16 + CHAIN_BYTES);
    return { dirty: flipped ? 'flipped' : walk.end > walk.offset, anchor, chain: walk.chain, records: walk.records };
  }

  #walk(block: number, bytes: Uint8Array, verifyChain: boolean): { records: Array<[Parsed, number]>; offset: number; end: number; chain: Uint8Array; needsAck: number } {
    let offset = RECORDS_START;
    let seq = this.#t.firstSeq[block]!;
    // The anchor: the chain value before the block's first record, in its header.
    let chain = bytes.subarray(16, 16 + CHAIN_BYTES);
    let needsAck = 0;
    const records: Array<[Parsed, number]> = [];
    const next = (at: number): Parsed | undefined => {
      const r = this.#parse(bytes, at);
      if (!r || r.seq !== seq) return undefined;
      if (verifyChain && !equalBytes(this.#link(chain, bytes.subarray(at, at + 8), r.payload), r.chain)) return undefined;
      return r;
    };
    for (;;) {
      let r = next(offset);
      for (let at = offset + 4; !r && at + RECORD_OVERHEAD <= bytes.length; at += 4) {
        if (bytes[at] === RECORD_MARK && (r = next(at))) offset = at;
      }
      if (!r) break;
      chain = r.chain;
      if (this.#ackTypes.has(r.type)) needsAck = r.seq;
      records.push([r, offset]);
      offset += r.size;
      seq++;
    }
    return { records, offset, end: this.#dirtyEnd(bytes, offset), chain: chain.slice(), needsAck };
  }

  /** First 4-aligned offset at or after `from` past which the block is blank (0xFF). */
  #dirtyEnd(bytes: Uint8Array, from: number): number {
    return Math.max(from, align4(lastNotBlank(bytes, from) + 1));
  }

}

/**
 * Whether two buffers of a 4-aligned length hold the same bytes, compared a 32-bit word at a time
 * where both are aligned (the read back of each append: a byte loop cost ~12 k computrons a receipt).
 */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  if ((a.length & 3) !== 0 || (a.byteOffset & 3) !== 0 || (b.byteOffset & 3) !== 0) return equalBytes(a, b);
  const x = new Int32Array(a.buffer, a.byteOffset, a.length >> 2);
  const y = new Int32Array(b.buffer, b.byteOffset, b.length >> 2);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/**
 * Whether `bytes` are all 0xFF (an erased block), a 32-bit word at a time: the check after each erase
 * is on the tap path once per block, where a byte loop cost ~100 k computrons.
 */
export function isBlank(bytes: Uint8Array): boolean {
  return lastNotBlank(bytes, 0) < 0;
}

/** The offset of the last byte at or after `from` that is not 0xFF (-1 if none); words where aligned. */
export function lastNotBlank(bytes: Uint8Array, from: number): number {
  let last = bytes.length - 1;
  if ((bytes.byteOffset & 3) === 0) {
    // whole words above `from`, from the end down: an erased word reads as -1
    const words = new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2);
    const low = (from + 3) >> 2;
    let w = words.length - 1;
    if ((bytes.length & 3) === 0) {
      while (w >= low && words[w] === -1) w--;
      last = w * 4 + 3;
    }
  }
  while (last >= from && bytes[last] === 0xff) last--;
  return last;
}

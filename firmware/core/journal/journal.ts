// The receipt journal: an append-only log in a raw flash partition (docs/JOURNAL.md).
// - A ring of erase blocks, each opened with a header (epoch, first sequence, chain anchor, erase count).
// - Records: marker, type, length, sequence, a 16-byte hash chain link, payload, CRC-32 over all of it.
//   A record counts only if its CRC holds, its sequence follows and its link chains: a torn write fails
//   these and is dropped at boot. An append returns only after its record is written and read back.
// - A block leaves the ring only when every record in it that needs the service's acknowledgement is
//   acknowledged; records of "keyed" types (latest one wins: acknowledgement, checkpoints, stored
//   updates) are first copied forward. A RECLAIM record names the newest epoch dropped, so a block
//   whose erase was cut short can never come back.
import { TaplineError } from '../../base/errors';
import { sha256 } from '@noble/hashes/sha2.js';
import { equalBytes, readU32, writeU32 } from '../../base/bytes';
import { type Log, silentLog } from '../../base/platform';
import { type DurableLog, JournalFullError } from '../../base/ports';
import { Crc32 } from './crc32';
import { type Flash, readBytes } from './flash';

export const BLOCK_HEADER_BYTES = 36;
export const RECORD_OVERHEAD = 28;
export const CHAIN_BYTES = 16;
const BLOCK_MAGIC = 0x54504a31; // "TPJ1"
const RECORD_MARK = 0xa5;

/** Internal record types: the service's acknowledgement (u32 sequence) and the reclaim point (u32 epoch). */
export const RECORD_ACK = 0xf0;
export const RECORD_RECLAIM = 0xf1;

export class JournalError extends TaplineError {
  override readonly name: string = 'JournalError';
}

export interface JournalOptions {
  flash: Flash;
  log?: Log;
  /** Record types that must be acknowledged by the service before their block is reclaimed (default: [1], receipts). */
  acknowledgedTypes?: number[];
  /** Record types of which only the latest counts; copied forward when their block is reclaimed. */
  keyedTypes?: number[];
  /** Blocks kept free for acknowledgements, reclaim bookkeeping and carried records (default 4). */
  reserveBlocks?: number;
  /**
   * Before blocks are reclaimed, `snapshot()` gives a fresh checkpoint to append as a record of `type`
   * (a keyed type), so that a boot can rebuild state from it plus the records after it.
   */
  checkpoint?: { type: number; snapshot: () => Uint8Array };
  /** Check the hash chain of every record at boot (default true). */
  verifyChainAtBoot?: boolean;
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
  /** Where sequence or chain did not continue between blocks: should never happen; logged as tampering. */
  breaks: string[];
}

interface Block {
  index: number;
  epoch: number;
  firstSeq: number;
  prevChain: Uint8Array;
  eraseCount: number;
  /** Offset of free space in the block. */
  end: number;
  lastSeq: number;
  endChain: Uint8Array;
  /** Highest sequence number in the block that needs acknowledgement (0: none). */
  needsAck: number;
}

interface Located {
  seq: number;
  block: Block;
  offset: number;
  size: number;
}

interface Parsed {
  type: number;
  seq: number;
  chain: Uint8Array;
  payload: Uint8Array;
  size: number;
}

type Room = 'user' | 'internal' | 'reclaim';

function align4(n: number): number {
  return (n + 3) & ~3;
}

export class Journal implements DurableLog {
  readonly #flash: Flash;
  readonly #log: Log;
  readonly #crc = new Crc32();
  readonly #ackTypes: Set<number>;
  readonly #keyedTypes: Set<number>;
  readonly #reserve: number;
  readonly #checkpoint: JournalOptions['checkpoint'];
  readonly #verifyChain: boolean;
  readonly #blocks: number;
  readonly #blockLength: number;
  #ring: Block[] = [];
  #nextSeq = 1;
  #chain: Uint8Array = new Uint8Array(CHAIN_BYTES);
  #ackedUpTo = 0;
  #reclaimedEpoch = 0;
  #keyed = new Map<number, Located>();
  #opened = false;

  constructor(options: JournalOptions) {
    this.#flash = options.flash;
    this.#log = options.log ?? silentLog;
    this.#ackTypes = new Set(options.acknowledgedTypes ?? [1]);
    this.#keyedTypes = new Set([...(options.keyedTypes ?? []), RECORD_ACK, RECORD_RECLAIM]);
    if (options.checkpoint) this.#keyedTypes.add(options.checkpoint.type);
    // Two at least: one the acknowledgement may take, one that reclaim bookkeeping always finds.
    this.#reserve = Math.max(2, options.reserveBlocks ?? 4);
    this.#checkpoint = options.checkpoint;
    this.#verifyChain = options.verifyChainAtBoot ?? true;
    const status = this.#flash.status();
    this.#blocks = status.blocks;
    this.#blockLength = status.blockLength;
    if (this.#blockLength < 512 || this.#blockLength % 4 !== 0) throw new JournalError(`unsupported block length ${this.#blockLength}`);
    if (this.#blocks < this.#reserve + 2) throw new JournalError(`${this.#blocks} blocks: need at least ${this.#reserve + 2}`);
  }

  /** Largest payload one record can hold. */
  get maxPayload(): number {
    return this.#blockLength - BLOCK_HEADER_BYTES - RECORD_OVERHEAD;
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
    return { usedBlocks: this.#ring.length, blocks: this.#blocks, freeBlocks: this.#blocks - this.#ring.length };
  }

  /** Scans the partition and rebuilds the head, sequence, chain and acknowledgement. Call once at boot. */
  open(): RecoveryReport {
    const headers: (Block | undefined)[] = [];
    let newest: Block | undefined;
    for (let i = 0; i < this.#blocks; i++) {
      const h = this.#parseHeader(i, readBytes(this.#flash, i * this.#blockLength, BLOCK_HEADER_BYTES));
      headers.push(h);
      if (h && (!newest || h.epoch > newest.epoch)) newest = h;
    }
    // The ring: the newest block, then its predecessors by index whose epochs count down by one.
    const run: Block[] = [];
    for (let b = newest; b && run.length < this.#blocks; ) {
      run.unshift(b);
      const prev = headers[(b.index - 1 + this.#blocks) % this.#blocks];
      b = prev && prev.epoch === b.epoch - 1 && prev.epoch > 0 ? prev : undefined;
    }
    const keyed = new Map<number, Located>();
    let ackedUpTo = 0;
    let reclaimed = 0;
    let records = 0;
    const torn = new Set<Block>();
    for (const block of run) {
      const dirty = this.#scanBlock(block, this.#verifyChain, (r, offset) => {
        records++;
        if (this.#keyedTypes.has(r.type)) {
          const seen = keyed.get(r.type);
          if (!seen || seen.seq < r.seq) keyed.set(r.type, { seq: r.seq, block, offset, size: r.size });
        }
        if (r.type === RECORD_ACK && r.payload.length === 4) ackedUpTo = Math.max(ackedUpTo, readU32(r.payload, 0));
        if (r.type === RECORD_RECLAIM && r.payload.length === 4) reclaimed = Math.max(reclaimed, readU32(r.payload, 0));
      });
      if (dirty) torn.add(block);
    }
    const live = run.filter((b) => b.epoch > reclaimed);
    const staleBlocks = run.length - live.length;
    const breaks: string[] = [];
    for (let i = 1; i < live.length; i++) {
      const [a, b] = [live[i - 1]!, live[i]!];
      if (b.firstSeq !== a.lastSeq + 1 || !equalBytes(b.prevChain, a.endChain)) {
        breaks.push(`block ${b.index} (epoch ${b.epoch}) starts at ${b.firstSeq} but block ${a.index} ends at ${a.lastSeq}`);
      }
    }
    for (const message of breaks) this.#log('error', 'journal', `chain break: ${message}`);
    this.#ring = live;
    this.#keyed = new Map([...keyed].filter(([, at]) => at.block.epoch > reclaimed));
    this.#reclaimedEpoch = reclaimed;
    const head = live[live.length - 1];
    this.#nextSeq = head ? head.lastSeq + 1 : 1;
    this.#chain = head ? head.endChain : new Uint8Array(CHAIN_BYTES);
    this.#ackedUpTo = Math.min(ackedUpTo, this.#nextSeq - 1);
    this.#opened = true;
    const report: RecoveryReport = {
      blocks: live.length,
      records: live.length === run.length ? records : this.#countRecords(),
      lastSeq: this.lastSeq,
      ackedUpTo: this.#ackedUpTo,
      tornTail: head !== undefined && torn.has(head),
      staleBlocks,
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
    this.#ring = [];
    this.#nextSeq = 1;
    this.#chain = new Uint8Array(CHAIN_BYTES);
    this.#ackedUpTo = 0;
    this.#reclaimedEpoch = 0;
    this.#keyed.clear();
    this.#opened = true;
  }

  canAppend(bytes: number): boolean {
    const size = align4(RECORD_OVERHEAD + bytes);
    if (size > this.#blockLength - BLOCK_HEADER_BYTES) return false;
    const free = this.#blocks - this.#ring.length;
    const reclaimable = free <= this.#reserve ? this.#reclaimable() : 0;
    if (reclaimable === 0) return this.#userFits(size) || free > this.#reserve;
    // The append will reclaim first, which writes a checkpoint and copies keyed records forward.
    let bookkeeping = 64;
    for (const at of this.#keyed.values()) bookkeeping += at.size;
    const usable = this.#blockLength - BLOCK_HEADER_BYTES;
    return free + reclaimable - Math.ceil(bookkeeping / usable) - 1 > this.#reserve;
  }

  /** A payment may use the head block only while no bookkeeping has dipped into the reserve. */
  #userFits(size: number): boolean {
    const head = this.#ring[this.#ring.length - 1];
    return head !== undefined && head.end + size <= this.#blockLength && this.#blocks - this.#ring.length >= this.#reserve;
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
    if (!Number.isInteger(type) || type < 1 || type >= RECORD_ACK) throw new JournalError(`record type ${type} is reserved or invalid`);
    return this.#append(type, payload, 'user');
  }

  /** Records that the service holds every receipt up to `seq`, then reclaims what that frees. */
  acknowledge(seq: number): void {
    if (seq <= this.#ackedUpTo) return;
    if (seq > this.lastSeq) throw new JournalError(`cannot acknowledge ${seq}: the last record is ${this.lastSeq}`);
    const payload = new Uint8Array(4);
    writeU32(payload, 0, seq);
    this.#append(RECORD_ACK, payload, 'internal');
    this.#ackedUpTo = seq;
    this.#reclaim();
  }

  /** Appends a checkpoint now (after a state change no record says, e.g. the offline totals reset). */
  checkpoint(): number {
    const cp = this.#checkpoint;
    if (!cp) throw new JournalError('no checkpoint configured');
    return this.#append(cp.type, cp.snapshot(), 'internal');
  }

  /** The latest record of a keyed type, if any. */
  latest(type: number): JournalRecord | undefined {
    const at = this.#keyed.get(type);
    if (!at) return undefined;
    const r = this.#parseAt(at.block, at.offset);
    if (!r) throw new JournalError(`record ${at.seq} no longer reads back`);
    return { seq: r.seq, type: r.type, payload: r.payload };
  }

  /**
   * Visits records with a sequence number above `afterSeq`, oldest first; the visitor returns false to
   * stop. Reads the flash block by block, so it needs one block of RAM whatever the journal holds.
   */
  replay(afterSeq: number, visit: (record: JournalRecord) => boolean | void): void {
    this.#mustBeOpen();
    for (const block of this.#ring) {
      if (block.lastSeq <= afterSeq) continue;
      let stop = false;
      this.#scanBlock(block, false, (r) => {
        // Only what open() verified: a record past a chain break is not replayed.
        if (stop || r.seq <= afterSeq || r.seq > block.lastSeq) return;
        if (visit({ seq: r.seq, type: r.type, payload: r.payload }) === false) stop = true;
      }, false);
      if (stop) return;
    }
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
    let seq = 0;
    for (const b of this.#ring) seq = Math.max(seq, b.needsAck);
    return seq;
  }

  #mustBeOpen(): void {
    if (!this.#opened) throw new JournalError('journal not opened');
  }

  /**
   * `room` says how deep into the free blocks this append may go: payments stop at the reserve, the
   * acknowledgement may use all but one block, reclaim bookkeeping the last one, so that a reclaim can
   * always finish and free space.
   */
  #append(type: number, payload: Uint8Array, room: Room): number {
    this.#mustBeOpen();
    const size = align4(RECORD_OVERHEAD + payload.length);
    if (size > this.#blockLength - BLOCK_HEADER_BYTES) {
      throw new JournalError(`record of ${payload.length} bytes exceeds the ${this.maxPayload} one block holds`);
    }
    for (let attempt = 0; attempt < 3; attempt++) {
      if (room === 'user' && this.#blocks - this.#ring.length <= this.#reserve) this.#reclaim();
      let head = this.#ring[this.#ring.length - 1];
      const fits = room === 'user' ? this.#userFits(size) : head !== undefined && head.end + size <= this.#blockLength;
      if (!head || !fits) head = this.#openBlock(room);
      const seq = this.#nextSeq;
      const record = new Uint8Array(size).fill(0xff);
      record[0] = RECORD_MARK;
      record[1] = type;
      record[2] = payload.length >> 8;
      record[3] = payload.length & 0xff;
      writeU32(record, 4, seq);
      const chain = this.#link(this.#chain, record.subarray(0, 8), payload);
      record.set(chain, 8);
      record.set(payload, 24);
      writeU32(record, 24 + payload.length, this.#crc.compute(record, 0, 24 + payload.length));
      const at = head.index * this.#blockLength + head.end;
      this.#flash.write(record, at);
      if (!equalBytes(readBytes(this.#flash, at, size), record)) {
        // A bad cell or dirty space: write the record again past whatever this one left behind.
        this.#log('warn', 'journal', `record ${seq} did not read back in block ${head.index}; moving on`);
        head.end = this.#dirtyEnd(readBytes(this.#flash, head.index * this.#blockLength, this.#blockLength), head.end + 4);
        continue;
      }
      const offset = head.end;
      head.end += size;
      head.lastSeq = seq;
      head.endChain = chain;
      if (this.#ackTypes.has(type)) head.needsAck = seq;
      if (this.#keyedTypes.has(type)) this.#keyed.set(type, { seq, block: head, offset, size });
      this.#nextSeq = seq + 1;
      this.#chain = chain;
      return seq;
    }
    throw new JournalError('flash keeps failing to program');
  }

  #reclaimable(): number {
    let n = 0;
    while (n < this.#ring.length - 1 && this.#ring[n]!.needsAck <= this.#ackedUpTo) n++;
    return n;
  }

  /** Drops acknowledged blocks from the tail of the ring (their erase happens when they are reused). */
  #reclaim(): void {
    const n = this.#reclaimable();
    if (n === 0) return;
    const dropped = this.#ring.slice(0, n);
    const last = dropped[dropped.length - 1]!;
    // A checkpoint newer than everything dropped already covers it (e.g. a reclaim cut short by power).
    const cp = this.#checkpoint;
    const at = cp && this.#keyed.get(cp.type);
    if (cp && !(at && at.seq > last.lastSeq && !dropped.includes(at.block))) {
      const snapshot = { type: cp.type, payload: cp.snapshot() };
      if (!this.#keyedTypes.has(snapshot.type)) throw new JournalError(`checkpoint type ${snapshot.type} is not keyed`);
      this.#append(snapshot.type, snapshot.payload, 'reclaim');
    }
    for (const [type, at] of [...this.#keyed]) {
      if (type === RECORD_RECLAIM || !dropped.includes(at.block)) continue;
      const record = this.#parseAt(at.block, at.offset);
      if (!record) throw new JournalError(`record ${at.seq} no longer reads back`);
      this.#append(type, record.payload.slice(), 'reclaim');
    }
    const payload = new Uint8Array(4);
    writeU32(payload, 0, last.epoch);
    this.#append(RECORD_RECLAIM, payload, 'reclaim');
    this.#ring = this.#ring.filter((b) => !dropped.includes(b));
    this.#reclaimedEpoch = last.epoch;
    this.#log('debug', 'journal', `reclaimed ${n} block(s) up to epoch ${last.epoch}`);
  }

  #openBlock(room: Room): Block {
    const free = this.#blocks - this.#ring.length;
    if (free <= (room === 'user' ? this.#reserve : room === 'internal' ? 1 : 0)) throw new JournalFullError();
    const head = this.#ring[this.#ring.length - 1];
    const index = head ? (head.index + 1) % this.#blocks : 0;
    const epoch = Math.max(head ? head.epoch : 0, this.#reclaimedEpoch) + 1;
    const base = index * this.#blockLength;
    const old = this.#parseHeader(index, readBytes(this.#flash, base, BLOCK_HEADER_BYTES));
    const block: Block = {
      index,
      epoch,
      firstSeq: this.#nextSeq,
      prevChain: this.#chain,
      eraseCount: (old?.eraseCount ?? 0) + 1,
      end: BLOCK_HEADER_BYTES,
      lastSeq: this.#nextSeq - 1,
      endChain: this.#chain,
      needsAck: 0,
    };
    const header = new Uint8Array(BLOCK_HEADER_BYTES);
    writeU32(header, 0, BLOCK_MAGIC);
    writeU32(header, 4, epoch);
    writeU32(header, 8, block.firstSeq);
    writeU32(header, 12, block.eraseCount);
    header.set(block.prevChain, 16);
    writeU32(header, 32, this.#crc.compute(header, 0, 32));
    for (let attempt = 0; attempt < 3; attempt++) {
      this.#flash.eraseBlock(index);
      if (!readBytes(this.#flash, base, this.#blockLength).every((b) => b === 0xff)) continue;
      this.#flash.write(header, base);
      if (equalBytes(readBytes(this.#flash, base, BLOCK_HEADER_BYTES), header)) {
        this.#ring.push(block);
        return block;
      }
    }
    throw new JournalError(`block ${index} cannot be erased and programmed`);
  }

  #parseHeader(index: number, h: Uint8Array): Block | undefined {
    if (readU32(h, 0) !== BLOCK_MAGIC || readU32(h, 32) !== this.#crc.compute(h, 0, 32)) return undefined;
    const epoch = readU32(h, 4);
    const firstSeq = readU32(h, 8);
    if (epoch === 0 || firstSeq === 0) return undefined;
    const prevChain = h.slice(16, 32);
    return {
      index,
      epoch,
      firstSeq,
      prevChain,
      eraseCount: readU32(h, 12),
      end: BLOCK_HEADER_BYTES,
      lastSeq: firstSeq - 1,
      endChain: prevChain,
      needsAck: 0,
    };
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

  #parseAt(block: Block, offset: number): Parsed | undefined {
    const bytes = readBytes(this.#flash, block.index * this.#blockLength, this.#blockLength);
    return this.#parse(bytes, offset);
  }

  #link(prev: Uint8Array, head: Uint8Array, payload: Uint8Array): Uint8Array {
    const h = sha256.create();
    h.update(prev);
    h.update(head);
    h.update(payload);
    return h.digest().subarray(0, CHAIN_BYTES);
  }

  /**
   * Walks a block's records from its header, keeping only those that continue the sequence (and, when
   * asked, the chain). A torn write leaves garbage of unknown length: the walk steps over it, four bytes
   * at a time, to the record that continues the sequence (a retry written after it), if any. With
   * `update`, sets the block's end (past any garbage), last sequence, chain and acknowledgement need.
   */
  #scanBlock(block: Block, verifyChain: boolean, visit: (r: Parsed, offset: number) => void, update = true): boolean {
    const bytes = readBytes(this.#flash, block.index * this.#blockLength, this.#blockLength);
    let offset = BLOCK_HEADER_BYTES;
    let seq = block.firstSeq;
    let chain = block.prevChain;
    let needsAck = 0;
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
      chain = r.chain.slice();
      if (this.#ackTypes.has(r.type)) needsAck = r.seq;
      visit(r, offset);
      offset += r.size;
      seq++;
    }
    const end = this.#dirtyEnd(bytes, offset);
    if (update) {
      block.end = end;
      block.lastSeq = seq - 1;
      block.endChain = chain;
      block.needsAck = needsAck;
    }
    return end > offset;
  }

  /** First 4-aligned offset at or after `from` past which the block is blank (0xFF). */
  #dirtyEnd(bytes: Uint8Array, from: number): number {
    let last = bytes.length - 1;
    while (last >= from && bytes[last] === 0xff) last--;
    return Math.max(from, align4(last + 1));
  }

  #countRecords(): number {
    let n = 0;
    for (const b of this.#ring) n += b.lastSeq - b.firstSeq + 1;
    return n;
  }
}

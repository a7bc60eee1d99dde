// The risk engine's memory of the wallets it has seen: each one's highest counter, its total on its
// last day and its last approval, for the most recently seen `capacity` wallets (the least recently
// seen is forgotten first). Held in typed arrays grown by doubling up to the capacity: a Map of small
// objects cost about eight slots and a 16-character string a wallet on XS, and a transit gate's 1,000
// riders did not fit the DevKitC's heap (6,144 slots). Here a wallet costs 39 bytes of chunk, and the
// checkpoint's table is the records' own bytes, so a boot loads it with one copy and a hash insert a
// wallet.
//
// The arrays live in one plain object (Store) that the methods take once into a local and hand to the
// functions below: on XS reading a #private field costs ~70 computrons (and ~12 times a property's
// time), a property of a plain object ~1, and a boot's load touches them a few times per wallet.
import { assert } from '../../base/assert';
import { hex64At } from '../../base/bytes';
import { TlvError } from '../protocol/tlv';

/** A wallet's record, in memory and in the checkpoint: id 8, counter 4, day 4, day total 6, last tap (unix s, 0: none) 4. */
export const WALLET_RECORD = 26;
/** WalletState.day of a payment made with the time unknown. */
export const UNKNOWN_DAY = 0xffffffff;
/** Most wallets a table holds: slots are numbered in 16 bits, 0xffff is the list's end. */
export const MAX_WALLET_CAPACITY = 0xfffe;

const NIL = 0xffff;

export interface WalletState {
  counter: number;
  day: number;
  dayTotal: number;
  /** Monotonic ms of the last approval, for anti-passback within this boot. */
  lastTapMs?: number;
  /** Unix seconds of the last approval (when the time was known): anti-passback across a reboot. */
  lastTapTime?: number;
}

interface Store {
  /** Slots allocated: the table grows by doubling up to its capacity (a tap runs in 64 KB of heap). */
  room: number;
  size: number;
  /** The records by slot; slots 0..size-1 are in use. */
  records: Uint8Array;
  view: DataView;
  /**
   * The last approval's monotonic time by slot, in tenths of a second rounded up, plus 1 (0: none
   * this boot). Not in the checkpoint. Rounded up, a gap can only look shorter (a refusal, never a
   * second ride); 32 bits of tenths last 13 years of uptime, where 32 bits of ms wrapped in 49 days.
   */
  tapTenths: Uint32Array;
  /** The recency list by slot, oldest ... newest. */
  older: Uint16Array;
  newer: Uint16Array;
  oldest: number;
  newest: number;
  /** 1 by slot: the wallet changed since the last full checkpoint (rebase), so the next delta carries it. */
  changed: Uint8Array;
  /** Open addressing, linear probing: slot + 1 by hash of the id, 0 empty; at most half full. */
  index: Uint16Array;
  mask: number;
  /** 32 - log2(buckets): a hash's top bits pick the bucket. */
  shift: number;
}

export class WalletTable {
  readonly capacity: number;
  // Allocated at the first wallet and grown as wallets come: a boot builds an empty engine, then the
  // checkpoint's, and a tap runs in 64 KB of heap with one wallet known.
  #s: Store | undefined;
  /** The last id parsed and its two words: a tap looks one wallet up four times (assess to record). */
  #id = { text: '', hi: 0, lo: 0 };
  /**
   * What changed since the last full checkpoint (rebase), for a delta checkpoint. A wallet set moves to
   * the newest end of the recency list, so the changed wallets are always the newest `changed` ones;
   * a full table forgets its oldest, which is then one of the full checkpoint's unchanged wallets, and
   * `forgotten` keeps their ids (two words each). A delta is those newest records and those ids. It
   * cannot say a change that breaks the order (a redate, or forgetting a changed wallet), nor more than
   * MAX_FORGOTTEN forgotten: `exact` is then false until the next full checkpoint.
   */
  #delta = newDelta();

  constructor(capacity: number) {
    assert(Number.isInteger(capacity) && capacity >= 0 && capacity <= MAX_WALLET_CAPACITY, `wallet table capacity ${capacity} within 0..${MAX_WALLET_CAPACITY}`);
    this.capacity = capacity;
  }

  get size(): number {
    return this.#s?.size ?? 0;
  }

  /** What the table remembers of a wallet (a copy), or undefined. */
  get(walletId: string): WalletState | undefined {
    const { hi, lo } = this.#parse(walletId);
    const s = this.#s;
    const slot = s ? find(s, hi, lo) : -1;
    if (s === undefined || slot < 0) return undefined;
    const o = slot * WALLET_RECORD;
    const v = s.view;
    const tapTenths = s.tapTenths[slot]!;
    return {
      counter: v.getUint32(o + 8),
      day: v.getUint32(o + 12),
      dayTotal: v.getUint16(o + 16) * 2 ** 32 + v.getUint32(o + 18),
      lastTapMs: tapTenths === 0 ? undefined : (tapTenths - 1) * 100,
      lastTapTime: v.getUint32(o + 22) || undefined,
    };
  }

  /** Stores the wallet's state as its most recently seen; a new wallet in a full table forgets the oldest. */
  set(walletId: string, w: WalletState): void {
    const { hi, lo } = this.#parse(walletId);
    assert(w.counter <= 0xffffffff && w.day <= 0xffffffff && w.dayTotal < 2 ** 48, 'wallet fields within their widths');
    if (this.capacity === 0) return;
    let s = this.#storeFor(1);
    let slot = find(s, hi, lo);
    const d = this.#delta;
    if (slot < 0) {
      if (s.size === this.capacity) {
        slot = s.oldest;
        if (s.changed[slot] === 1) {
          d.exact = false;
          s.changed[slot] = 0;
          d.changed--;
        } else forget(d, s.view.getUint32(slot * WALLET_RECORD), s.view.getUint32(slot * WALLET_RECORD + 4));
        unindex(s, slot);
        unlink(s, slot);
      } else {
        if (s.size === s.room) s = this.#storeFor(s.size + 1);
        slot = s.size++;
      }
      s.view.setUint32(slot * WALLET_RECORD, hi);
      s.view.setUint32(slot * WALLET_RECORD + 4, lo);
      insert(s, slot);
      append(s, slot);
    } else if (slot !== s.newest) {
      unlink(s, slot);
      append(s, slot);
    }
    if (s.changed[slot] === 0) {
      s.changed[slot] = 1;
      d.changed++;
    }
    const o = slot * WALLET_RECORD;
    const v = s.view;
    v.setUint32(o + 8, w.counter);
    v.setUint32(o + 12, w.day);
    v.setUint16(o + 16, Math.floor(w.dayTotal / 2 ** 32));
    v.setUint32(o + 18, w.dayTotal % 2 ** 32);
    v.setUint32(o + 22, Math.min(w.lastTapTime ?? 0, 0xffffffff));
    s.tapTenths[slot] = w.lastTapMs === undefined ? 0 : Math.min(Math.ceil(Math.max(0, w.lastTapMs) / 100) + 1, 0xffffffff);
  }

  /** Some wallet's total is on `day`. */
  hasDay(day: number): boolean {
    const s = this.#s;
    if (s === undefined) return false;
    for (let o = 12; o < s.size * WALLET_RECORD; o += WALLET_RECORD) if (s.view.getUint32(o) === day) return true;
    return false;
  }

  /** Moves every wallet's total of day `from` to day `to` (payments made with the time unknown, once it is known). */
  redate(from: number, to: number): void {
    const s = this.#s;
    if (s === undefined) return;
    for (let o = 12; o < s.size * WALLET_RECORD; o += WALLET_RECORD) {
      if (s.view.getUint32(o) !== from) continue;
      s.view.setUint32(o, to);
      // a change in place, not at the newest end: only a full checkpoint says it
      this.#delta.exact = false;
    }
  }

  /** Bytes of the checkpoint's wallet table (encodeInto). */
  get encodedLength(): number {
    return this.size * WALLET_RECORD;
  }

  /** Writes the records, oldest first, at `out[at]` (encodedLength bytes). */
  encodeInto(out: Uint8Array, at: number): void {
    const s = this.#s;
    if (s === undefined) return;
    for (let slot = s.oldest; slot !== NIL; slot = s.newer[slot]!, at += WALLET_RECORD) {
      out.set(s.records.subarray(slot * WALLET_RECORD, (slot + 1) * WALLET_RECORD), at);
    }
  }

  /** A full checkpoint of this table is durable: the next delta counts from here. */
  rebase(): void {
    this.#s?.changed.fill(0);
    this.#delta = newDelta();
  }

  /** Bytes of a delta's changed records (encodeChangedInto), or undefined: only a full checkpoint says what changed. */
  get changedLength(): number | undefined {
    return this.#delta.exact ? this.#delta.changed * WALLET_RECORD : undefined;
  }

  /** The ids (8 bytes each) of the full checkpoint's wallets the table has forgotten since (while exact). */
  forgottenIds(): Uint8Array {
    const d = this.#delta;
    const out = new Uint8Array(d.forgottenCount * 8);
    const view = new DataView(out.buffer);
    for (let i = 0; i < d.forgottenCount * 2; i++) view.setUint32(i * 4, d.forgotten[i]!);
    return out;
  }

  /** Writes the wallets changed since the full checkpoint, oldest first, at `out[at]` (changedLength bytes). */
  encodeChangedInto(out: Uint8Array, at: number): void {
    const s = this.#s;
    const n = this.#delta.changed;
    assert(this.#delta.exact, 'a delta of the wallet table only while it is exact');
    if (s === undefined || n === 0) return;
    let slot = s.newest;
    for (let i = 1; i < n; i++) slot = s.older[slot]!;
    for (; slot !== NIL; slot = s.newer[slot]!, at += WALLET_RECORD) {
      assert(s.changed[slot] === 1, 'the changed wallets are the newest');
      out.set(s.records.subarray(slot * WALLET_RECORD, (slot + 1) * WALLET_RECORD), at);
    }
  }

  /**
   * Loads a checkpoint's table (oldest first) into this empty table; with a delta, the full
   * checkpoint's table less the wallets the delta forgot, then the delta's changed records (oldest
   * first) as the newest. Throws TlvError.
   */
  load(full: Uint8Array, delta?: { forgotten: Uint8Array; changed: Uint8Array }): void {
    assert(this.size === 0, 'load into an empty wallet table');
    if (full.length % WALLET_RECORD !== 0) throw new TlvError(`wallet table of ${full.length} bytes`);
    if (delta && delta.changed.length % WALLET_RECORD !== 0) throw new TlvError(`wallet table delta of ${delta.changed.length} bytes`);
    if (delta && (delta.forgotten.length % 8 !== 0 || delta.forgotten.length / 8 > MAX_FORGOTTEN)) throw new TlvError(`wallet table delta forgetting ${delta.forgotten.length} bytes of ids`);
    this.#loadRecords(full, delta ? delta.changed.length / WALLET_RECORD : 0);
    if (!delta) return;
    let s = this.#storeFor(1);
    // Forgotten wallets leave holes; the new wallets of the delta fill them (a table forgets a wallet
    // only to take a new one, which a delta carries), then the slots after the last.
    const holes: number[] = [];
    const gone = new DataView(delta.forgotten.buffer, delta.forgotten.byteOffset, delta.forgotten.length);
    for (let o = 0; o < delta.forgotten.length; o += 8) {
      const slot = find(s, gone.getUint32(o), gone.getUint32(o + 4));
      if (slot < 0) throw new TlvError(`wallet table delta forgets wallet ${hex64At(gone, o)}, which its checkpoint does not hold`);
      unindex(s, slot);
      unlink(s, slot);
      holes.push(slot);
    }
    const changed = delta.changed;
    const view = new DataView(changed.buffer, changed.byteOffset, changed.length);
    for (let o = 0; o < changed.length; o += WALLET_RECORD) {
      const hi = view.getUint32(o);
      const lo = view.getUint32(o + 4);
      let slot = find(s, hi, lo);
      if (slot >= 0) {
        if (s.changed[slot] === 1) throw new TlvError(`wallet table delta names wallet ${hex64At(view, o)} twice`);
        if (slot !== s.newest) {
          unlink(s, slot);
          append(s, slot);
        }
        s.records.set(changed.subarray(o, o + WALLET_RECORD), slot * WALLET_RECORD);
      } else {
        if (holes.length === 0) {
          if (s.size === this.capacity) throw new TlvError(`wallet table delta of ${changed.length / WALLET_RECORD} wallets overfills the table`);
          if (s.size === s.room) s = this.#storeFor(s.size + 1);
          slot = s.size++;
        } else slot = holes.shift()!;
        s.records.set(changed.subarray(o, o + WALLET_RECORD), slot * WALLET_RECORD);
        insert(s, slot);
        append(s, slot);
      }
      s.changed[slot] = 1;
    }
    if (holes.length > 0) throw new TlvError(`wallet table delta forgets ${holes.length} wallets more than it takes`);
    const d = newDelta();
    d.changed = changed.length / WALLET_RECORD;
    for (let o = 0; o < delta.forgotten.length; o += 8) forget(d, gone.getUint32(o), gone.getUint32(o + 4));
    this.#delta = d;
  }

  /** The records (oldest first) into this empty table, with room for `more` wallets after them. */
  #loadRecords(bytes: Uint8Array, more: number): void {
    const n = bytes.length / WALLET_RECORD;
    if (n > this.capacity) throw new TlvError(`wallet table of ${n} wallets: at most ${this.capacity}`);
    if (n === 0) return;
    const s = this.#storeFor(Math.min(n + more, this.capacity));
    s.records.set(bytes);
    // find, insert and append inlined over locals: this loop is most of a checkpoint's load at boot
    const { index, view, mask, shift, older, newer } = s;
    for (let slot = 0, o = 0; slot < n; slot++, o += WALLET_RECORD) {
      const hi = view.getUint32(o);
      const lo = view.getUint32(o + 4);
      // bucketOf, inline: its call cost 24 k computrons of a 1,000-wallet boot (the model test loads
      // tables and looks their wallets up, so the two cannot part unnoticed)
      let b = Math.imul(hi ^ Math.imul(lo, 0x9e3779b1), 0x85ebca6b) >>> shift;
      for (let entry = index[b]!; entry !== 0; b = (b + 1) & mask, entry = index[b]!) {
        // a table loaded wrong is dropped with its engine (the checkpoint counts as unreadable)
        const e = (entry - 1) * WALLET_RECORD;
        if (view.getUint32(e) === hi && view.getUint32(e + 4) === lo) throw new TlvError(`wallet table names wallet ${hex64At(view, o)} twice`);
      }
      index[b] = slot + 1;
      older[slot] = slot === 0 ? NIL : slot - 1;
      newer[slot] = slot === n - 1 ? NIL : slot + 1;
    }
    s.size = n;
    s.oldest = 0;
    s.newest = n - 1;
  }

  #parse(walletId: string): { hi: number; lo: number } {
    const id = this.#id;
    if (id.text !== walletId) {
      id.hi = idWord(walletId, 0);
      id.lo = idWord(walletId, 8);
      id.text = walletId;
    }
    return id;
  }

  /**
   * The store, with room for at least `wallets`: grown by doubling up to the capacity, what it holds
   * copied and its index rebuilt (once per doubling; a boot allocates the checkpoint's size at once).
   */
  #storeFor(wallets: number): Store {
    const old = this.#s;
    if (old && old.room >= wallets) return old;
    let room = Math.max(MIN_ROOM, old?.room ?? 0);
    while (room < wallets) room *= 2;
    const s = newStore(Math.min(room, this.capacity));
    if (old) {
      const n = old.size;
      s.records.set(old.records.subarray(0, n * WALLET_RECORD));
      s.tapTenths.set(old.tapTenths.subarray(0, n));
      s.older.set(old.older.subarray(0, n));
      s.newer.set(old.newer.subarray(0, n));
      s.changed.set(old.changed.subarray(0, n));
      s.size = n;
      s.oldest = old.oldest;
      s.newest = old.newest;
      for (let slot = 0; slot < n; slot++) insert(s, slot);
    }
    this.#s = s;
    return s;
  }
}

/** Slots a table first allocates. */
const MIN_ROOM = 16;
/** Wallets a delta says were forgotten at most (8 bytes each): more, and the next checkpoint is a full one. */
export const MAX_FORGOTTEN = 256;

interface Delta {
  /** Wallets changed since the full checkpoint: the newest `changed` of the recency list. */
  changed: number;
  /** Ids of the full checkpoint's wallets forgotten since (hi, lo words), `forgottenCount` of them. */
  forgotten: Uint32Array;
  forgottenCount: number;
  exact: boolean;
}

function newDelta(): Delta {
  return { changed: 0, forgotten: new Uint32Array(0), forgottenCount: 0, exact: true };
}

function forget(d: Delta, hi: number, lo: number): void {
  if (d.forgottenCount === MAX_FORGOTTEN) {
    d.exact = false;
    return;
  }
  if (d.forgotten.length === d.forgottenCount * 2) {
    // grown by doubling: a tap runs in 64 KB of heap, a busy gate forgets a wallet a tap
    const grown = new Uint32Array(Math.max(32, d.forgotten.length * 2));
    grown.set(d.forgotten);
    d.forgotten = grown;
  }
  d.forgotten[d.forgottenCount * 2] = hi;
  d.forgotten[d.forgottenCount * 2 + 1] = lo;
  d.forgottenCount++;
}

function newStore(room: number): Store {
  let bits = 1;
  while (1 << bits < 2 * room) bits++;
  const records = new Uint8Array(room * WALLET_RECORD);
  return {
    room,
    size: 0,
    records,
    view: new DataView(records.buffer),
    tapTenths: new Uint32Array(room),
    older: new Uint16Array(room).fill(NIL),
    newer: new Uint16Array(room).fill(NIL),
    changed: new Uint8Array(room),
    oldest: NIL,
    newest: NIL,
    index: new Uint16Array(1 << bits),
    mask: (1 << bits) - 1,
    shift: 32 - bits,
  };
}

/** 32 bits of a 16-hex-digit wallet id: digits at..at+7. */
function idWord(walletId: string, at: number): number {
  // Number('0x...') is NaN for anything but hex digits, where parseInt would stop quietly at the first
  const word = walletId.length === 16 ? Number('0x' + walletId.slice(at, at + 8)) : NaN;
  if (Number.isNaN(word)) throw new TypeError(`wallet id "${walletId}" is not 16 hex digits`);
  return word;
}

function bucketOf(s: Store, hi: number, lo: number): number {
  // ids may be numbered in sequence: multiply both words in, so neighbours spread over the buckets
  // (WalletTable.load computes the same inline)
  return Math.imul(hi ^ Math.imul(lo, 0x9e3779b1), 0x85ebca6b) >>> s.shift;
}

function bucketOfSlot(s: Store, slot: number): number {
  return bucketOf(s, s.view.getUint32(slot * WALLET_RECORD), s.view.getUint32(slot * WALLET_RECORD + 4));
}

/** The wallet's slot, or -1. */
function find(s: Store, hi: number, lo: number): number {
  const { index, view, mask } = s;
  for (let b = bucketOf(s, hi, lo); ; b = (b + 1) & mask) {
    const entry = index[b]!;
    if (entry === 0) return -1;
    const o = (entry - 1) * WALLET_RECORD;
    if (view.getUint32(o) === hi && view.getUint32(o + 4) === lo) return entry - 1;
  }
}

function insert(s: Store, slot: number): void {
  let b = bucketOfSlot(s, slot);
  while (s.index[b] !== 0) b = (b + 1) & s.mask;
  s.index[b] = slot + 1;
}

/** Takes the slot out of the index, moving back the entries after it that probed past it (no tombstones). */
function unindex(s: Store, slot: number): void {
  const { index, mask } = s;
  let hole = bucketOfSlot(s, slot);
  while (index[hole] !== slot + 1) hole = (hole + 1) & mask;
  index[hole] = 0;
  for (let b = (hole + 1) & mask; index[b] !== 0; b = (b + 1) & mask) {
    const entry = index[b]!;
    const home = bucketOfSlot(s, entry - 1);
    // the entry stays unless its home is at or before the hole, cyclically: its probe passed the hole
    const stays = hole <= b ? hole < home && home <= b : hole < home || home <= b;
    if (stays) continue;
    index[hole] = entry;
    index[b] = 0;
    hole = b;
  }
}

function unlink(s: Store, slot: number): void {
  const older = s.older[slot]!;
  const newer = s.newer[slot]!;
  if (older === NIL) s.oldest = newer;
  else s.newer[older] = newer;
  if (newer === NIL) s.newest = older;
  else s.older[newer] = older;
}

function append(s: Store, slot: number): void {
  s.older[slot] = s.newest;
  s.newer[slot] = NIL;
  if (s.newest === NIL) s.oldest = slot;
  else s.newer[s.newest] = slot;
  s.newest = slot;
}

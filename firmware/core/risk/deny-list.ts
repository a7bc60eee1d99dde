// The service's deny list as the terminal holds it in RAM: once, as the journal stores it (wallet ids of
// 8 bytes back to back, ascending), looked up by binary search. 10,000 ids are 80,000 bytes of one
// buffer, where sets of hex strings cost ~170 bytes an id and did not fit a device's heap. The update
// store builds each version and the risk engine reads the same object; neither keeps a copy.
import { assert } from '../../base/assert';
import { TaplineError } from '../../base/errors';

/** Wallet ids (and certificate serials) are 8 bytes. */
export const DENY_ID_BYTES = 8;

export class DenyListError extends TaplineError {
  override readonly name: string = 'DenyListError';
}

/** The 8 bytes of a 16-hex-digit id as two 32-bit halves, or undefined for anything else. */
function halves(id: string): [number, number] | undefined {
  if (id.length !== 16 || !/^[0-9a-f]{16}$/.test(id)) return undefined;
  return [parseInt(id.slice(0, 8), 16), parseInt(id.slice(8), 16)];
}

function u32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** -1, 0, 1: the id at `at` in `b` against (hi, lo). */
function compareAt(b: Uint8Array, at: number, hi: number, lo: number): number {
  const h = u32(b, at);
  if (h !== hi) return h < hi ? -1 : 1;
  const l = u32(b, at + 4);
  return l === lo ? 0 : l < lo ? -1 : 1;
}

function compareIds(a: Uint8Array, ai: number, b: Uint8Array, bi: number): number {
  return compareAt(a, ai, u32(b, bi), u32(b, bi + 4));
}

export class DenyList {
  static readonly EMPTY = new DenyList(0, new Uint8Array(0));
  readonly version: number;
  /** The ids, 8 bytes each, strictly ascending. Never changed: a new version is a new DenyList. */
  readonly #ids: Uint8Array;

  /**
   * `ids`: 8-byte ids back to back, strictly ascending (as the journal stores them), held as given, not
   * copied. Throws DenyListError otherwise.
   */
  constructor(version: number, ids: Uint8Array) {
    if (!Number.isSafeInteger(version) || version < 0) throw new DenyListError(`deny-list version ${version}`);
    if (ids.length % DENY_ID_BYTES !== 0) throw new DenyListError(`deny list of ${ids.length} bytes`);
    for (let at = DENY_ID_BYTES; at < ids.length; at += DENY_ID_BYTES) {
      if (compareIds(ids, at - DENY_ID_BYTES, ids, at) >= 0) throw new DenyListError('deny-list ids out of order or repeated');
    }
    this.version = version;
    this.#ids = ids;
  }

  get size(): number {
    return this.#ids.length / DENY_ID_BYTES;
  }

  /** The ids as stored (do not change them). */
  get bytes(): Uint8Array {
    return this.#ids;
  }

  /** `id`: 16 lowercase hex digits; anything else is on no list. */
  has(id: string): boolean {
    const h = halves(id);
    if (!h) return false;
    let lo = 0;
    let hi = this.size - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareAt(this.#ids, mid * DENY_ID_BYTES, h[0], h[1]);
      if (c === 0) return true;
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  }

  /** The ids as hex, ascending (for logs and tests: a device never needs them all as strings). */
  *ids(): IterableIterator<string> {
    for (let at = 0; at < this.#ids.length; at += DENY_ID_BYTES) {
      let s = '';
      for (let i = at; i < at + DENY_ID_BYTES; i++) s += (this.#ids[i]! < 16 ? '0' : '') + this.#ids[i]!.toString(16);
      yield s;
    }
  }

  /**
   * The next version: these ids added and removed (8 bytes each; an id in both is removed). One merge
   * of three ascending streams into a new buffer; this list is left as it was. Throws DenyListError.
   */
  applied(version: number, add: Uint8Array[], remove: Uint8Array[]): DenyList {
    if (version <= this.version) throw new DenyListError(`deny-list version ${version} is not newer than ${this.version}`);
    for (const id of [...add, ...remove]) if (id.length !== DENY_ID_BYTES) throw new DenyListError(`a deny-list id of ${id.length} bytes`);
    const ascending = (list: Uint8Array[]) => [...list].sort((a, b) => compareIds(a, 0, b, 0));
    const adding = ascending(add);
    const removing = ascending(remove);
    const out = new Uint8Array(this.#ids.length + adding.length * DENY_ID_BYTES);
    let n = 0;
    let at = 0; // in this list
    let k = 0; // in adding
    let r = 0; // in removing
    while (at < this.#ids.length || k < adding.length) {
      // the smaller of the next held id and the next added one (both, when equal)
      let from: Uint8Array;
      let offset = 0;
      const c = at >= this.#ids.length ? 1 : k >= adding.length ? -1 : compareIds(this.#ids, at, adding[k]!, 0);
      if (c <= 0) {
        from = this.#ids;
        offset = at;
        at += DENY_ID_BYTES;
        if (c === 0) k++;
      } else {
        from = adding[k++]!;
      }
      while (k < adding.length && compareIds(adding[k]!, 0, from, offset) === 0) k++;
      while (r < removing.length && compareIds(removing[r]!, 0, from, offset) < 0) r++;
      if (r < removing.length && compareIds(removing[r]!, 0, from, offset) === 0) continue;
      out.set(from.subarray(offset, offset + DENY_ID_BYTES), n);
      n += DENY_ID_BYTES;
    }
    const next = new DenyList(version, n === out.length ? out : out.slice(0, n));
    assert(next.size <= this.size + adding.length, 'a delta adds at most its own ids');
    return next;
  }
}

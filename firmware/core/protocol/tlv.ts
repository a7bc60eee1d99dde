// BER-TLV, the encoding EMV cards use, restricted to a canonical subset so that one message has exactly
// one encoding (signatures are computed over these bytes):
// - tags are one or two bytes (a first byte with its low five bits set announces a second byte);
// - lengths use the shortest form: 0..127 in one byte, then 0x81 nn, then 0x82 nnnn (at most 65535);
// - decoding is bounded: a caller states the largest input and the most fields it accepts.
// Parsers of untrusted input throw TlvError; they never read past the input or loop without progress.
import { AssertionError, TaplineError } from '../../base/errors';

export class TlvError extends TaplineError {
  override readonly name: string = 'TlvError';
}

export interface Tlv {
  tag: number;
  value: Uint8Array;
}

export const TLV_MAX_VALUE_BYTES = 0xffff;

export function isConstructed(tag: number): boolean {
  const first = tag > 0xff ? tag >> 8 : tag;
  return (first & 0x20) !== 0;
}

/** Bytes of a canonical tag (1 or 2); throws TlvError for a tag that has no canonical form. */
function tagSize(tag: number): number {
  if (!Number.isInteger(tag) || tag < 0 || tag > 0xffff) throw new TlvError(`bad tag ${tag}`);
  if (tag <= 0xff) {
    if ((tag & 0x1f) === 0x1f) throw new TlvError(`tag ${tag.toString(16)} needs a second byte`);
    return 1;
  }
  const first = tag >> 8;
  const second = tag & 0xff;
  if ((first & 0x1f) !== 0x1f || second & 0x80 || second < 0x1f) throw new TlvError(`bad two-byte tag ${tag.toString(16)}`);
  return 2;
}

/** Bytes of the shortest length form (1 to 3). */
function lengthSize(length: number): number {
  if (length < 0x80) return 1;
  if (length <= 0xff) return 2;
  if (length <= TLV_MAX_VALUE_BYTES) return 3;
  throw new TlvError(`value of ${length} bytes is too long`);
}

/** A field whose value its owner writes in place (a large table, without a copy of its own first). */
export interface TlvWriter {
  tag: number;
  length: number;
  write(out: Uint8Array, at: number): void;
}

/**
 * Encodes fields in the order given. Sizes first, then one buffer written in place: no array per field
 * (a tap encodes five messages; on XS every small array is slots and a chunk for the collector).
 */
export function encodeTlv(fields: Array<Tlv | TlvWriter>): Uint8Array {
  const out = new Uint8Array(tlvLength(fields));
  encodeTlvInto(fields, out, 0);
  return out;
}

/** Bytes encodeTlv gives for `fields`. */
export function tlvLength(fields: Array<Tlv | TlvWriter>): number {
  let total = 0;
  for (const f of fields) {
    const length = 'value' in f ? f.value.length : f.length;
    total += tagSize(f.tag) + lengthSize(length) + length;
  }
  return total;
}

/** encodeTlv written at `out[at]` (tlvLength(fields) bytes): a nested message without a copy of its own. */
export function encodeTlvInto(fields: Array<Tlv | TlvWriter>, out: Uint8Array, at: number): void {
  let offset = at;
  for (const f of fields) {
    const { tag } = f;
    if (tag > 0xff) out[offset++] = tag >> 8;
    out[offset++] = tag & 0xff;
    const length = 'value' in f ? f.value.length : f.length;
    if (length >= 0x80) {
      if (length > 0xff) {
        out[offset++] = 0x82;
        out[offset++] = length >> 8;
      } else {
        out[offset++] = 0x81;
      }
    }
    out[offset++] = length & 0xff;
    if ('value' in f) out.set(f.value, offset);
    else f.write(out, offset);
    offset += length;
  }
}

export interface DecodeLimits {
  /** Largest input accepted, in bytes. */
  maxBytes: number;
  /** Most fields accepted at this level. */
  maxFields: number;
}

/** Decodes one level of TLV fields covering all of `bytes` exactly. Values are views into `bytes`. */
export function decodeTlv(bytes: Uint8Array, limits: DecodeLimits): Tlv[] {
  if (bytes.length > limits.maxBytes) throw new TlvError(`input of ${bytes.length} bytes exceeds ${limits.maxBytes}`);
  const fields: Tlv[] = [];
  const f = { tag: 0, start: 0, end: 0 };
  for (let i = 0; i < bytes.length; i = f.end) {
    if (fields.length >= limits.maxFields) throw new TlvError(`more than ${limits.maxFields} fields`);
    fieldAt(bytes, i, f);
    fields.push({ tag: f.tag, value: bytes.subarray(f.start, f.end) });
  }
  return fields;
}

/**
 * The values of the top-level fields tagged `tags` (by position; an optional one absent: undefined),
 * each sized by `rules`, found in one walk of the lengths alone, which stops once all are found: no
 * array of every field, no order or duplicate checks. For bytes this terminal encoded itself and its
 * journal vouches for (CRC-32 and hash chain), where a boot needs a few fields of each of many
 * records (docs/JOURNAL.md, boot). Throws TlvError for a field absent or of another size, or one the
 * walk meets that is not canonical or runs past the end.
 */
export function pickFields(bytes: Uint8Array, rules: Record<number, FieldRule>, tags: readonly number[]): Array<Uint8Array | undefined> {
  const out = new Array<Uint8Array | undefined>(tags.length);
  const f = { tag: 0, start: 0, end: 0 };
  const n = bytes.length;
  for (let i = 0, left = tags.length; i < n && left > 0; i = f.end) {
    // fieldAt's short form inline (a call per field was most of the walk's cost)
    const tag = bytes[i]!;
    const length = i + 1 < n ? bytes[i + 1]! : 0x80;
    if ((tag & 0x1f) !== 0x1f && length < 0x80 && i + 2 + length <= n) {
      f.tag = tag;
      f.start = i + 2;
      f.end = i + 2 + length;
    } else {
      fieldAt(bytes, i, f);
    }
    const k = tags.indexOf(f.tag);
    if (k < 0 || out[k]) continue;
    const rule = rules[f.tag]!;
    const size = f.end - f.start;
    if (size < rule.min || size > rule.max) throw new TlvError(`tag ${f.tag.toString(16)} has ${size} bytes, expected ${rule.min}..${rule.max}`);
    out[k] = bytes.subarray(f.start, f.end);
    left--;
  }
  for (let k = 0; k < tags.length; k++) {
    if (!out[k] && !rules[tags[k]!]!.optional) throw new TlvError(`missing tag ${tags[k]!.toString(16)}`);
  }
  return out;
}

/** The field starting at `at`, into `f`: its tag and where its value starts and ends. Throws TlvError. */
function fieldAt(bytes: Uint8Array, at: number, f: { tag: number; start: number; end: number }): void {
  let i = at;
  let tag = bytes[i++]!;
  // Most fields: a one-byte tag and a one-byte length, no branch below taken.
  if ((tag & 0x1f) !== 0x1f && i < bytes.length && bytes[i]! < 0x80) {
    const end = i + 1 + bytes[i]!;
    if (end > bytes.length) throw new TlvError(`value of tag ${tag.toString(16)} runs past the end`);
    f.tag = tag;
    f.start = i + 1;
    f.end = end;
    return;
  }
  if ((tag & 0x1f) === 0x1f) {
    if (i >= bytes.length) throw new TlvError('truncated tag');
    const second = bytes[i++]!;
    if (second & 0x80 || second < 0x1f) throw new TlvError('non-canonical or over-long tag');
    tag = (tag << 8) | second;
  }
  if (i >= bytes.length) throw new TlvError(`truncated length of tag ${tag.toString(16)}`);
  let length = bytes[i++]!;
  if (length === 0x81) {
    if (i + 1 > bytes.length) throw new TlvError('truncated length');
    length = bytes[i++]!;
    if (length < 0x80) throw new TlvError('non-canonical length');
  } else if (length === 0x82) {
    if (i + 2 > bytes.length) throw new TlvError('truncated length');
    length = (bytes[i]! << 8) | bytes[i + 1]!;
    i += 2;
    if (length <= 0xff) throw new TlvError('non-canonical length');
  } else if (length >= 0x80) {
    throw new TlvError(`unsupported length form 0x${length.toString(16)}`);
  }
  if (i + length > bytes.length) throw new TlvError(`value of tag ${tag.toString(16)} runs past the end`);
  f.tag = tag;
  f.start = i;
  f.end = i + length;
}

export interface FieldRule {
  /** Smallest and largest length of the value, in bytes. */
  min: number;
  max: number;
  /** Absent is an error unless optional. */
  optional?: boolean;
}

/** Each rule table's tags in order (integer keys enumerate ascending), made once: a tap decodes five messages. */
const ORDERS = new WeakMap<Record<number, FieldRule>, number[]>();

function orderOf(rules: Record<number, FieldRule>): number[] {
  let order = ORDERS.get(rules);
  if (!order) {
    order = Object.keys(rules).map(Number);
    ORDERS.set(rules, order);
  }
  return order;
}

/**
 * Decodes a message whose fields must appear exactly once, each from `rules`, in the rules' order.
 * Unknown, duplicated, misordered or wrongly sized fields are errors: a canonical message has one form.
 * One walk of the rules beside the fields (the order is ascending, so a field can only be further on).
 */
export function decodeFields(
  bytes: Uint8Array,
  rules: Record<number, FieldRule>,
  maxBytes: number,
): Map<number, Uint8Array> {
  const order = orderOf(rules);
  const fields = decodeTlv(bytes, { maxBytes, maxFields: order.length });
  const out = new Map<number, Uint8Array>();
  let next = 0;
  // the first required tag passed over: reported once the fields are otherwise found sound, as before
  let missing: number | undefined;
  for (const { tag, value } of fields) {
    while (next < order.length && order[next] !== tag) {
      if (missing === undefined && !rules[order[next]!]?.optional) missing = order[next];
      next++;
    }
    if (next === order.length) {
      if (order.indexOf(tag) < 0) throw new TlvError(`unexpected tag ${tag.toString(16)}`);
      if (out.has(tag)) throw new TlvError(`duplicated tag ${tag.toString(16)}`);
      throw new TlvError(`tag ${tag.toString(16)} out of order`);
    }
    const rule = rules[tag];
    if (rule === undefined) throw new AssertionError(`tag ${tag.toString(16)} is in the order but has no rule`);
    if (value.length < rule.min || value.length > rule.max) {
      throw new TlvError(`tag ${tag.toString(16)} has ${value.length} bytes, expected ${rule.min}..${rule.max}`);
    }
    out.set(tag, value);
    next++;
  }
  for (; missing === undefined && next < order.length; next++) if (!rules[order[next]!]?.optional) missing = order[next];
  if (missing !== undefined) throw new TlvError(`missing tag ${missing.toString(16)}`);
  return out;
}

/** A field decodeFields guarantees (its rule is not optional): in place of `get(tag)!`. */
export function required(fields: Map<number, Uint8Array>, tag: number): Uint8Array {
  const value = fields.get(tag);
  if (value === undefined) throw new AssertionError(`required tag ${tag.toString(16)} absent after decodeFields`);
  return value;
}

/** Unsigned big-endian integer of 1..6 bytes (amounts, counters, times). */
export function encodeUint(value: number, bytes: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0 || value >= 2 ** (8 * bytes)) {
    throw new TlvError(`${value} does not fit in ${bytes} bytes`);
  }
  const out = new Uint8Array(bytes);
  for (let i = bytes - 1, v = value; i >= 0; i--, v = Math.floor(v / 256)) out[i] = v % 256;
  return out;
}

export function decodeUint(value: Uint8Array): number {
  if (value.length < 1 || value.length > 6) throw new TlvError(`integer of ${value.length} bytes`);
  let n = 0;
  // an index loop: for-of on a typed array costs XS an iterator per call (~10x the loop itself)
  for (let i = 0; i < value.length; i++) n = n * 256 + value[i]!;
  return n;
}

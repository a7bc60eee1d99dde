// Byte helpers the whole core shares. XS on the device has no global TextEncoder, so UTF-8 lives here.

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

// XS keeps strings as UTF-8 and finds the n-th character by walking from the start, so indexing a long
// string, or growing one with +=, costs O(n) each time. These helpers build strings from parts joined
// once; anything large (a flash image) should move as bytes, not as text.
const HEX_DIGITS = '0123456789abcdef';

export function toHex(bytes: Uint8Array): string {
  const parts: string[] = new Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) parts[i] = HEX_DIGITS[bytes[i]! >> 4]! + HEX_DIGITS[bytes[i]! & 15]!;
  return parts.join('');
}

/**
 * The 8 bytes at `at` as 16 hex digits, as toHex gives them: two native conversions, where toHex's
 * loop over the bytes costs XS hundreds of computrons (a checkpoint holds up to 1,000 wallet ids).
 */
export function hex64At(view: DataView, at: number): string {
  return view.getUint32(at).toString(16).padStart(8, '0') + view.getUint32(at + 4).toString(16).padStart(8, '0');
}

export function fromHex(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) throw new TypeError(`not hex: "${hex.slice(0, 40)}"`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/**
 * UTF-8 of `text` (a lone surrogate is encoded as its own three bytes). Two passes, the length and
 * then the bytes, straight into one Uint8Array: an array of numbers costs a slot a byte on XS (16 bytes
 * on the ESP32), and a provisioning file of 1 KB took ~34 KB of the DevKitC's heap that way.
 */
export function utf8Encode(text: string): Uint8Array {
  let length = 0;
  for (let i = 0; i < text.length; i++) {
    const c = codePointAt(text, i);
    length += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    if (c >= 0x10000) i++;
  }
  const out = new Uint8Array(length);
  let at = 0;
  for (let i = 0; i < text.length; i++) {
    const c = codePointAt(text, i);
    if (c < 0x80) out[at++] = c;
    else if (c < 0x800) {
      out[at++] = 0xc0 | (c >> 6);
      out[at++] = 0x80 | (c & 63);
    } else if (c < 0x10000) {
      out[at++] = 0xe0 | (c >> 12);
      out[at++] = 0x80 | ((c >> 6) & 63);
      out[at++] = 0x80 | (c & 63);
    } else {
      out[at++] = 0xf0 | (c >> 18);
      out[at++] = 0x80 | ((c >> 12) & 63);
      out[at++] = 0x80 | ((c >> 6) & 63);
      out[at++] = 0x80 | (c & 63);
      i++;
    }
  }
  return out;
}

/** The code point at `i`: a surrogate pair joined, a lone surrogate as it is. */
function codePointAt(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length) {
    const d = text.charCodeAt(i + 1);
    if (d >= 0xdc00 && d < 0xe000) return 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
  }
  return c;
}

/** Decodes UTF-8; malformed sequences become U+FFFD rather than throwing. */
export function utf8Decode(bytes: Uint8Array): string {
  const parts: string[] = [];
  let units: number[] = [];
  const flush = (): void => {
    if (units.length > 0) parts.push(String.fromCharCode.apply(null, units));
    units = [];
  };
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i]!;
    if (b < 0x80) {
      // A run of ASCII (a provisioning file is all ASCII) goes to fromCharCode as it is: the per-byte
      // work below costs ~78 computrons a byte on XS, most of a reboot's provisioning parse.
      const stop = Math.min(bytes.length, i + CHAR_CODES_AT_ONCE);
      let end = i + 1;
      while (end < stop && bytes[end]! < 0x80) end++;
      flush();
      parts.push(String.fromCharCode.apply(null, bytes.subarray(i, end) as unknown as number[]));
      i = end;
      continue;
    }
    let c = 0xfffd;
    let n = 1;
    if (b >= 0xc2 && b < 0xe0 && i + 1 < bytes.length) [c, n] = [((b & 31) << 6) | (bytes[i + 1]! & 63), 2];
    else if (b >= 0xe0 && b < 0xf0 && i + 2 < bytes.length)
      [c, n] = [((b & 15) << 12) | ((bytes[i + 1]! & 63) << 6) | (bytes[i + 2]! & 63), 3];
    else if (b >= 0xf0 && b < 0xf5 && i + 3 < bytes.length)
      [c, n] = [((b & 7) << 18) | ((bytes[i + 1]! & 63) << 12) | ((bytes[i + 2]! & 63) << 6) | (bytes[i + 3]! & 63), 4];
    if (c > 0x10ffff) units.push(0xfffd);
    else if (c > 0xffff) units.push(0xd800 + ((c - 0x10000) >> 10), 0xdc00 + ((c - 0x10000) & 0x3ff));
    else units.push(c);
    i += n;
    if (units.length >= CHAR_CODES_AT_ONCE) flush();
  }
  flush();
  return parts.join('');
}

// apply() puts every argument on the engine's stack: XS on the ESP32 has a few hundred slots of it.
const CHAR_CODES_AT_ONCE = 64;

export function writeU32(out: Uint8Array, offset: number, value: number): void {
  out[offset] = value >>> 24;
  out[offset + 1] = value >>> 16;
  out[offset + 2] = value >>> 8;
  out[offset + 3] = value;
}

export function readU32(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
}

/** Flips the bits of `mask` in byte `at` (fault injection, test tampering); `at` must be inside `bytes`. */
export function xorByte(bytes: Uint8Array, at: number, mask: number): void {
  const b = bytes[at];
  if (b === undefined) throw new RangeError(`byte ${at} of ${bytes.length}`);
  bytes[at] = b ^ mask;
}

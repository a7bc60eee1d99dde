// A small ISO 7816-4 card for exercising the reader without the wallet: it answers SELECT for its AID,
// READ BINARY with a certificate-sized file (through 61xx GET RESPONSE when asked to), a PAY-shaped
// command, and two test commands for long responses and long commands.
import { concatBytes, equalBytes } from '../../../firmware/base/bytes';
import type { ApduTarget } from './pn532';

export const TEST_AID = Uint8Array.of(0xf0, 0x54, 0x41, 0x50, 0x4c, 0x49, 0x4e, 0x45);
const OK = Uint8Array.of(0x90, 0x00);

export class TestCard implements ApduTarget {
  private readonly aid: Uint8Array;
  private readonly file: Uint8Array;
  /** Longest response the card sends at once before answering 61xx (256 = never). */
  private readonly chunkBytes: number;
  private selected = false;
  private pending: Uint8Array | undefined;
  /** Every C-APDU received, for tests to inspect. */
  readonly received: Uint8Array[] = [];

  constructor(options: { aid?: Uint8Array; fileBytes?: number; chunkBytes?: number } = {}) {
    this.aid = options.aid ?? TEST_AID;
    this.file = pattern(options.fileBytes ?? 200, 0x30);
    this.chunkBytes = options.chunkBytes ?? 256;
  }

  transceive(apdu: Uint8Array): Uint8Array {
    this.received.push(apdu.slice());
    if (apdu.length < 4) return Uint8Array.of(0x67, 0x00);
    const [cla, ins, p1, p2] = [apdu[0]!, apdu[1]!, apdu[2]!, apdu[3]!];
    const body = commandData(apdu);
    if (ins === 0xc0 && cla < 0x80) return this.pending ? this.respond(this.pending) : Uint8Array.of(0x69, 0x85);
    this.pending = undefined;
    if (ins === 0xa4 && p1 === 0x04) {
      this.selected = body !== undefined && equalBytes(body, this.aid);
      return this.selected ? concatBytes(Uint8Array.of(0x6f, 0x03, 0x84, 0x01, 0x01), OK) : Uint8Array.of(0x6a, 0x82);
    }
    if (!this.selected) return Uint8Array.of(0x69, 0x85);
    if (ins === 0xb0) return this.respond(this.file.subarray(Math.min(this.file.length, (p1 << 8) | p2)));
    if (cla === 0x80 && ins === 0x50) {
      // PAY: a signature-sized answer that depends on every byte of the request
      const out = new Uint8Array(72);
      for (let i = 0; i < (body?.length ?? 0); i++) out[i % 72] = (out[i % 72]! + body![i]! * (i + 1)) & 0xff;
      return concatBytes(out, OK);
    }
    if (cla === 0x80 && ins === 0xee) return concatBytes(pattern((p1 << 8) | p2, 0), OK);
    if (cla === 0x80 && ins === 0xed) {
      const n = body?.length ?? 0;
      let sum = 0;
      for (let i = 0; i < n; i++) sum = (sum + body![i]!) & 0xff;
      return Uint8Array.of(n >> 8, n & 0xff, sum, 0x90, 0x00);
    }
    return Uint8Array.of(0x6d, 0x00);
  }

  private respond(data: Uint8Array): Uint8Array {
    if (data.length <= this.chunkBytes) {
      this.pending = undefined;
      return concatBytes(data, OK);
    }
    this.pending = data.subarray(this.chunkBytes);
    return concatBytes(data.subarray(0, this.chunkBytes), Uint8Array.of(0x61, Math.min(this.pending.length, 255) & 0xff));
  }
}

/** The data field of a short or extended C-APDU, if it has one. */
export function commandData(apdu: Uint8Array): Uint8Array | undefined {
  if (apdu.length <= 5) return undefined;
  if (apdu[4] !== 0) return apdu.subarray(5, 5 + apdu[4]!);
  if (apdu.length >= 7) return apdu.subarray(7, 7 + ((apdu[5]! << 8) | apdu[6]!));
  return undefined;
}

export function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (seed + i * 7) & 0xff;
  return out;
}

// PN532 frames (UM0701-02 section 6.2.1): normal and extended information frames, ACK, NACK and the
// error frame. Used by the driver and by the simulated chip, so both sides speak one codec.
import { TaplineError } from '../../firmware/base/errors';

export const HOST_TO_PN532 = 0xd4;
export const PN532_TO_HOST = 0xd5;
export const ERROR_TFI = 0x7f;
/**
 * Most bytes (TFI + data) an extended frame carries: the largest response is InDataExchange's, TFI,
 * response code and status ahead of 262 bytes of DataIn (UM0701-02 7.3.8), LEN 265.
 */
export const MAX_FRAME_DATA_BYTES = 265;

export const ACK_FRAME = Uint8Array.of(0x00, 0x00, 0xff, 0x00, 0xff, 0x00);
export const NACK_FRAME = Uint8Array.of(0x00, 0x00, 0xff, 0xff, 0x00, 0x00);
export const ERROR_FRAME = Uint8Array.of(0x00, 0x00, 0xff, 0x01, 0xff, 0x7f, 0x81, 0x00);

export class FrameError extends TaplineError {
  override readonly name: string = 'FrameError';
}

export type Frame =
  | { kind: 'ack' }
  | { kind: 'nack' }
  /** The chip's "syntax error" frame: the command it was sent was malformed. */
  | { kind: 'error' }
  | { kind: 'info'; tfi: number; data: Uint8Array; extended: boolean }
  /** A frame whose length checked out but whose data checksum did not: ask again with a NACK. */
  | { kind: 'corrupt' };

/** Encodes an information frame: TFI then `data`; extended when TFI + data exceed 255 bytes. */
export function encodeFrame(tfi: number, data: Uint8Array): Uint8Array {
  const len = data.length + 1;
  if (len > MAX_FRAME_DATA_BYTES) throw new FrameError(`frame data too long: ${data.length} bytes (at most ${MAX_FRAME_DATA_BYTES - 1})`);
  const extended = len > 255;
  const head = extended ? 8 : 5;
  const out = new Uint8Array(head + len + 2);
  out[0] = 0x00;
  out[1] = 0x00;
  out[2] = 0xff;
  if (extended) {
    out[3] = 0xff;
    out[4] = 0xff;
    out[5] = len >> 8;
    out[6] = len & 0xff;
    out[7] = (0x100 - ((out[5] + out[6]) & 0xff)) & 0xff;
  } else {
    out[3] = len;
    out[4] = (0x100 - len) & 0xff;
  }
  out[head] = tfi;
  let sum = tfi;
  for (let i = 0; i < data.length; i++) {
    out[head + 1 + i] = data[i]!;
    sum += data[i]!;
  }
  out[head + len] = (0x100 - (sum & 0xff)) & 0xff;
  out[head + len + 1] = 0x00;
  return out;
}

/**
 * Incremental frame parser: feed it the bytes a transport delivers, take frames out. It resynchronises on
 * anything that is not a frame (bus noise, I2C padding, a frame with a bad length checksum) by hunting
 * for the next start code, and it keeps at most `limit` bytes buffered.
 */
export class FrameParser {
  private buffer: Uint8Array;
  private length = 0;
  /** Bytes skipped while hunting for a start code since the parser was created (for logs and tests). */
  skipped = 0;

  constructor(private readonly limit = 1024) {
    this.buffer = new Uint8Array(limit);
  }

  push(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++) {
      if (this.length === this.limit) this.drop(1);
      this.buffer[this.length++] = bytes[i]!;
    }
  }

  /** Bytes the parser still needs before it can tell what the next frame is (at least 1). */
  needed(): number {
    const start = this.findStart();
    if (start < 0) return 6;
    const b = this.buffer;
    const avail = this.length - start;
    if (avail < 4) return 4 - avail;
    const len = b[start + 2]!;
    const lcs = b[start + 3]!;
    if ((len === 0x00 && lcs === 0xff) || (len === 0xff && lcs === 0x00)) return Math.max(1, 5 - avail);
    if (len === 0xff && lcs === 0xff) {
      if (avail < 7) return 7 - avail;
      return Math.max(1, 7 + ((b[start + 4]! << 8) | b[start + 5]!) + 2 - avail);
    }
    return Math.max(1, 4 + len + 2 - avail);
  }

  /** The next complete frame, or undefined until more bytes arrive. Never throws. */
  next(): Frame | undefined {
    for (;;) {
      const start = this.findStart();
      if (start < 0) {
        // keep a trailing 0x00 or 0x00 0xff: it may be the beginning of a start code
        const keep = this.length > 0 && this.buffer[this.length - 1] === 0x00 ? 1 : 0;
        this.drop(this.length - keep);
        return undefined;
      }
      this.drop(start);
      // buffer now begins with 00 FF
      if (this.length < 4) return undefined;
      const len = this.buffer[2]!;
      const lcs = this.buffer[3]!;
      if (len === 0x00 && lcs === 0xff) {
        this.consume(4);
        return { kind: 'ack' };
      }
      if (len === 0xff && lcs === 0x00) {
        this.consume(4);
        return { kind: 'nack' };
      }
      let head: number;
      let dataBytes: number;
      let extended = false;
      if (len === 0xff && lcs === 0xff) {
        if (this.length < 7) return undefined;
        const m = this.buffer[4]!;
        const l = this.buffer[5]!;
        if (((m + l + this.buffer[6]!) & 0xff) !== 0 || ((m << 8) | l) === 0 || ((m << 8) | l) > MAX_FRAME_DATA_BYTES) {
          this.resync();
          continue;
        }
        head = 7;
        dataBytes = (m << 8) | l;
        extended = true;
      } else {
        if (((len + lcs) & 0xff) !== 0 || len === 0) {
          this.resync();
          continue;
        }
        head = 4;
        dataBytes = len;
      }
      if (this.length < head + dataBytes + 1) return undefined;
      let sum = 0;
      for (let i = 0; i < dataBytes + 1; i++) sum += this.buffer[head + i]!;
      if ((sum & 0xff) !== 0) {
        this.consume(head + dataBytes + 1);
        return { kind: 'corrupt' };
      }
      const tfi = this.buffer[head]!;
      const data = this.buffer.slice(head + 1, head + dataBytes);
      this.consume(head + dataBytes + 1);
      if (tfi === ERROR_TFI && dataBytes === 1) return { kind: 'error' };
      return { kind: 'info', tfi, data, extended };
    }
  }

  /** True while a frame has begun but not yet completed. */
  pending(): boolean {
    return this.findStart() >= 0;
  }

  get buffered(): number {
    return this.length;
  }

  /** Forgets everything buffered (after an abort, or before a command whose answer must be fresh). */
  reset(): void {
    this.length = 0;
  }

  private findStart(): number {
    for (let i = 0; i + 1 < this.length; i++) if (this.buffer[i] === 0x00 && this.buffer[i + 1] === 0xff) return i;
    return -1;
  }

  /** Skips the start code of a frame that turned out not to be one. */
  private resync(): void {
    this.drop(2);
  }

  private consume(count: number): void {
    this.buffer.copyWithin(0, count, this.length);
    this.length -= count;
    // the postamble is optional on the wire as far as the parser cares
    if (this.length > 0 && this.buffer[0] === 0x00 && !(this.length > 1 && this.buffer[1] === 0xff)) {
      this.buffer.copyWithin(0, 1, this.length);
      this.length -= 1;
    }
  }

  private drop(count: number): void {
    if (count <= 0) return;
    this.skipped += count;
    this.buffer.copyWithin(0, count, this.length);
    this.length -= count;
  }
}

/** Decodes exactly one whole frame; throws FrameError for anything else. */
export function decodeFrame(bytes: Uint8Array): Frame {
  const parser = new FrameParser(bytes.length + 8);
  parser.push(bytes);
  const frame = parser.next();
  if (!frame) throw new FrameError(`not a complete frame: ${bytes.length} bytes`);
  if (frame.kind === 'corrupt') throw new FrameError('data checksum mismatch');
  if (parser.skipped > 1 || parser.buffered > 0) throw new FrameError('bytes around the frame');
  return frame;
}

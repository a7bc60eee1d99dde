// A flash partition backed by a file, for the simulator: the journal survives restarts of `npm start`.
// Same NOR rules as the device: erase to 0xFF, writes only clear bits.
import { closeSync, existsSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import type { Flash, FlashStatus } from '../../firmware/core/journal/flash';

export class FileFlash implements Flash {
  readonly #fd: number;
  readonly #size: number;
  readonly #blockLength: number;

  constructor(options: { path: string; blocks: number; blockLength?: number }) {
    this.#blockLength = options.blockLength ?? 4096;
    this.#size = options.blocks * this.#blockLength;
    const fresh = !existsSync(options.path);
    this.#fd = openSync(options.path, fresh ? 'w+' : 'r+');
    const have = fstatSync(this.#fd).size;
    if (have < this.#size) {
      // A new or short file is erased flash beyond what it holds.
      writeSync(this.#fd, new Uint8Array(this.#size - have).fill(0xff), 0, this.#size - have, have);
    } else if (have > this.#size) {
      closeSync(this.#fd);
      throw new RangeError(`flash file holds ${have} bytes, more than the ${this.#size} configured`);
    }
  }

  status(): FlashStatus {
    return { size: this.#size, blockLength: this.#blockLength, blocks: this.#size / this.#blockLength };
  }

  read(byteLength: number, byteOffset: number): ArrayBuffer {
    this.#range(byteOffset, byteLength);
    const out = new Uint8Array(byteLength);
    readSync(this.#fd, out, 0, byteLength, byteOffset);
    return out.buffer;
  }

  write(buffer: ArrayBuffer | ArrayBufferView, byteOffset: number): void {
    const bytes = ArrayBuffer.isView(buffer) ? new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength) : new Uint8Array(buffer);
    const current = new Uint8Array(this.read(bytes.length, byteOffset));
    for (let i = 0; i < bytes.length; i++) current[i]! &= bytes[i]!;
    writeSync(this.#fd, current, 0, current.length, byteOffset);
  }

  eraseBlock(start: number, end = start + 1): void {
    this.#range(start * this.#blockLength, (end - start) * this.#blockLength);
    const ff = new Uint8Array(this.#blockLength).fill(0xff);
    for (let b = start; b < end; b++) writeSync(this.#fd, ff, 0, ff.length, b * this.#blockLength);
  }

  close(): void {
    closeSync(this.#fd);
  }

  #range(offset: number, length: number): void {
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > this.#size) {
      throw new RangeError(`range ${offset}+${length} outside ${this.#size} bytes`);
    }
  }
}

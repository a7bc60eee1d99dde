// What native/xsdev gives a script it preloads, as globals: flash partitions in C memory (hostFlash),
// the device's native crypto module (taplineNative), the engine's computrons so far (xsdevMeter) and the
// live-heap switch (xsdevLiveHeap). HostPartition is embedded:storage/flash's partition object over a
// host partition, as the device app sees one. Used by the host app scripts (host/xsdev/guest.ts,
// test/xs/rush-hour.guest.ts).
import type { PartitionFlash } from '../../firmware/app/device-storage';
import type { NativePrimitives } from '../../firmware/app/native';

interface HostFlash {
  create(size: number, blockLength: number): number;
  read(id: number, byteLength: number, byteOffset: number): ArrayBuffer;
  write(id: number, bytes: Uint8Array, byteOffset: number): void;
  erase(id: number, start: number, end: number): void;
  /** size, block length, bytes programmed, bytes erased. */
  stats(id: number): [number, number, number, number];
  ticks(): number;
}

export const xsdev = globalThis as unknown as {
  hostFlash: HostFlash;
  taplineNative: NativePrimitives;
  xsdevMeter: () => number;
  xsdevLiveHeap: (on: boolean) => void;
};

const BLOCK = 4096;

export class HostPartition implements PartitionFlash {
  readonly id: number;
  /** Bytes read (the journal's boot figure). */
  bytesRead = 0;
  constructor(size: number) {
    this.id = xsdev.hostFlash.create(size, BLOCK);
  }
  read(byteLength: number, byteOffset: number): ArrayBuffer {
    this.bytesRead += byteLength;
    return xsdev.hostFlash.read(this.id, byteLength, byteOffset);
  }
  write(buffer: Uint8Array, byteOffset: number): void {
    xsdev.hostFlash.write(this.id, buffer, byteOffset);
  }
  eraseBlock(start: number, end = start + 1): void {
    xsdev.hostFlash.erase(this.id, start, end);
  }
  status(): { size: number; blockLength: number; blocks: number } {
    const [size, blockLength] = xsdev.hostFlash.stats(this.id);
    return { size, blockLength, blocks: size / blockLength };
  }
  /** Bytes programmed and erased so far. */
  counters(): { programmed: number; erased: number } {
    const s = xsdev.hostFlash.stats(this.id);
    return { programmed: s[2], erased: s[3] };
  }
}

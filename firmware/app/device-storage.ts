// The two raw data partitions of the device (manifests/*/partitions.csv): `journal`, handed as is to
// the receipt journal (embedded:storage/flash already has the semantics firmware/core/journal/flash.ts
// wants), and `provision`, holding the provisioning file written with
// `parttool.py write_partition --partition-name provision --input terminal.json` (docs/DEVICE.md).
import { TaplineError } from '../base/errors';
import { utf8Decode } from '../base/bytes';
import type { Flash } from '../core/journal/flash';

export const JOURNAL_PARTITION = 'journal';
export const PROVISION_PARTITION = 'provision';
/** The journal needs at least this much: fewer blocks leave no room to compact while unsent receipts wait. */
export const MIN_JOURNAL_BYTES = 64 * 1024;

export class PartitionError extends TaplineError {
  override readonly name: string = 'PartitionError';
}

/** What `embedded:storage/flash` gives on the device: write takes bytes, not any view. */
export interface PartitionFlash {
  read(byteLength: number, byteOffset: number): ArrayBuffer;
  write(buffer: Uint8Array, byteOffset: number): void;
  eraseBlock(start: number, end?: number): void;
  status(): { size: number; blockLength: number; blocks: number };
}

/** Presents a device partition as the journal's Flash (any view is copied to bytes before writing). */
export class PartitionAdapter implements Flash {
  readonly #partition: PartitionFlash;
  /** The partition's own read, bound: no frame of ours per read (a boot reads every block's header). */
  readonly read: (byteLength: number, byteOffset: number) => ArrayBuffer;

  constructor(partition: PartitionFlash) {
    this.#partition = partition;
    this.read = partition.read.bind(partition);
  }

  write(buffer: ArrayBuffer | ArrayBufferView, byteOffset: number): void {
    const bytes = buffer instanceof Uint8Array ? buffer
      : ArrayBuffer.isView(buffer) ? new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
      : new Uint8Array(buffer);
    this.#partition.write(bytes, byteOffset);
  }

  eraseBlock(start: number, end?: number): void {
    this.#partition.eraseBlock(start, end);
  }

  status(): { size: number; blockLength: number; blocks: number } {
    const s = this.#partition.status();
    return { size: s.size, blockLength: s.blockLength, blocks: s.blocks };
  }
}

/** Checks that a partition can hold the journal: 4 KB NOR blocks, enough of them. */
export function checkJournalPartition(flash: Flash): { size: number; blocks: number } {
  const status = flash.status();
  if (status.blockLength !== 4096) throw new PartitionError(`journal partition has ${status.blockLength}-byte blocks, expected 4096`);
  if (status.size < MIN_JOURNAL_BYTES) throw new PartitionError(`journal partition of ${status.size} bytes is smaller than ${MIN_JOURNAL_BYTES}`);
  return { size: status.size, blocks: status.blocks };
}

/**
 * The provisioning file stored in a raw partition: its bytes up to the first erased (0xFF) or NUL
 * byte, neither of which occurs in UTF-8 JSON. Throws PartitionError when the partition is blank.
 */
export function readProvisioningText(flash: Flash, chunkBytes = 512): string {
  const { size } = flash.status();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (let offset = 0; offset < size; offset += chunkBytes) {
    const bytes = new Uint8Array(flash.read(Math.min(chunkBytes, size - offset), offset));
    // the file ends at erased flash (0xFF) or a NUL; indexOf scans natively (a byte loop in XS is ~25 computrons a byte)
    const erased = bytes.indexOf(0xff);
    const nul = bytes.indexOf(0x00);
    const end = Math.min(erased < 0 ? bytes.length : erased, nul < 0 ? bytes.length : nul);
    parts.push(bytes.subarray(0, end));
    total += end;
    if (end < bytes.length) break;
  }
  if (total === 0) throw new PartitionError(`partition "${PROVISION_PARTITION}" is blank: write the terminal's provisioning file to it (docs/DEVICE.md)`);
  const all = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return utf8Decode(all);
}

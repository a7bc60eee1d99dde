// The hashing seam: SHA-256 for the journal's hash chain and the certificate digests, CRC-32 for the
// journal's torn-write check. The JavaScript versions (noble's SHA-256, firmware/core/journal/crc32.ts)
// are the defaults and the reference; the device passes C ones (firmware/app/native.ts), which boot
// checks against the reference before use.
export interface HashPort {
  /** SHA-256 of the concatenation of `parts` (no copy into one buffer needed). */
  sha256(parts: Uint8Array[]): Uint8Array;
  /** CRC-32 (IEEE 802.3, reflected, as zlib) of bytes[start..end). */
  crc32(bytes: Uint8Array, start: number, end: number): number;
  /**
   * The journal's block header check (firmware/core/journal/journal.ts parseBlockHeader, its
   * reference), where the port has one of its own: a boot makes it for every block of the partition.
   */
  blockHeader?(bytes: Uint8Array | ArrayBuffer, out: Uint32Array): boolean;
}

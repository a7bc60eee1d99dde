// CRC-32 (IEEE 802.3, reflected, as zlib): the journal's torn-write check. The table lives in an
// instance, not at module level, so a preloaded firmware keeps no mutable module state.

export class Crc32 {
  readonly #table = new Uint32Array(256);

  constructor() {
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      this.#table[n] = c >>> 0;
    }
  }

  compute(bytes: Uint8Array, start = 0, end = bytes.length): number {
    const table = this.#table;
    let c = 0xffffffff;
    for (let i = start; i < end; i++) c = table[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  }
}

// The flash the journal writes: the semantics of Moddable's `embedded:storage/flash` (ECMA-419 style).
// NOR rules: eraseBlock sets a whole block to 0xFF; write can only turn 1 bits into 0 bits; read
// anywhere. The device passes the object `embedded:storage/flash` opens; the simulator a file-backed
// flash; the tests a RAM flash that can lose power mid-operation (host/flash/).

export interface FlashStatus {
  /** Bytes in the partition. */
  size: number;
  /** Bytes per erase block (4096 on ESP32 SPI NOR). */
  blockLength: number;
  blocks: number;
}

export interface Flash {
  /** Reads `byteLength` bytes at `byteOffset` into a new ArrayBuffer. */
  read(byteLength: number, byteOffset: number): ArrayBuffer;
  /** Programs `buffer` at `byteOffset` (it can only clear bits). */
  write(buffer: ArrayBuffer | ArrayBufferView, byteOffset: number): void;
  /** Erases blocks `start` up to `end` (exclusive; default start + 1) to 0xFF. */
  eraseBlock(start: number, end?: number): void;
  status(): FlashStatus;
}

export function readBytes(flash: Flash, byteOffset: number, byteLength: number): Uint8Array {
  return new Uint8Array(flash.read(byteLength, byteOffset));
}

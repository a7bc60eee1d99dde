// How PN532 frames travel on each of the chip's host interfaces (UM0701-02 section 6.2.5). The driver
// (drivers/pn532/pn532.ts) speaks frames; a transport moves their bytes and knows the interface's
// quirks: the I2C status byte, the SPI prefixes and bit order, the UART wake-up preamble.
import type { Clock } from '../../firmware/base/platform';
import { asBytes, type I2C, type Serial, type SPI } from '../io';

export interface PN532Transport {
  readonly name: 'i2c' | 'spi' | 'uart';
  /** Bytes clocked on the bus in each direction since the transport was made. */
  readonly stats: { written: number; read: number };
  /** Brings the chip out of power-down (or, on UART, out of its power-up low-battery mode). */
  wake(): Promise<void>;
  write(frame: Uint8Array): Promise<void>;
  /**
   * Some of the chip's output, or undefined while it has nothing ready. `wanted` is how many bytes the
   * reader needs next; `most` the longest frame it can expect (I2C must read a frame in one go).
   */
  read(wanted: number, most: number): Uint8Array | undefined;
  close(): void;
}

/** I2C: every read starts with a status byte; 0x01 means the chip has a frame for the host. */
export class PN532I2C implements PN532Transport {
  readonly name = 'i2c';
  readonly stats = { written: 0, read: 0 };
  private readonly io: I2C;

  constructor(options: { io: I2C }) {
    this.io = options.io;
  }

  async wake(): Promise<void> {
    // The chip wakes on its own address; the first transaction after power-down may be refused,
    // which the driver's command retry covers.
  }

  async write(frame: Uint8Array): Promise<void> {
    this.stats.written += frame.length;
    this.io.write(frame);
  }

  read(_wanted: number, most: number): Uint8Array | undefined {
    this.stats.read += 1;
    const status = asBytes(this.io.read(1));
    if ((status[0]! & 0x01) === 0) return undefined;
    this.stats.read += most + 1;
    const bytes = asBytes(this.io.read(most + 1));
    return bytes.subarray(1);
  }

  close(): void {
    this.io.close();
  }
}

/** Reverses the bit order of a byte: the PN532 shifts LSB first, the ESP32's SPI MSB first. */
export function reverseBits(byte: number): number {
  byte = ((byte & 0xf0) >> 4) | ((byte & 0x0f) << 4);
  byte = ((byte & 0xcc) >> 2) | ((byte & 0x33) << 2);
  return ((byte & 0xaa) >> 1) | ((byte & 0x55) << 1);
}

export const SPI_DATA_WRITE = 0x01;
export const SPI_STATUS_READ = 0x02;
export const SPI_DATA_READ = 0x03;

/** SPI (mode 0): each transaction opens with a prefix byte; every byte is bit-reversed in software. */
export class PN532SPI implements PN532Transport {
  readonly name = 'spi';
  readonly stats = { written: 0, read: 0 };
  private readonly io: SPI;

  constructor(options: { io: SPI }) {
    this.io = options.io;
  }

  async wake(): Promise<void> {}

  async write(frame: Uint8Array): Promise<void> {
    const buffer = new Uint8Array(frame.length + 1);
    buffer[0] = reverseBits(SPI_DATA_WRITE);
    for (let i = 0; i < frame.length; i++) buffer[i + 1] = reverseBits(frame[i]!);
    this.transact(buffer);
  }

  read(wanted: number): Uint8Array | undefined {
    const status = Uint8Array.of(reverseBits(SPI_STATUS_READ), 0);
    this.transact(status);
    if (reverseBits(status[1]!) !== 0x01) return undefined;
    const buffer = new Uint8Array(wanted + 1);
    buffer[0] = reverseBits(SPI_DATA_READ);
    this.transact(buffer);
    const out = new Uint8Array(wanted);
    for (let i = 0; i < wanted; i++) out[i] = reverseBits(buffer[i + 1]!);
    return out;
  }

  close(): void {
    this.io.close();
  }

  private transact(buffer: Uint8Array): void {
    this.stats.written += buffer.length;
    this.stats.read += buffer.length;
    this.io.transfer(buffer);
    this.io.flush(true);
  }
}

/** The HSU wake-up preamble: 0x55 wakes the chip, the zeros give it time to start listening. */
export const UART_WAKE_PREAMBLE = Uint8Array.of(0x55, 0x55, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

/** HSU (UART, 115200 8N1): a byte stream; the chip must be woken before it listens. */
export class PN532UART implements PN532Transport {
  readonly name = 'uart';
  readonly stats = { written: 0, read: 0 };
  private readonly io: Serial;
  private readonly clock: Clock;
  private readonly chunk: number;

  constructor(options: { io: Serial; clock: Clock; chunk?: number }) {
    this.io = options.io;
    this.clock = options.clock;
    // The ESP32 UART has a 128-byte FIFO and Moddable no software buffer behind it.
    this.chunk = options.chunk ?? 64;
  }

  async wake(): Promise<void> {
    await this.write(UART_WAKE_PREAMBLE);
  }

  async write(frame: Uint8Array): Promise<void> {
    let stalls = 0;
    for (let offset = 0; offset < frame.length; ) {
      const part = frame.subarray(offset, Math.min(frame.length, offset + this.chunk));
      try {
        this.io.write(part);
      } catch (error) {
        if (!(error instanceof Error) || error.message !== 'output full' || ++stalls > 50) throw error;
        // 64 bytes at 115200 baud drain in about 6 ms
        await this.clock.sleep(2);
        continue;
      }
      this.stats.written += part.length;
      offset += part.length;
    }
  }

  read(): Uint8Array | undefined {
    const data = this.io.read();
    if (data === undefined || data.byteLength === 0) return undefined;
    this.stats.read += data.byteLength;
    return asBytes(data);
  }

  close(): void {
    this.io.close();
  }
}

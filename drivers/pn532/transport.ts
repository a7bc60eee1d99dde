// How PN532 frames travel on each of the chip's host interfaces (UM0701-02 section 6.2.5). The driver
// (drivers/pn532/pn532.ts) speaks frames; a transport moves their bytes and knows the interface's
// quirks: the I2C status byte, the SPI prefixes and bit order, the UART wake-up preamble.
import type { Clock } from '../../firmware/base/platform';
import { asBytes, checkRange, closed, type I2C, type I2CDriverOptions, type IOClass, type Serial, type SerialOptions, type SPI, type SPIOptions } from '../io';

/** UM0701-02 6.2.4: the PN532's I2C address is 0x48 in 8 bits, 0x24 in the 7 bits ECMA-419 takes. */
export const PN532_I2C_ADDRESS = 0x24;
/** PN532 datasheet 8.3: I2C fast mode, up to 400 kHz. */
export const PN532_I2C_HZ = 400_000;
/** PN532 datasheet 8.2: SPI up to 5 MHz; 1 MHz is what the breakout boards are run at, long wires included. */
export const PN532_SPI_HZ = 1_000_000;
export const PN532_SPI_HZ_MAX = 5_000_000;
/** UM0701-02 6.2.3: HSU at 115200 baud after power-up. */
export const PN532_UART_BAUD = 115_200;

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

/** `address` 0x24 (fixed by the chip), `hz` up to 400 kHz. */
export type PN532I2COptions = I2CDriverOptions;

export interface PN532SPIOptions {
  /** The ECMA-419 SPI class (`device.io.SPI`). */
  io: IOClass<SPIOptions, SPI>;
  /** SCK, MISO, MOSI and SS pins, and the controller. */
  clock: number;
  in: number;
  out: number;
  select: number;
  port?: number;
  hz?: number;
  mode?: number;
}

export interface PN532UARTOptions {
  /** The ECMA-419 Serial class (`device.io.Serial`). */
  io: IOClass<SerialOptions, Serial>;
  transmit?: number;
  receive?: number;
  port?: number;
  baud?: number;
  /** Waits while the transmit FIFO drains. */
  clock: Clock;
  /** Bytes per write, at most what the transmit FIFO holds. */
  chunkBytes?: number;
}

/** I2C: every read starts with a status byte; 0x01 means the chip has a frame for the host. */
export class PN532I2C implements PN532Transport {
  readonly name = 'i2c';
  readonly stats = { written: 0, read: 0 };
  #io: I2C | undefined;

  constructor(options: PN532I2COptions) {
    const address = checkRange('PN532 address', options.address ?? PN532_I2C_ADDRESS, 0x08, 0x77);
    const hz = checkRange('PN532 hz', options.hz ?? PN532_I2C_HZ, 1, PN532_I2C_HZ);
    this.#io = new options.io({ data: options.data, clock: options.clock, port: options.port, address, hz });
  }

  async wake(): Promise<void> {
    // The chip wakes on its own address; the first transaction after power-down may be refused,
    // which the driver's command retry covers.
  }

  async write(frame: Uint8Array): Promise<void> {
    const io = this.#io ?? closed('PN532 I2C');
    this.stats.written += frame.length;
    io.write(frame);
  }

  read(_wanted: number, most: number): Uint8Array | undefined {
    const io = this.#io ?? closed('PN532 I2C');
    this.stats.read += 1;
    const status = asBytes(io.read(1));
    if ((status[0]! & 0x01) === 0) return undefined;
    this.stats.read += most + 1;
    const bytes = asBytes(io.read(most + 1));
    return bytes.subarray(1);
  }

  /** Closes the bus; a second call does nothing. */
  close(): void {
    this.#io?.close();
    this.#io = undefined;
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
  #io: SPI | undefined;

  constructor(options: PN532SPIOptions) {
    const hz = checkRange('PN532 hz', options.hz ?? PN532_SPI_HZ, 1, PN532_SPI_HZ_MAX);
    // UM0701-02 6.2.5: the chip samples on the rising edge with the clock idle low, mode 0 only
    const mode = checkRange('PN532 SPI mode', options.mode ?? 0, 0, 0);
    this.#io = new options.io({ clock: options.clock, in: options.in, out: options.out, select: options.select, port: options.port, hz, mode });
  }

  async wake(): Promise<void> {}

  async write(frame: Uint8Array): Promise<void> {
    const buffer = new Uint8Array(frame.length + 1);
    buffer[0] = reverseBits(SPI_DATA_WRITE);
    for (let i = 0; i < frame.length; i++) buffer[i + 1] = reverseBits(frame[i]!);
    transact(this.#io, this.stats, buffer);
  }

  read(wanted: number): Uint8Array | undefined {
    const status = Uint8Array.of(reverseBits(SPI_STATUS_READ), 0);
    transact(this.#io, this.stats, status);
    if (reverseBits(status[1]!) !== 0x01) return undefined;
    const buffer = new Uint8Array(wanted + 1);
    buffer[0] = reverseBits(SPI_DATA_READ);
    transact(this.#io, this.stats, buffer);
    const out = new Uint8Array(wanted);
    for (let i = 0; i < wanted; i++) out[i] = reverseBits(buffer[i + 1]!);
    return out;
  }

  /** Closes the bus; a second call does nothing. */
  close(): void {
    this.#io?.close();
    this.#io = undefined;
  }

}

/** One SPI transaction: the bytes out, the bytes in, chip select raised. */
function transact(io: SPI | undefined, stats: { written: number; read: number }, buffer: Uint8Array): void {
  if (!io) closed('PN532 SPI');
  stats.written += buffer.length;
  stats.read += buffer.length;
  io.transfer(buffer);
  io.flush(true);
}

/** The HSU wake-up preamble: 0x55 wakes the chip, the zeros give it time to start listening. */
export const UART_WAKE_PREAMBLE = Uint8Array.of(0x55, 0x55, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

/** HSU (UART, 115200 8N1): a byte stream; the chip must be woken before it listens. */
export class PN532UART implements PN532Transport {
  readonly name = 'uart';
  readonly stats = { written: 0, read: 0 };
  #io: Serial | undefined;
  readonly #clock: Clock;
  readonly #chunkBytes: number;

  constructor(options: PN532UARTOptions) {
    this.#clock = options.clock;
    // The ESP32 UART has a 128-byte FIFO and Moddable no software buffer behind it.
    this.#chunkBytes = checkRange('PN532 UART chunkBytes', options.chunkBytes ?? 64, 1, 255);
    const baud = checkRange('PN532 baud', options.baud ?? PN532_UART_BAUD, 9600, 1_288_000);
    this.#io = new options.io({ transmit: options.transmit, receive: options.receive, port: options.port, baud });
  }

  async wake(): Promise<void> {
    await this.write(UART_WAKE_PREAMBLE);
  }

  async write(frame: Uint8Array): Promise<void> {
    let stalls = 0;
    for (let offset = 0; offset < frame.length; ) {
      const part = frame.subarray(offset, Math.min(frame.length, offset + this.#chunkBytes));
      try {
        (this.#io ?? closed('PN532 UART')).write(part);
      } catch (error) {
        if (!(error instanceof Error) || error.message !== 'output full' || ++stalls > 50) throw error;
        // 64 bytes at 115200 baud drain in about 6 ms
        await this.#clock.sleep(2);
        continue;
      }
      this.stats.written += part.length;
      offset += part.length;
    }
  }

  read(): Uint8Array | undefined {
    const data = (this.#io ?? closed('PN532 UART')).read();
    if (data === undefined || data.byteLength === 0) return undefined;
    this.stats.read += data.byteLength;
    return asBytes(data);
  }

  /** Closes the port; a second call does nothing. */
  close(): void {
    this.#io?.close();
    this.#io = undefined;
  }
}

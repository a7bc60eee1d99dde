// The few ECMA-419 IO classes the drivers use, as Moddable implements them on ESP32
// (embedded:io/i2c, embedded:io/spi, embedded:io/serial, embedded:io/digitalbank). Reads and
// writes are synchronous; a bus error throws. Drivers take instances of these in their options, so
// the device passes Moddable's objects and the tests pass the simulated ones from host/sim/hw/.

/** Bytes as ECMA-419 accepts them: an ArrayBuffer or a view on one. */
export type BufferSource = ArrayBuffer | ArrayBufferView;

export interface I2C {
  /** Reads `count` bytes in one transaction; throws Error("read failed") when the device does not acknowledge. */
  read(count: number, stop?: boolean): ArrayBuffer;
  /** Writes the bytes in one transaction; throws Error("write failed") when the device does not acknowledge. */
  write(buffer: BufferSource, stop?: boolean): void;
  close(): void;
}

export interface I2COptions {
  data: number;
  clock: number;
  hz: number;
  address: number;
  port?: number;
  timeout?: number;
}

export interface SPI {
  /** Full duplex: the bytes of `buffer` are sent and replaced by the bytes received. */
  transfer(buffer: ArrayBufferView): void;
  /** Ends the transaction (`deselect` raises chip select). */
  flush(deselect?: boolean): void;
  close(): void;
}

export interface SPIOptions {
  clock: number;
  hz: number;
  out?: number;
  in?: number;
  select?: number;
  mode?: number;
  port?: number;
}

export interface Serial {
  /** The bytes received so far, or undefined when the receive FIFO is empty. */
  read(): ArrayBuffer | undefined;
  /** Throws Error("output full") when the bytes do not fit the transmit FIFO. */
  write(buffer: BufferSource): void;
  close(): void;
}

export interface SerialOptions {
  baud: number;
  transmit?: number;
  receive?: number;
  port?: number;
  onReadable?: (count: number) => void;
}

export interface DigitalBank {
  /** The level of every pin of the bank, one bit per pin (bit n = GPIO n). */
  read(): number;
  /** Sets the output pins of the bank; bits outside `pins` are ignored. */
  write(value: number): void;
  close(): void;
}

export interface DigitalBankOptions {
  pins: number;
  mode: number;
  bank?: number;
}

/** embedded:io/pwm: the frequency is fixed when it is opened; `write` sets the duty (0..2^resolution - 1). */
export interface PWM {
  readonly resolution: number;
  write(value: number): void;
  close(): void;
}

export interface PWMOptions {
  pin: number;
  hz: number;
  resolution?: number;
}

/** ECMA-419 pin modes (embedded:io/digital). */
export const PinMode = {
  Input: 0,
  InputPullUp: 1,
  InputPullDown: 2,
  Output: 8,
  OutputOpenDrain: 9,
} as const;

/** Views any BufferSource as bytes, without copying. */
export function asBytes(buffer: BufferSource): Uint8Array {
  if (buffer instanceof Uint8Array) return buffer;
  if (ArrayBuffer.isView(buffer)) return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  return new Uint8Array(buffer);
}

/** An ECMA-419 IO class: a driver opens its own instance with the datasheet defaults, and closes it. */
export type IOClass<Options, Instance> = new (options: Options) => Instance;

/** What a driver on I2C takes: the class it opens, the pins, and the address and speed when not the datasheet's. */
export interface I2CDriverOptions {
  /** The ECMA-419 I2C class (`device.io.I2C`); the driver opens the bus and owns it. */
  io: IOClass<I2COptions, I2C>;
  /** SDA and SCL pins, and the controller (ESP32: 0 or 1). */
  data: number;
  clock: number;
  port?: number;
  address?: number;
  hz?: number;
}

/** A driver option that must be a whole number in [min, max]; anything else is a RangeError naming it. */
export function checkRange(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`${name} must be an integer from ${min} to ${max}, not ${String(value)}`);
  return value;
}

/** Thrown by a driver used after close(), as ECMA-419's IO classes do: `this.#io ?? closed('X')`. */
export function closed(what: string): never {
  throw new Error(`${what} is closed`);
}

/** A DigitalBank's `bank` and `pins` mask for GPIO numbers: a bank holds 32 pins, and all must share one. */
export function bankMask(pins: readonly number[]): { bank: number; mask: number } {
  if (pins.length === 0) throw new RangeError('no pins');
  const bank = Math.floor(pins[0]! / 32);
  let mask = 0;
  for (const p of pins) {
    checkRange('GPIO', p, 0, 63);
    if (Math.floor(p / 32) !== bank) throw new RangeError(`GPIO${p} is not in bank ${bank} with GPIO${pins[0]}`);
    mask |= 1 << (p % 32);
  }
  return { bank, mask: mask >>> 0 };
}

/** An IO instance that is already open (Node's serial ports open asynchronously), as a class a driver can open once. */
export function alreadyOpen<Options, Instance>(instance: Instance): IOClass<Options, Instance> {
  let taken = false;
  return class {
    constructor() {
      if (taken) throw new RangeError('in use');
      taken = true;
      return instance as object;
    }
  } as unknown as IOClass<Options, Instance>;
}

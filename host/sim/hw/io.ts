// Simulated ECMA-419 IO classes with the interfaces of drivers/io.ts: they connect a driver to the
// bus-level device models in this folder, and count what crosses the bus. They keep ECMA-419's rules
// so a test sees a leak: opening an address or pins that are still open is a RangeError ("in use"), and
// any use after close() throws ("closed"); close() itself may be called twice.
import { asBytes, type BufferSource, type DigitalBank, type DigitalBankOptions, type I2C, type I2COptions, type IOClass, type Serial, type SerialOptions, type SPI, type SPIOptions } from '../../../drivers/io';

export interface I2CDevice {
  i2cWrite(bytes: Uint8Array): void;
  i2cRead(count: number): Uint8Array;
}

/** The wires SDA/SCL with the devices on them, by 7-bit address. */
export class SimI2CBus {
  private readonly devices = new Map<number, I2CDevice>();
  /** Addresses an open SimI2C holds. */
  readonly open = new Set<number>();
  /** Bytes clocked on the bus, address bytes included. */
  readonly stats = { transactions: 0, bytes: 0 };

  attach(address: number, device: I2CDevice): void {
    this.devices.set(address, device);
  }

  device(address: number): I2CDevice | undefined {
    return this.devices.get(address);
  }
}

export class SimI2C implements I2C {
  private readonly bus: SimI2CBus;
  private readonly address: number;
  private closed = false;

  constructor(options: I2COptions & { bus: SimI2CBus }) {
    if (!(options.address >= 0 && options.address < 0x80)) throw new RangeError('invalid address');
    if (!(options.hz > 0 && options.hz <= 1_000_000)) throw new RangeError('invalid hz');
    if (options.bus.open.has(options.address)) throw new RangeError('in use');
    this.bus = options.bus;
    this.address = options.address;
    this.bus.open.add(this.address);
  }

  read(count: number): ArrayBuffer {
    const device = this.use('read');
    this.bus.stats.bytes += 1 + count;
    return toArrayBuffer(device.i2cRead(count));
  }

  write(buffer: BufferSource): void {
    const device = this.use('write');
    const bytes = asBytes(buffer).slice();
    this.bus.stats.bytes += 1 + bytes.length;
    device.i2cWrite(bytes);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.bus.open.delete(this.address);
  }

  private use(what: 'read' | 'write'): I2CDevice {
    if (this.closed) throw new Error('closed');
    this.bus.stats.transactions++;
    const device = this.bus.device(this.address);
    // nobody acknowledged the address
    if (!device) throw new Error(`${what} failed`);
    return device;
  }
}

export interface SPIDevice {
  /** One transaction (chip select low, then high): the bytes on MOSI, returns the bytes on MISO. */
  spiTransfer(bytes: Uint8Array): Uint8Array;
}

export class SimSPI implements SPI {
  private readonly device: SPIDevice;
  private pending: Uint8Array[] = [];
  private readonly pendingViews: ArrayBufferView[] = [];
  readonly stats = { transactions: 0, bytes: 0 };
  private closed = false;

  constructor(options: SPIOptions & { device: SPIDevice }) {
    claim(options.device);
    this.device = options.device;
  }

  transfer(buffer: ArrayBufferView): void {
    if (this.closed) throw new Error('closed');
    // bytes clocked under one chip select form one transaction for the device
    const bytes = asBytes(buffer);
    this.pending.push(bytes.slice());
    this.pendingViews.push(buffer);
    this.stats.bytes += bytes.length;
  }

  flush(deselect = true): void {
    if (this.closed) throw new Error('closed');
    if (!deselect || this.pending.length === 0) return;
    let length = 0;
    for (const p of this.pending) length += p.length;
    const mosi = new Uint8Array(length);
    let at = 0;
    for (const p of this.pending) {
      mosi.set(p, at);
      at += p.length;
    }
    const miso = this.device.spiTransfer(mosi);
    at = 0;
    for (const view of this.pendingViews) {
      const out = asBytes(view);
      out.set(miso.subarray(at, at + out.length));
      at += out.length;
    }
    this.pending = [];
    this.pendingViews.length = 0;
    this.stats.transactions++;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    release(this.device);
  }
}

export interface SerialDevice {
  uartWrite(bytes: Uint8Array): void;
  uartRead(): Uint8Array | undefined;
}

export class SimSerial implements Serial {
  private readonly device: SerialDevice;
  private readonly fifo: number;
  readonly stats = { bytes: 0 };
  private closed = false;

  constructor(options: SerialOptions & { device: SerialDevice; fifo?: number }) {
    if (!(options.baud > 0)) throw new RangeError('invalid baud');
    claim(options.device);
    this.device = options.device;
    this.fifo = options.fifo ?? 128;
  }

  read(): ArrayBuffer | undefined {
    if (this.closed) throw new Error('closed');
    const bytes = this.device.uartRead();
    if (!bytes) return undefined;
    this.stats.bytes += bytes.length;
    return toArrayBuffer(bytes);
  }

  write(buffer: BufferSource): void {
    if (this.closed) throw new Error('closed');
    const bytes = asBytes(buffer);
    // no software buffer, as on the ESP32
    if (bytes.length > this.fifo) throw new Error('output full');
    this.stats.bytes += bytes.length;
    this.device.uartWrite(bytes.slice());
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    release(this.device);
  }
}

/** What a bank of pins is wired to: the levels it sees given what every output drives. */
export interface PinNetwork {
  /** Levels of `pins` as read by an input bank (bit n = GPIO n). */
  levels(pins: number): number;
  /** An output bank sets its pins (`value` bits within `pins`; open drain: 1 = released). */
  drive(pins: number, value: number): void;
}

export class SimDigitalBank implements DigitalBank {
  private readonly pins: number;
  private readonly network: PinNetwork;
  private readonly bank: string;
  private closed = false;

  constructor(options: DigitalBankOptions & { network: PinNetwork }) {
    const key = `${options.bank ?? 0}`;
    const taken = pinsOpen.get(options.network) ?? new Map<string, number>();
    if (((taken.get(key) ?? 0) & options.pins) !== 0) throw new RangeError('in use');
    taken.set(key, (taken.get(key) ?? 0) | options.pins);
    pinsOpen.set(options.network, taken);
    this.bank = key;
    this.pins = options.pins;
    this.network = options.network;
  }

  read(): number {
    if (this.closed) throw new Error('closed');
    return this.network.levels(this.pins) & this.pins;
  }

  write(value: number): void {
    if (this.closed) throw new Error('closed');
    this.network.drive(this.pins, value & this.pins);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const taken = pinsOpen.get(this.network);
    taken?.set(this.bank, (taken.get(this.bank) ?? 0) & ~this.pins);
  }
}

/** The pins of each network that an open bank holds, and the SPI and UART devices an open instance holds. */
const pinsOpen = new WeakMap<PinNetwork, Map<string, number>>();
const devicesOpen = new WeakSet<object>();

function claim(device: object): void {
  if (devicesOpen.has(device)) throw new RangeError('in use');
  devicesOpen.add(device);
}

function release(device: object): void {
  devicesOpen.delete(device);
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/** The ECMA-419 classes a driver opens, bound to a simulated bus, device or pin network. */
export function i2cOn(bus: SimI2CBus): IOClass<I2COptions, I2C> {
  return class extends SimI2C {
    constructor(options: I2COptions) {
      super({ ...options, bus });
    }
  };
}

export function spiOn(device: SPIDevice): IOClass<SPIOptions, SPI> {
  return class extends SimSPI {
    constructor(options: SPIOptions) {
      super({ ...options, device });
    }
  };
}

export function serialOn(device: SerialDevice, fifo?: number): IOClass<SerialOptions, Serial> {
  return class extends SimSerial {
    constructor(options: SerialOptions) {
      super({ ...options, device, fifo });
    }
  };
}

export function digitalBankOn(network: PinNetwork): IOClass<DigitalBankOptions, DigitalBank> {
  return class extends SimDigitalBank {
    constructor(options: DigitalBankOptions) {
      super({ ...options, network });
    }
  };
}

// Node only: the Serial interface of drivers/io.ts over a Node byte stream (a real serial port through
// the optional `serialport` package, or anything with the same write/on('data')/close shape), and a
// wall clock, so the PN532 driver can run on a laptop against a reader on a USB-UART adapter:
//   npm install --no-save serialport && npx tsx host/sim/hw/serial-node.ts /dev/ttyUSB0
import { performance } from 'node:perf_hooks';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Clock, Log } from '../../../firmware/base/platform';
import { toHex } from '../../../firmware/base/bytes';
import { alreadyOpen, asBytes, type BufferSource, type Serial } from '../../../drivers/io';
import { PN532 } from '../../../drivers/pn532/pn532';
import { NfcReader } from '../../../drivers/pn532/reader';
import { PN532UART } from '../../../drivers/pn532/transport';

/** The part of a Node serial port (or duplex stream) the adapter uses. */
export interface BytePort {
  write(data: Uint8Array): unknown;
  on(event: 'data', listener: (chunk: Uint8Array) => void): unknown;
  close(callback?: (error?: Error | null) => void): unknown;
}

export class NodeSerial implements Serial {
  private readonly port: BytePort;
  private readonly limit: number;
  private received: Uint8Array[] = [];
  private count = 0;
  private closed = false;

  constructor(options: { port: BytePort; onReadable?: (count: number) => void; limit?: number }) {
    this.port = options.port;
    // a bound on what piles up unread, like a UART FIFO: bytes past it are lost, not hoarded
    this.limit = options.limit ?? 4096;
    this.port.on('data', (chunk) => {
      if (this.count + chunk.length > this.limit) return;
      this.received.push(Uint8Array.from(chunk));
      this.count += chunk.length;
      options.onReadable?.(chunk.length);
    });
  }

  read(): ArrayBuffer | undefined {
    if (this.count === 0) return undefined;
    const out = new Uint8Array(this.count);
    let at = 0;
    for (const c of this.received) {
      out.set(c, at);
      at += c.length;
    }
    this.received = [];
    this.count = 0;
    return out.buffer;
  }

  write(buffer: BufferSource): void {
    if (this.closed) throw new Error('closed');
    this.port.write(asBytes(buffer).slice());
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.port.close();
  }
}

/** Real time, for driving real hardware from Node. */
export class SystemClock implements Clock {
  now(): number {
    return performance.now();
  }

  sleep(ms: number): Promise<void> {
    return new Promise((done) => setTimeout(done, ms));
  }

  wallTime(): number | undefined {
    return Math.floor(Date.now() / 1000);
  }
}

/** Opens a serial port with the optional `serialport` package. */
export async function openSerialPort(path: string, baudRate = 115_200): Promise<NodeSerial> {
  const name = 'serialport';
  let mod: { SerialPort: new (o: { path: string; baudRate: number; autoOpen: boolean }) => BytePort & { open(cb: (e?: Error | null) => void): void } };
  try {
    mod = await import(name);
  } catch {
    throw new Error('the serialport package is not installed (npm install --no-save serialport)');
  }
  const port = new mod.SerialPort({ path, baudRate, autoOpen: false });
  await new Promise<void>((done, fail) => port.open((error) => (error ? fail(error) : done())));
  return new NodeSerial({ port });
}

/** Brings up the reader on `serial` and reports the first card it sees. */
export async function probe(serial: Serial, clock: Clock, log: Log, waitMs = 10_000): Promise<string> {
  const reader = new NfcReader({ pn532: new PN532({ transport: new PN532UART({ io: alreadyOpen(serial), clock }), clock, log }), log });
  try {
    const fw = await reader.begin();
    const tap = await reader.waitForCard(waitMs);
    if (!tap) return `PN532 ${fw.version}.${fw.revision}: no card within ${waitMs} ms`;
    const ats = tap.target.ats ? toHex(tap.target.ats) : '-';
    await reader.release(tap);
    return `PN532 ${fw.version}.${fw.revision}: card ${toHex(tap.target.uid)} SAK ${tap.target.selRes.toString(16)} ATS ${ats}`;
  } finally {
    reader.close();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const path = process.argv[2];
  if (!path) {
    console.error('usage: npx tsx host/sim/hw/serial-node.ts <serial device>');
    process.exit(2);
  }
  const log: Log = (level, tag, message) => console.error(`[${level}] ${tag}: ${message}`);
  openSerialPort(path)
    .then((serial) => probe(serial, new SystemClock(), log))
    .then((line) => console.log(line))
    .catch((error) => {
      console.error(String(error));
      process.exit(1);
    });
}

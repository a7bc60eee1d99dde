import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import { constants, mkdtempSync, openSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ReadStream } from 'node:tty';
import { PtyExposure, socatAvailable } from '../host/sim/hw/pty-node';
import { NodeSerial, probe, SystemClock, type BytePort } from '../host/sim/hw/serial-node';
import { SimPN532 } from '../host/sim/hw/pn532';
import { TestCard } from '../host/sim/hw/test-card';

/** The simulated chip's HSU behind a Node byte stream, delivering its bytes asynchronously in real time. */
class ChipPort extends EventEmitter implements BytePort {
  private readonly timer: NodeJS.Timeout;
  closed = false;

  constructor(readonly chip: SimPN532) {
    super();
    this.timer = setInterval(() => {
      const bytes = chip.uartRead();
      // split, as a USB-UART adapter delivers
      if (bytes) for (let at = 0; at < bytes.length; at += 7) this.emit('data', Buffer.from(bytes.subarray(at, at + 7)));
    }, 1);
  }

  write(data: Uint8Array): boolean {
    setImmediate(() => this.chip.uartWrite(data));
    return true;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
  }
}

describe('drivers: Node serial adapter', () => {
  it('runs the reader over a Node byte stream in real time', async () => {
    const clock = new SystemClock();
    const chip = new SimPN532({ clock });
    chip.powerUpAsleep();
    chip.placeCard(new TestCard());
    const port = new ChipPort(chip);
    const line = await probe(new NodeSerial({ port }), clock, () => {}, 2000);
    expect(line).to.equal('PN532 1.6: card 08123456 SAK 20 ATS 0578807002');
    expect(port.closed).to.equal(true);
  });

  it('bounds what piles up unread', () => {
    const port = new EventEmitter() as EventEmitter & BytePort;
    Object.assign(port, { write: () => true, close: () => {} });
    const serial = new NodeSerial({ port, limit: 10 });
    port.emit('data', Buffer.alloc(8));
    port.emit('data', Buffer.alloc(8));
    expect(serial.read()!.byteLength).to.equal(8);
    expect(serial.read()).to.equal(undefined);
  });
});

describe('drivers: the simulated PN532 on a pseudo-terminal', () => {
  it('answers a reader that opens the pty like any serial device', async function () {
    if (!socatAvailable()) this.skip();
    const clock = new SystemClock();
    const chip = new SimPN532({ clock });
    chip.powerUpAsleep();
    chip.placeCard(new TestCard());
    const link = join(mkdtempSync(join(tmpdir(), 'pn532-')), 'tty');
    const exposure = await PtyExposure.open({ chip, link });
    try {
      const fd = openSync(link, constants.O_RDWR | constants.O_NOCTTY);
      const input = new ReadStream(fd);
      input.setRawMode(true);
      const port: BytePort = {
        write: (data) => writeSync(fd, data),
        on: (_event, listener) => input.on('data', listener),
        close: () => input.destroy(),
      };
      const line = await probe(new NodeSerial({ port }), clock, () => {}, 2000);
      expect(line).to.equal('PN532 1.6: card 08123456 SAK 20 ATS 0578807002');
      expect(exposure.pty).to.match(/^\/dev\/pts\//);
    } finally {
      await exposure.close();
    }
  });
});

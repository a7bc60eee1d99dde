import { expect } from 'chai';
import { concatBytes, fromHex, toHex, xorByte } from '../firmware/base/bytes';
import { VirtualClock } from '../firmware/base/platform';
import { CardLostError } from '../firmware/base/ports';
import { ACK_FRAME, decodeFrame, encodeFrame, ERROR_FRAME, FrameError, FrameParser, NACK_FRAME } from '../drivers/pn532/frame';
import { checkStatus, PN532, PN532Error, PN532TimeoutError, STATUS_KINDS } from '../drivers/pn532/pn532';
import { PN532UART } from '../drivers/pn532/transport';
import { alreadyOpen } from '../drivers/io';
import { IsoDep } from '../drivers/pn532/isodep';
import { PN532Card } from '../drivers/pn532/target';
import { readerRig, type Interface } from '../host/sim/hw/rig';
import { TestCard, TEST_AID } from '../host/sim/hw/test-card';
import { maybeSameCard } from '../drivers/pn532/reader';
import { SimPN532 } from '../host/sim/hw/pn532';
import { spaced, stream, tap } from './drivers-helpers';

// The known-good frames of the reference notes (UM0701-02 as reproduced by libnfc, nfcpy, Adafruit).
const KNOWN = {
  getFirmwareVersion: '00 00 FF 02 FE D4 02 2A 00',
  firmwareVersion: '00 00 FF 06 FA D5 03 32 01 06 07 E8 00',
  samConfiguration: '00 00 FF 03 FD D4 14 01 17 00',
  samConfigured: '00 00 FF 02 FE D5 15 16 00',
  retries: '00 00 FF 06 FA D4 32 05 FF 01 FF F6 00',
  inListPassiveTarget: '00 00 FF 04 FC D4 4A 01 00 E1 00',
  targetFound: '00 00 FF 11 EF D5 4B 01 01 00 04 20 04 08 12 34 56 05 78 80 70 02 A3 00',
  dataExchanged: '00 00 FF 05 FB D5 41 00 90 00 5A 00',
  inRelease: '00 00 FF 03 FD D4 52 00 DA 00',
  released: '00 00 FF 03 FD D5 53 00 D8 00',
  ack: '00 00 FF 00 FF 00',
  nack: '00 00 FF FF 00 00',
  error: '00 00 FF 01 FF 7F 81 00',
};

const hostFrames = ['getFirmwareVersion', 'samConfiguration', 'retries', 'inListPassiveTarget', 'inRelease'] as const;
const chipFrames = ['firmwareVersion', 'samConfigured', 'targetFound', 'dataExchanged', 'released', 'ack'] as const;

/** Bit reversal written out the slow way, independent of the driver's. */
function mirror(hex: string): string {
  let out = '';
  for (let i = 0; i < hex.length; i += 2) {
    const bits = parseInt(hex.slice(i, i + 2), 16).toString(2).padStart(8, '0');
    out += parseInt(bits.split('').reverse().join(''), 2).toString(16).padStart(2, '0');
  }
  return out;
}

const SELECT = concatBytes(Uint8Array.of(0x00, 0xa4, 0x04, 0x00, TEST_AID.length), TEST_AID, Uint8Array.of(0x00));

function rig(via: Interface, chip: ConstructorParameters<typeof SimPN532>[0] extends infer O ? Partial<O> : never = {}) {
  const clock = new VirtualClock();
  let recorder!: ReturnType<typeof tap>;
  const r = readerRig({
    via,
    clock,
    chip,
    through: (c) => {
      recorder = tap(c);
      return { ...recorder.i2c, ...recorder.spi, ...recorder.uart };
    },
  });
  return { ...r, clock, events: recorder.events };
}

describe('drivers: PN532 frames', () => {
  it('encodes the host frames of the reference byte for byte', () => {
    expect(toHex(encodeFrame(0xd4, fromHex('02')))).to.equal(spaced(KNOWN.getFirmwareVersion));
    expect(toHex(encodeFrame(0xd4, fromHex('1401')))).to.equal(spaced(KNOWN.samConfiguration));
    expect(toHex(encodeFrame(0xd4, fromHex('3205ff01ff')))).to.equal(spaced(KNOWN.retries));
    expect(toHex(encodeFrame(0xd4, fromHex('4a0100')))).to.equal(spaced(KNOWN.inListPassiveTarget));
    expect(toHex(encodeFrame(0xd4, fromHex('5200')))).to.equal(spaced(KNOWN.inRelease));
    expect(toHex(ACK_FRAME)).to.equal(spaced(KNOWN.ack));
    expect(toHex(NACK_FRAME)).to.equal(spaced(KNOWN.nack));
    expect(toHex(ERROR_FRAME)).to.equal(spaced(KNOWN.error));
  });

  it('parses the chip frames of the reference', () => {
    const f = decodeFrame(fromHex(KNOWN.targetFound));
    expect(f.kind).to.equal('info');
    if (f.kind !== 'info') return;
    expect(f.tfi).to.equal(0xd5);
    expect(toHex(f.data)).to.equal('4b0101000420040812345605788070 02'.replace(/ /g, ''));
    expect(decodeFrame(fromHex(KNOWN.ack)).kind).to.equal('ack');
    expect(decodeFrame(fromHex(KNOWN.nack)).kind).to.equal('nack');
    expect(decodeFrame(fromHex(KNOWN.error)).kind).to.equal('error');
    for (const name of ['firmwareVersion', 'samConfigured', 'dataExchanged', 'released'] as const)
      expect(toHex(encodeFrame(0xd5, (decodeFrame(fromHex(KNOWN[name])) as { data: Uint8Array }).data))).to.equal(spaced(KNOWN[name]));
  });

  it('uses an extended frame past 255 bytes and reads it back', () => {
    const data = new Uint8Array(263).map((_, i) => i);
    const frame = encodeFrame(0xd5, data);
    expect(toHex(frame.subarray(0, 8))).to.equal('0000ffffff0108f7');
    const back = decodeFrame(frame);
    expect(back.kind === 'info' && back.extended && toHex(back.data)).to.equal(toHex(data));
    expect(() => encodeFrame(0xd4, new Uint8Array(265))).to.throw(FrameError);
  });

  it('takes the largest legal frame: LEN 265, InDataExchange answering 262 bytes of DataIn', () => {
    const data = concatBytes(Uint8Array.of(0x41, 0x00), new Uint8Array(262).map((_, i) => i * 5));
    const frame = encodeFrame(0xd5, data);
    expect(toHex(frame.subarray(0, 10))).to.equal('0000ffffff0109f6d541');
    const back = decodeFrame(frame);
    expect(back.kind === 'info' && toHex(back.data)).to.equal(toHex(data));
    // one more byte is no frame the chip can send: the parser treats it as noise
    const tooLong = encodeFrame(0xd5, data.subarray(0, 263));
    tooLong[5] = 0x01;
    tooLong[6] = 0x0a;
    tooLong[7] = 0xf5;
    const p = new FrameParser();
    p.push(tooLong);
    expect(p.next()).to.equal(undefined);
  });

  it('flags a bad data checksum as corrupt and a bad length checksum as noise', () => {
    const bad = fromHex(KNOWN.firmwareVersion);
    xorByte(bad, bad.length - 2, 1);
    const p = new FrameParser();
    p.push(bad);
    expect(p.next()).to.deep.equal({ kind: 'corrupt' });
    expect(() => decodeFrame(bad)).to.throw(FrameError, /checksum/);
    const badLength = fromHex(KNOWN.firmwareVersion);
    xorByte(badLength, 4, 1);
    p.push(concatBytes(badLength, fromHex(KNOWN.ack)));
    expect(p.next()).to.deep.equal({ kind: 'ack' });
  });

  it('resynchronises on garbage and frames split at every byte', () => {
    const wire = concatBytes(fromHex('ff 00 13 00 ff 42 00 00'), fromHex(KNOWN.ack), fromHex('5a a5'), fromHex(KNOWN.firmwareVersion));
    const p = new FrameParser();
    const seen: string[] = [];
    for (const byte of wire) {
      p.push(Uint8Array.of(byte));
      for (let f = p.next(); f; f = p.next()) seen.push(f.kind === 'info' ? toHex(f.data) : f.kind);
    }
    expect(seen).to.deep.equal(['ack', '0332010607']);
  });
});

for (const via of ['i2c', 'spi', 'uart'] as const) {
  describe(`drivers: PN532 over ${via}`, () => {
    it('puts every reference frame on the wire byte for byte and taps a card', async () => {
      const r = rig(via);
      const firmware = await r.reader.begin();
      expect(firmware).to.deep.equal({ ic: 0x32, version: 1, revision: 6, support: 7 });
      r.chip.placeCard({ transceive: () => Uint8Array.of(0x90, 0x00) });
      const t = await r.reader.waitForCard(200);
      expect(toHex(t!.target.uid)).to.equal('08123456');
      expect(toHex(t!.target.ats!)).to.equal('0578807002');
      expect(toHex(await t!.link.transceive(SELECT))).to.equal('9000');
      await r.pn532.inRelease(0);

      let host = stream(r.events, 'host');
      let chip = stream(r.events, 'chip');
      if (via === 'spi') {
        // every transaction opens with a prefix; the wire carries each byte mirrored
        for (const e of r.events.filter((e) => e.dir === 'host')) expect(e.hex.slice(0, 2)).to.be.oneOf(['80', 'c0']);
        host = r.events.filter((e) => e.hex.startsWith('80')).map((e) => mirror(e.hex).slice(2)).join('');
        chip = r.events.filter((e) => e.dir === 'chip').map((e) => mirror(e.hex).slice(2)).join('');
      }
      if (via === 'i2c') {
        // each frame the host reads comes behind the ready status byte
        for (const e of r.events.filter((e) => e.dir === 'chip')) expect(e.hex.slice(0, 8)).to.equal('010000ff');
      }
      if (via === 'uart') expect(host.slice(0, 32 + 20)).to.equal('5555' + '00'.repeat(14) + spaced(KNOWN.samConfiguration));
      for (const name of hostFrames) expect(host, name).to.include(spaced(KNOWN[name]));
      for (const name of chipFrames) expect(chip, name).to.include(spaced(KNOWN[name]));
    });

    it('reads a certificate-sized file through 61xx GET RESPONSE and chains long answers with MI', async () => {
      const r = rig(via);
      await r.reader.begin();
      const card = new TestCard({ fileBytes: 200, chunkBytes: 96 });
      r.chip.placeCard(card);
      const t = (await r.reader.waitForCard(200))!;
      await t.link.transceive(SELECT);
      const file = await t.link.transceive(Uint8Array.of(0x00, 0xb0, 0x00, 0x00, 0x00));
      expect(file.length).to.equal(202);
      expect(toHex(file.subarray(200))).to.equal('9000');
      expect(card.received.filter((a) => a[1] === 0xc0).length).to.equal(2);
      const long = await t.link.transceive(Uint8Array.of(0x80, 0xee, 0x02, 0x58, 0x00));
      expect(long.length).to.equal(602);
      expect(long[300]).to.equal((300 * 7) & 0xff);
      // the last part came through empty `40 01` fetches
      expect(r.chip.commands.filter((c) => c === '4001').length).to.equal(2);
    });

    it('chains a long command to the card (Tg | 0x40)', async () => {
      const r = rig(via);
      await r.reader.begin();
      const card = new TestCard();
      r.chip.placeCard(card);
      const t = (await r.reader.waitForCard(200))!;
      await t.link.transceive(SELECT);
      const data = new Uint8Array(600).map((_, i) => i * 3);
      const apdu = concatBytes(Uint8Array.of(0x80, 0xed, 0, 0, 0, 0x02, 0x58), data);
      const answer = await t.link.transceive(apdu);
      const sum = data.reduce((a, b) => (a + b) & 0xff, 0);
      expect(toHex(answer)).to.equal(toHex(Uint8Array.of(0x02, 0x58, sum, 0x90, 0x00)));
      expect(r.chip.commands.filter((c) => c.startsWith('4041')).length).to.equal(2);
      expect(toHex(card.received.at(-1)!)).to.equal(toHex(apdu));
    });
  });
}

describe('drivers: PN532 faults', () => {
  it('extended frames carry 261-byte parts both ways', async () => {
    const r = readerRig({ via: 'i2c', clock: new VirtualClock(), chip: { maxDataInBytes: 261 }, driver: { chunkBytes: 261 } });
    await r.reader.begin();
    r.chip.placeCard(new TestCard());
    const t = (await r.reader.waitForCard(200))!;
    await t.link.transceive(SELECT);
    expect((await t.link.transceive(Uint8Array.of(0x80, 0xee, 0x01, 0xf4, 0x00))).length).to.equal(502);
    expect(r.chip.commands.filter((c) => c === '4001').length).to.equal(1);
  });

  for (const via of ['i2c', 'spi', 'uart'] as const) {
    it(`NACKs a response with a bad checksum and takes the resent one (${via})`, async () => {
      const r = rig(via);
      await r.reader.begin();
      r.chip.faults.corruptResponses = 2;
      expect((await r.pn532.getFirmwareVersion()).ic).to.equal(0x32);
      expect(stream(r.events, 'host')).to.include(via === 'spi' ? '80' + mirror('0000ffff0000') : '0000ffff0000');
      expect(r.chip.faults.corruptResponses).to.equal(0);
    });

    it(`recovers from a frame that lost a byte on the line (${via})`, async () => {
      const r = rig(via);
      await r.reader.begin();
      r.chip.faults.dropBytes = 1;
      r.chip.faults.delayMs = 0;
      expect((await r.pn532.getFirmwareVersion()).version).to.equal(1);
    });

    it(`skips garbage on the bus (${via})`, async () => {
      const r = rig(via);
      await r.reader.begin();
      r.chip.faults.garbage = fromHex('ff 00 ff 13 37 00');
      expect((await r.pn532.getFirmwareVersion()).support).to.equal(7);
    });
  }

  it('gives up after too many bad checksums with a named error', async () => {
    const r = rig('i2c');
    await r.reader.begin();
    r.chip.faults.corruptResponses = 100;
    const error = await r.pn532.getFirmwareVersion().catch((e) => e);
    expect(error).to.be.instanceOf(PN532Error);
    expect(error.message).to.match(/checksum wrong 4 times/);
  });

  it('sends a command again when its ACK does not come', async () => {
    const r = rig('spi');
    await r.reader.begin();
    r.chip.faults.loseCommands = 2;
    expect((await r.pn532.getFirmwareVersion()).ic).to.equal(0x32);
    r.chip.faults.loseCommands = 3;
    const error = await r.pn532.getFirmwareVersion().catch((e) => e);
    expect(error).to.be.instanceOf(PN532TimeoutError);
    expect(error.message).to.match(/no ACK after 3 tries/);
    expect(error.phase).to.equal('ack');
  });

  for (const via of ['i2c', 'spi', 'uart'] as const) {
    it(`reports a silent chip in bounded time (${via})`, async () => {
      const r = rig(via);
      r.chip.faults.silent = true;
      const error = await r.reader.begin().catch((e) => e);
      expect(error).to.be.instanceOf(PN532TimeoutError);
      expect(r.clock.now()).to.be.below(1000);
    });
  }

  it('reports a chip that is not on the I2C bus at all', async () => {
    const clock = new VirtualClock();
    const r = readerRig({ via: 'i2c', clock });
    r.bus!.attach(0x24, undefined as never);
    const error = await r.pn532.getFirmwareVersion().catch((e) => e);
    expect(error).to.be.instanceOf(PN532TimeoutError);
    expect(error.message).to.match(/write failed/);
  });

  it('times out a slow response, then aborts it with an ACK', async () => {
    const r = rig('i2c');
    await r.reader.begin();
    r.chip.faults.delayMs = 5000;
    const error = await r.pn532.getFirmwareVersion().catch((e) => e);
    expect(error).to.be.instanceOf(PN532TimeoutError);
    expect(error.message).to.match(/no response within 1000 ms/);
    expect(error.phase).to.equal('response');
    expect(r.events.at(-1)).to.deep.equal({ dir: 'host', hex: '0000ff00ff00' });
    r.chip.faults.delayMs = 0;
    expect((await r.pn532.getFirmwareVersion()).ic).to.equal(0x32);
  });

  it('names the error frame the chip sends for a malformed command', async () => {
    const r = rig('uart');
    await r.reader.begin();
    const error = await r.pn532.command(0x4a, Uint8Array.of(0x07, 0x00)).catch((e) => e);
    expect(error).to.be.instanceOf(PN532Error);
    expect(error.message).to.match(/syntax error/);
    r.chip.faults.errorFrames = 1;
    expect(await r.pn532.getFirmwareVersion().catch((e) => e.message)).to.match(/syntax error/);
  });

  it('waits for a card, aborts the search when none comes, then finds one', async () => {
    const r = rig('i2c');
    await r.reader.begin();
    expect(await r.reader.waitForCard(300)).to.equal(undefined);
    expect(r.events.at(-1)!.hex).to.equal('0000ff00ff00');
    r.chip.placeCard(new TestCard());
    expect((await r.reader.waitForCard(300))?.target.tg).to.equal(1);
  });

  for (const via of ['i2c', 'spi', 'uart'] as const) {
    it(`turns a card removed mid-exchange into CardLostError (${via})`, async () => {
      const r = rig(via);
      await r.reader.begin();
      r.chip.placeCard(new TestCard());
      const t = (await r.reader.waitForCard(200))!;
      await t.link.transceive(SELECT);
      expect(await r.pn532.targetPresent()).to.equal(true);
      r.chip.faults.removeCardOnExchange = 1;
      const start = r.clock.now();
      const error = await t.link.transceive(Uint8Array.of(0x00, 0xb0, 0, 0, 0)).catch((e) => e);
      expect(error).to.be.instanceOf(CardLostError);
      expect(error.message).to.match(/status 0x01/);
      expect(r.clock.now() - start).to.be.below(500);
      expect(await r.pn532.targetPresent()).to.equal(false);
    });
  }

  it('turns a card that stops answering into CardLostError', async () => {
    const r = rig('i2c');
    await r.reader.begin();
    r.chip.placeCard({
      transceive: () => {
        throw new Error('mute');
      },
    });
    const t = (await r.reader.waitForCard(200))!;
    expect(await t.link.transceive(SELECT).catch((e) => e)).to.be.instanceOf(CardLostError);
  });

  it('talks to an asynchronous target and after a power-down', async () => {
    for (const via of ['i2c', 'uart'] as const) {
      const r = rig(via);
      await r.reader.begin();
      const card = new TestCard();
      r.chip.placeCard({ transceive: async (apdu) => card.transceive(apdu) });
      await r.pn532.powerDown();
      const t = (await r.reader.waitForCard(200))!;
      expect(toHex((await t.link.transceive(SELECT)).subarray(-2))).to.equal('9000');
      // HSU needs the preamble again after the power-down
      if (via === 'uart') expect(stream(r.events, 'host').split('55550000').length).to.equal(3);
    }
  });

  it('resends with the Le the card asks for (6Cxx)', async () => {
    const r = rig('i2c');
    await r.reader.begin();
    let calls = 0;
    r.chip.placeCard({
      transceive: (apdu) => (++calls === 1 ? Uint8Array.of(0x6c, 0x04) : concatBytes(Uint8Array.of(1, 2, 3, 4, apdu[4]!), Uint8Array.of(0x90, 0x00))),
    });
    const t = (await r.reader.waitForCard(200))!;
    expect(toHex(await t.link.transceive(Uint8Array.of(0x00, 0xca, 0x00, 0x01, 0x00)))).to.equal('01020304049000');
  });

  it('the HSU chip ignores commands before the preamble and before SAMConfiguration', () => {
    const chip = new SimPN532({ clock: new VirtualClock() });
    chip.powerUpAsleep();
    const gfv = fromHex(KNOWN.getFirmwareVersion);
    chip.uartWrite(gfv);
    expect(chip.uartRead()).to.equal(undefined);
    chip.uartWrite(concatBytes(fromHex('5555' + '00'.repeat(14)), gfv));
    expect(chip.uartRead()).to.equal(undefined);
    chip.uartWrite(fromHex(KNOWN.samConfiguration));
    expect(toHex(chip.uartRead() ?? new Uint8Array(0))).to.equal(spaced(KNOWN.ack));
  });

  it('refuses an empty C-APDU and an R-APDU without status word', async () => {
    const r = rig('i2c');
    await r.reader.begin();
    r.chip.placeCard({ transceive: () => Uint8Array.of(0x90) });
    const t = (await r.reader.waitForCard(200))!;
    expect(await t.link.transceive(Uint8Array.of(0)).catch((e) => e.name)).to.equal('IsoDepError');
    expect(await t.link.transceive(SELECT).catch((e) => e.message)).to.match(/no status word/);
    expect(new IsoDep({ pn532: r.pn532, tg: 1 }).tg).to.equal(1);
  });
});

describe('drivers: PN532 on a noisy line', () => {
  it('never hands an APDU to the card twice when its ACK is lost', async () => {
    const r = rig('i2c');
    await r.reader.begin();
    const card = new TestCard();
    r.chip.placeCard(card);
    const t = (await r.reader.waitForCard(200))!;
    await t.link.transceive(SELECT);
    // the ACK loses a byte and the answer comes after the ACK window
    r.chip.faults.dropBytes = 1;
    r.chip.faults.delayMs = 100;
    const pay = Uint8Array.of(0x80, 0x50, 0x00, 0x00, 0x03, 0x01, 0x02, 0x03, 0x00);
    const answer = await t.link.transceive(pay);
    expect(toHex(answer.subarray(-2))).to.equal('9000');
    expect(card.received.filter((a) => a[1] === 0x50).length).to.equal(1);
    // a command that reaches no card is simply sent again
    r.chip.faults.dropBytes = 1;
    await r.pn532.getFirmwareVersion();
    expect(r.chip.commands.filter((c) => c === '02').length).to.equal(3);
  });

  for (const via of ['i2c', 'spi', 'uart'] as const) {
    it(`taps through 5% line noise with right answers or named errors only (${via})`, async () => {
      const seed = 20261123;
      const clock = new VirtualClock();
      const r = readerRig({ via, clock, chip: { seed } });
      await r.reader.begin();
      const card = new TestCard({ fileBytes: 200 });
      r.chip.placeCard(card);
      r.chip.faults.noise = 0.05;
      const outcomes: Record<string, number> = {};
      for (let n = 0; n < 60; n++) {
        let outcome = 'ok';
        try {
          const t = await r.reader.waitForCard(200);
          if (!t) throw new PN532Error('no card');
          await t.link.transceive(SELECT);
          const file = await t.link.transceive(Uint8Array.of(0x00, 0xb0, 0x00, 0x00, 0x00));
          expect(file.length).to.equal(202);
          for (let i = 0; i < 200; i++) if (file[i] !== ((0x30 + i * 7) & 0xff)) throw new Error(`wrong byte ${i} accepted`);
        } catch (error) {
          if (!(error instanceof PN532Error || error instanceof CardLostError || (error as Error).name === 'IsoDepError')) throw error;
          outcome = (error as Error).name;
        }
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      }
      console.log(`      seed ${seed}: ${JSON.stringify(outcomes)} in ${clock.now()} virtual ms`);
      expect(outcomes.ok ?? 0, JSON.stringify(outcomes)).to.be.greaterThan(30);
      expect(clock.now()).to.be.below(60 * 5000);
    });
  }
});

describe('drivers: ISO-DEP status words', () => {
  it('leaves a 6Cxx alone when the command has no Le to correct', async () => {
    const r = rig('i2c');
    await r.reader.begin();
    const seen: string[] = [];
    r.chip.placeCard({
      transceive: (apdu) => {
        seen.push(toHex(apdu));
        return Uint8Array.of(0x6c, 0x10);
      },
    });
    const t = (await r.reader.waitForCard(200))!;
    // case 3: CLA INS P1 P2 Lc data, no Le
    expect(toHex(await t.link.transceive(Uint8Array.of(0x80, 0xe2, 0, 0, 2, 0xaa, 0xbb)))).to.equal('6c10');
    expect(seen).to.deep.equal(['80e2000002aabb']);
  });
});

describe('drivers: a line that never stops talking', () => {
  it('gives up with a named error instead of reading noise forever', async () => {
    const clock = new VirtualClock();
    const serial = { read: () => Uint8Array.of(0x00, 0xff, 0x13, 0x37, 0xff, 0x00, 0x55).buffer, write: () => {}, close: () => {} };
    const pn532 = new PN532({ transport: new PN532UART({ io: alreadyOpen(serial), clock }), clock });
    const error = await pn532.getFirmwareVersion().catch((e) => e);
    expect(error).to.be.instanceOf(PN532Error);
    expect(error.message).to.match(/without a frame/);
  });
});

describe('drivers: PN532 commands', () => {
  it('names what a status code means as data: a lost RF link, a dropped target, or a refusal', () => {
    const kindOf = (code: number) => {
      try {
        checkStatus(Uint8Array.of(code), 'InDataExchange');
        return 'ok';
      } catch (e) {
        return (e as PN532Error).statusKind;
      }
    };
    const kinds = Array.from({ length: 0x40 }, (_, code) => kindOf(code));
    expect(kinds[0]).to.equal('ok');
    expect(kinds[0x01]).to.equal('rfLink');
    expect(kinds[0x29]).to.equal('rfLink');
    expect(kinds[0x27]).to.equal('wrongState');
    expect(kinds[0x12]).to.equal('refused');
    expect(kinds.filter((k) => k === 'rfLink')).to.have.length(Object.values(STATUS_KINDS).filter((k) => k === 'rfLink').length);
    expect(new PN532Error('no status').statusKind).to.equal(undefined);
  });

  it('encodes RF field, timeouts, retries, parameters, deselect, release and power-down as the chip expects', async () => {
    const r = rig('spi');
    await r.reader.begin();
    await r.pn532.setField(false);
    await r.pn532.setField(true);
    await r.pn532.setTimeouts(0x0b, 0x0a);
    await r.pn532.setRetries(0x02, 0x01, 0x05);
    await r.pn532.setParameters(0x00);
    r.chip.placeCard(new TestCard());
    const t = (await r.reader.waitForCard(200))!;
    // automatic RATS off: no ATS in the answer
    expect(t.target.ats).to.equal(undefined);
    await r.pn532.inDeselect(t.target.tg);
    await r.pn532.inRelease(0);
    await r.pn532.powerDown(0xb0);
    expect(r.chip.commands.slice(-9)).to.deep.equal(['320100', '320101', '3202000b0a', '3205020105', '1200', '4a0100', '4401', '5200', '16b0']);
  });

  it('reports an error status with its code', async () => {
    const r = rig('i2c');
    await r.reader.begin();
    const error = await r.pn532.inRelease(5).catch((e) => e);
    expect(error).to.be.instanceOf(PN532Error);
    expect(error.status).to.equal(0x27);
    expect(error.message).to.match(/InRelease: status 0x27/);
  });

  it('with finite retries a search with no card answers "no target"', async () => {
    const r = rig('i2c');
    await r.reader.begin();
    await r.pn532.setRetries(0xff, 0x01, 0x02);
    expect(await r.pn532.inListPassiveTarget(500)).to.equal(undefined);
    // answered by the chip, not aborted by the host
    expect(r.events.at(-1)!.dir).to.equal('chip');
  });
});

describe("drivers: PN532 with a real chip's timing", () => {
  for (const via of ['i2c', 'spi', 'uart'] as const)
    it(`takes a 300-byte R-APDU whose first frame carries 262 bytes of DataIn (LEN 265) (${via})`, async () => {
      const r = rig(via, { maxDataInBytes: 262 });
      await r.reader.begin();
      r.chip.placeCard(new TestCard());
      const t = (await r.reader.waitForCard(200))!;
      await t.link.transceive(SELECT);
      const start = r.clock.now();
      const answer = await t.link.transceive(Uint8Array.of(0x80, 0xee, 0x01, 0x2a, 0x00));
      expect(answer.length).to.equal(300);
      expect(toHex(answer.subarray(-2))).to.equal('9000');
      expect(answer[261]).to.equal((261 * 7) & 0xff);
      expect(r.clock.now() - start).to.be.below(100);
      const chip = via === 'spi' ? r.events.filter((e) => e.dir === 'chip').map((e) => mirror(e.hex).slice(2)).join('') : stream(r.events, 'chip');
      expect(chip).to.include('0000ffffff0109f6d54140');
    });

  it('does not take a late answer to an aborted search for the answer to the next one', async () => {
    const r = rig('uart');
    await r.reader.begin();
    // activation takes longer than the search may; the answer is already on the wire when the abort
    // comes, so it still arrives (a real chip's late response)
    r.chip.faults.activationMs = 65;
    r.chip.faults.abortLagMs = 20;
    r.chip.placeCard(new TestCard());
    expect(await r.reader.waitForCard(50)).to.equal(undefined);
    // this search is aborted too: nothing the chip said about the first may answer it
    expect(await r.reader.waitForCard(50)).to.equal(undefined);
    expect(r.chip.commands.filter((c) => c === '4a0100').length).to.equal(2);
  });

  it('does not hand a stale R-APDU to the next exchange', async () => {
    const r = rig('uart');
    await r.reader.begin();
    r.chip.placeCard(new TestCard());
    const t = (await r.reader.waitForCard(200))!;
    const selected = toHex(await t.link.transceive(SELECT));
    // the card's answer to READ BINARY comes just after the host has given up and aborted
    r.chip.faults.delayMs = 1010;
    r.chip.faults.abortLagMs = 20;
    expect(await t.link.transceive(Uint8Array.of(0x00, 0xb0, 0, 0, 0)).catch((e) => e)).to.be.instanceOf(PN532TimeoutError);
    r.chip.faults.delayMs = 0;
    // the next command's answer is its own, not the file READ BINARY would have carried
    expect(toHex(await t.link.transceive(SELECT))).to.equal(selected);
  });

  it('waits out a stray frame ahead of the ACK instead of sending the command again', async () => {
    const r = rig('uart');
    await r.reader.begin();
    // a late `D5 4B 00` is on the line just before InRelease's ACK
    r.chip.faults.garbage = encodeFrame(0xd5, Uint8Array.of(0x4b, 0x00));
    await r.pn532.inRelease(0);
    expect(r.chip.commands.filter((c) => c === '5200').length).to.equal(1);
    expect(stream(r.events, 'host').split(spaced(KNOWN.inRelease)).length - 1).to.equal(1);
  });

  it('finds a released (halted) card again by cycling the field, and tells when it has left', async () => {
    const r = rig('spi');
    await r.reader.begin();
    r.chip.placeCard(new TestCard());
    const first = (await r.reader.waitForCard(200))!;
    await r.reader.release(first);
    // halted: a plain search does not find it
    expect(await r.pn532.inListPassiveTarget(100)).to.equal(undefined);
    const again = (await r.reader.waitForCard(200))!;
    expect(toHex(again.target.uid)).to.equal('08123456');
    expect(r.chip.commands.slice(-4)).to.deep.equal(['4a0100', '320100', '320101', '4a0100']);
    await r.reader.release(again);
    r.chip.removeCard();
    expect(await r.reader.waitForCard(100)).to.equal(undefined);
  });

  it('tells a card swapped in from its UID in the target the chip reports, unless the UIDs are random', async () => {
    const r = rig('i2c');
    await r.reader.begin();
    const uid = (t: { target: { uid: Uint8Array } }) => toHex(t.target.uid);
    const found = async (id: string) => {
      r.chip.removeCard();
      r.chip.placeCard(new TestCard(), { uid: fromHex(id) });
      const t = (await r.reader.waitForCard(200))!;
      await r.reader.release(t);
      return t;
    };
    const first = await found('04a1a2a3a4a5a6');
    // InListPassiveTarget's answer: Tg 1, SENS_RES, SEL_RES 20, NFCID1 length 7 and its bytes
    expect(stream(r.events, 'chip').replace(/ /g, '')).to.include('d54b01010004200704a1a2a3a4a5a6');
    expect(uid(first)).to.equal('04a1a2a3a4a5a6');
    const same = await found('04a1a2a3a4a5a6');
    const other = await found('04b1b2b3b4b5b6');
    expect(maybeSameCard(first.target, same.target)).to.equal(true);
    expect(maybeSameCard(first.target, other.target)).to.equal(false);
    const phone = await found('08123456');
    const phoneAgain = await found('08654321');
    expect(maybeSameCard(first.target, phone.target), 'a fixed UID is never a random one').to.equal(false);
    expect(maybeSameCard(phone.target, phoneAgain.target), 'random UIDs are drawn anew at each power-up').to.equal(true);
  });

  it('waitForCard is the polled search: InListPassiveTarget once, status looks, and one ACK abort when nobody taps', async () => {
    const r = rig('i2c');
    await r.reader.begin();
    const sent = r.chip.commands.length;
    expect(await r.reader.waitForCard(300)).to.equal(undefined);
    expect(r.chip.commands.slice(sent)).to.deep.equal(['4a0100']);
    expect(r.chip.aborts).to.equal(1);
    expect(stream(r.events, 'host').endsWith(spaced(KNOWN.inListPassiveTarget) + spaced(KNOWN.ack))).to.equal(true);
    // the chip takes commands again, and the next card is found by the same path
    r.chip.placeCard(new TestCard());
    expect(toHex((await r.reader.waitForCard(300))!.target.uid)).to.equal('08123456');
  });

  it('a card that leaves while the chip answers 0x27 is a lost card', async () => {
    const r = rig('i2c');
    await r.reader.begin();
    r.chip.placeCard(new TestCard());
    const t = (await r.reader.waitForCard(200))!;
    await t.link.transceive(SELECT);
    r.chip.faults.removeCardOnExchange = 1;
    r.chip.faults.removalStatus = 0x27;
    const error = await t.link.transceive(Uint8Array.of(0x00, 0xb0, 0, 0, 0)).catch((e) => e);
    expect(error).to.be.instanceOf(CardLostError);
    expect(error.message).to.match(/status 0x27/);
    expect(r.events.filter((e) => e.dir === 'chip').at(-1)!.hex).to.include('d54127');
  });
});

describe('drivers: the simulated PN532 answers as a v1.6 does (UM0701-02)', () => {
  /** One command through the HSU, its response frame's data (after D5 and the response code). */
  async function ask(chip: SimPN532, clock: VirtualClock, payload: string): Promise<string> {
    chip.uartWrite(encodeFrame(0xd4, fromHex(payload)));
    await new Promise((done) => setImmediate(done));
    clock.advance(10_000);
    const out = toHex(chip.uartRead() ?? new Uint8Array(0));
    expect(out.slice(0, 12), payload).to.equal('0000ff00ff00');
    const frame = decodeFrame(fromHex(out.slice(12)));
    if (frame.kind !== 'info') return frame.kind;
    expect(frame.data[0]).to.equal(fromHex(payload)[0]! + 1);
    return toHex(frame.data.subarray(1));
  }

  function chip() {
    const clock = new VirtualClock();
    return { clock, chip: new SimPN532({ clock }) };
  }

  it('echoes the Diagnose communication test, as libnfc checks at open', async () => {
    const { clock, chip: c } = chip();
    expect(await ask(c, clock, '00 00 6c69626e6663')).to.equal('006c69626e6663');
  });

  it('reads back the CIU registers it was written, and reset values for the rest', async () => {
    const { clock, chip: c } = chip();
    expect(await ask(c, clock, '06 6302 6303 6304')).to.equal('000080');
    expect(await ask(c, clock, '08 6302 80 6303 80')).to.equal('');
    expect(await ask(c, clock, '06 6302 6303 633c')).to.equal('808010');
    expect(await ask(c, clock, '06 63')).to.equal('error');
  });

  it('answers an R(NAK) through InCommunicateThru from an active card, and an RF timeout to other probes', async () => {
    const { clock, chip: c } = chip();
    c.placeCard(new TestCard());
    expect(await ask(c, clock, '42 b2')).to.equal('01');
    expect(await ask(c, clock, '4a 01 00')).to.equal('0101000420040812345605788070 02'.replace(/ /g, ''));
    expect(await ask(c, clock, '42 b2')).to.equal('00a2');
    expect(await ask(c, clock, '42 3000')).to.equal('01');
    expect(await ask(c, clock, '42')).to.equal('01');
  });

  it('halts the card on InDeselect or InRelease until the field is cycled', async () => {
    const { clock, chip: c } = chip();
    c.placeCard(new TestCard());
    await ask(c, clock, '32 05 ff 01 02');
    for (const release of ['44 01', '52 00']) {
      expect((await ask(c, clock, '4a 01 00')).slice(0, 2)).to.equal('01');
      expect(await ask(c, clock, release)).to.equal('00');
      expect(await ask(c, clock, '4a 01 00'), `after ${release}`).to.equal('00');
      await ask(c, clock, '32 01 00');
      await ask(c, clock, '32 01 01');
    }
    expect((await ask(c, clock, '4a 01 00')).slice(0, 2)).to.equal('01');
  });

  it('polls with InAutoPoll: the target data behind its type, or no target once the rounds are over', async () => {
    const { clock, chip: c } = chip();
    expect(await ask(c, clock, '60 02 01 20 10')).to.equal('00');
    c.placeCard(new TestCard());
    expect(await ask(c, clock, '60 02 01 20 10')).to.equal('01200e0100042004081234560578807002');
    await ask(c, clock, '44 01');
    expect(await ask(c, clock, '60 02 01 10')).to.equal('00');
    await ask(c, clock, '32 01 00');
    expect(await ask(c, clock, '60 02 01 10')).to.equal('01100901000420040812345 6'.replace(/ /g, ''));
  });
});

describe('drivers: a PN532 as the card (target mode, ISO/IEC 14443-4 PICC)', () => {
  for (const via of ['uart', 'i2c'] as const)
    it(`a reader finds the emulated card and exchanges APDUs with the card behind it (${via})`, async () => {
      const clock = new VirtualClock();
      const reader = readerRig({ via: 'uart', clock });
      const target = readerRig({ via, clock, chip: { maxDataInBytes: 100 } });
      target.chip.holdTo(reader.chip);
      await reader.reader.begin();
      const card = new PN532Card({ pn532: target.pn532, identity: { nfcid1: Uint8Array.of(0xa1, 0xb2, 0xc3), historical: fromHex('7461706c696e65') } });
      await card.begin();
      const backing = new TestCard();
      const served = (async () => {
        const session = await card.waitForReader(5000);
        expect(session).to.deep.equal({ mode: 0x08, initiatorCommand: Uint8Array.of(0xe0, 0x80) });
        return card.serve(backing, 5000);
      })();
      const tap = (await reader.reader.waitForCard(2000))!;
      expect(toHex(tap.target.uid)).to.equal('08a1b2c3');
      expect(tap.target.sensRes).to.equal(0x0004);
      expect(toHex(tap.target.ats!)).to.equal('0c788070027461706c696e65');
      expect(toHex(await tap.link.transceive(SELECT))).to.equal('6f038401019000');
      // longer than one TgGetData frame (MI) one way, longer than one TgSetData (TgSetMetaData) the other
      const long = await tap.link.transceive(Uint8Array.of(0x80, 0xee, 0x01, 0x90, 0x00));
      expect(long.length).to.equal(402);
      const data = new Uint8Array(200).map((_, i) => i);
      const echoed = await tap.link.transceive(concatBytes(Uint8Array.of(0x80, 0xed, 0, 0, 0, 0, 200), data));
      expect(toHex(echoed)).to.equal(toHex(Uint8Array.of(0x00, 0xc8, data.reduce((a, b) => (a + b) & 0xff, 0), 0x90, 0x00)));
      await reader.reader.release(tap);
      expect(await served).to.equal(3);
      expect(target.chip.commands.filter((c) => c.startsWith('94')).length).to.equal(1);
      expect(target.chip.commands.filter((c) => c === '86').length).to.be.greaterThan(4);
    });
});

describe('drivers: PN532 target search that never blocks (InListPassiveTarget polled)', () => {
  /** What the host put on the wire, as the chip reads it (SPI: prefix dropped, bits put back in order). */
  function hostBytes(r: ReturnType<typeof rig>, via: Interface): string {
    // SPI: only the data writes (prefix 0x01, 0x80 on the wire); the reads clock out zeros
    return via === 'spi' ? r.events.filter((e) => e.dir === 'host' && e.hex.startsWith('80')).map((e) => mirror(e.hex).slice(2)).join('') : stream(r.events, 'host');
  }
  /** The chip's answer to a card placed now is queued once its promise settles, as on a real chip a little later. */
  const settle = () => new Promise<void>((resolve) => setImmediate(resolve));
  function chipBytes(r: ReturnType<typeof rig>, via: Interface): string {
    return via === 'spi' ? r.events.filter((e) => e.dir === 'chip').map((e) => mirror(e.hex).slice(2)).join('') : stream(r.events, 'chip');
  }

  for (const via of ['i2c', 'spi', 'uart'] as const) {
    it(`sends InListPassiveTarget once, then polls the ready status without waiting until a card answers (${via})`, async () => {
      const r = rig(via);
      await r.reader.begin();
      const search = await r.reader.startSearch();
      expect(hostBytes(r, via).endsWith(spaced(KNOWN.inListPassiveTarget))).to.equal(true);
      const sent = hostBytes(r, via);
      for (let i = 0; i < 50; i++) {
        const before = r.clock.now();
        expect(await search.poll()).to.equal(false);
        // a poll is one look at the status: no time passes in it
        expect(r.clock.now()).to.equal(before);
        r.clock.advance(10);
      }
      // 500 ms of polling: no resend, no abort
      expect(hostBytes(r, via)).to.equal(sent);
      // the chip is taken while it searches
      expect(await r.pn532.getFirmwareVersion().catch((e: Error) => e.message)).to.match(/already running/);
      r.chip.placeCard(new TestCard());
      let polls = 0;
      while (!(await search.poll())) {
        r.clock.advance(1);
        if (++polls > 20) throw new Error('the card was not found');
      }
      expect(search.cancelled).to.equal(false);
      expect(toHex(search.tap!.target.uid)).to.equal('08123456');
      expect(chipBytes(r, via)).to.include(spaced(KNOWN.targetFound));
      expect(hostBytes(r, via)).to.equal(sent);
      // the card works, and the chip takes commands again
      expect(toHex((await search.tap!.link.transceive(SELECT)).subarray(-2))).to.equal('9000');
      expect((await r.pn532.getFirmwareVersion()).ic).to.equal(0x32);
    });

    it(`cancels a search with an ACK abort, after which the chip takes commands and searches again (${via})`, async () => {
      const r = rig(via);
      await r.reader.begin();
      const search = await r.reader.startSearch();
      r.clock.advance(100);
      expect(await search.poll()).to.equal(false);
      await search.cancel();
      expect(search.cancelled).to.equal(true);
      expect(search.tap).to.equal(undefined);
      expect(hostBytes(r, via).endsWith(spaced(KNOWN.inListPassiveTarget) + spaced(KNOWN.ack))).to.equal(true);
      await search.cancel();
      expect(hostBytes(r, via).endsWith(spaced(KNOWN.ack))).to.equal(true);
      expect((await r.pn532.getFirmwareVersion()).ic).to.equal(0x32);
      const again = await r.reader.startSearch();
      r.chip.placeCard(new TestCard());
      await settle();
      r.clock.advance(5);
      expect(await again.poll()).to.equal(true);
      expect(again.tap?.target.tg).to.equal(1);
    });

    it(`a cancel takes an answer already waiting instead of aborting: the card that came with the key is kept (${via})`, async () => {
      const r = rig(via);
      await r.reader.begin();
      const search = await r.reader.startSearch();
      const sent = hostBytes(r, via);
      r.chip.placeCard(new TestCard());
      await settle();
      r.clock.advance(5);
      await search.cancel();
      expect(search.cancelled).to.equal(false);
      expect(toHex(search.tap!.target.uid)).to.equal('08123456');
      expect(hostBytes(r, via)).to.equal(sent);
    });
  }

  it('a corrupt answer to the search is NACKed by a poll and taken when it comes again', async () => {
    const r = rig('i2c');
    await r.reader.begin();
    const search = await r.reader.startSearch();
    r.chip.faults.corruptResponses = 1;
    r.chip.placeCard(new TestCard());
    for (let i = 0; i < 10 && !(await search.poll()); i++) r.clock.advance(5);
    expect(search.tap?.target.tg).to.equal(1);
    expect(stream(r.events, 'host')).to.include(spaced(KNOWN.nack));
  });
});

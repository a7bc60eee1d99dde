import { expect } from 'chai';
import { concatBytes, fromHex, toHex as toHexString } from '../firmware/base/bytes';
import { VirtualClock } from '../firmware/base/platform';
import { decodeFrame, encodeFrame, FrameError, FrameParser } from '../drivers/pn532/frame';
import { parseTargets, PN532, PN532Error } from '../drivers/pn532/pn532';
import { PN532I2C, PN532UART } from '../drivers/pn532/transport';
import { alreadyOpen } from '../drivers/io';
import { SimPN532 } from '../host/sim/hw/pn532';
import { TestCard } from '../host/sim/hw/test-card';
import { readerRig } from '../host/sim/hw/rig';
import { prng, seedFromEnv } from './drivers-helpers';
import { present } from '../firmware/base/assert';

const SEEDS = [
  '0000ff06fad50332010607e800',
  '0000ff11efd54b0101000420040812345605788070 02a300',
  '0000ff05fbd5410090005a00',
  '0000ff00ff00',
  '0000ffff0000',
  '0000ff01ff7f8100',
  '0000ff02fed5151600',
].map((h) => fromHex(h));

function mutate(rand: () => number): Uint8Array {
  const pick = () => SEEDS[Math.floor(rand() * SEEDS.length)]!;
  const bytes: number[] = [];
  const parts = 1 + Math.floor(rand() * 3);
  for (let p = 0; p < parts; p++) {
    if (rand() < 0.15) {
      const ext = encodeFrame(0xd5, new Uint8Array(256 + Math.floor(rand() * 7)).map(() => rand() * 256));
      bytes.push(...ext);
    } else bytes.push(...pick());
  }
  const edits = Math.floor(rand() * 4);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(rand() * (bytes.length + 1));
    const op = rand();
    if (op < 0.4) bytes[at % bytes.length] = present(bytes[at % bytes.length], 'fuzzed byte') ^ (1 << Math.floor(rand() * 8));
    else if (op < 0.6) bytes.splice(at, 1);
    else if (op < 0.8) bytes.splice(at, 0, Math.floor(rand() * 256));
    else bytes[at % bytes.length] = [0x00, 0xff, 0x01, 0xfe][Math.floor(rand() * 4)]!;
  }
  if (rand() < 0.1) return Uint8Array.from({ length: Math.floor(rand() * 40) }, () => Math.floor(rand() * 256));
  return Uint8Array.from(bytes);
}

describe('drivers: fuzzing the PN532 parsers', () => {
  it('the streaming frame parser takes 200,000 mutated inputs without throwing or looping', () => {
    const rand = prng(seedFromEnv('frame parser'));
    const parser = new FrameParser(600);
    let frames = 0;
    for (let n = 0; n < 200_000; n++) {
      const input = mutate(rand);
      // delivered in random pieces, as transports do
      for (let at = 0; at < input.length; ) {
        const size = 1 + Math.floor(rand() * 12);
        parser.push(input.subarray(at, at + size));
        at += size;
        let guard = 0;
        for (let f = parser.next(); f; f = parser.next()) {
          if (++guard > 100) throw new Error('parser loops');
          frames++;
          if (f.kind === 'info' && f.data.length + 1 > 264) throw new Error(`frame of ${f.data.length} bytes`);
        }
        const needed = parser.needed();
        if (!(needed >= 1 && needed <= 272)) throw new Error(`needed() = ${needed}`);
      }
      if (rand() < 0.05) parser.reset();
    }
    expect(frames).to.be.greaterThan(10_000);
  });

  it('decodeFrame throws only FrameError on 150,000 mutated frames', () => {
    const rand = prng(seedFromEnv('decodeFrame'));
    let refused = 0;
    for (let n = 0; n < 150_000; n++) {
      try {
        decodeFrame(mutate(rand));
      } catch (error) {
        if (!(error instanceof FrameError)) throw error;
        refused++;
      }
    }
    expect(refused).to.be.greaterThan(1000);
  });

  it('parseTargets throws only PN532Error on 150,000 mutated answers', () => {
    const rand = prng(seedFromEnv('parseTargets'));
    const good = fromHex('0101000420040812345605788070 02');
    let accepted = 0;
    for (let n = 0; n < 150_000; n++) {
      const bytes = Array.from(rand() < 0.2 ? Uint8Array.from({ length: Math.floor(rand() * 30) }, () => rand() * 256) : good);
      for (let e = Math.floor(rand() * 3); e > 0; e--) {
        const at = Math.floor(rand() * bytes.length);
        if (rand() < 0.5) bytes[at] = Math.floor(rand() * 256);
        else bytes.splice(at, 1);
      }
      try {
        parseTargets(Uint8Array.from(bytes));
        accepted++;
      } catch (error) {
        if (!(error instanceof PN532Error)) throw error;
      }
    }
    expect(accepted).to.be.greaterThan(100);
  });

  it('the simulated chip survives 20,000 random host writes on every interface', () => {
    const rand = prng(seedFromEnv('simulated chip'));
    const clock = new VirtualClock();
    const chip = new SimPN532({ clock });
    chip.placeCard(new TestCard());
    for (let n = 0; n < 20_000; n++) {
      const input = rand() < 0.5 ? mutate(rand) : encodeFrame(0xd4, Uint8Array.from({ length: 1 + Math.floor(rand() * 8) }, () => rand() * 256));
      const via = n % 3;
      if (via === 0) {
        chip.i2cWrite(input);
        chip.i2cRead(1 + Math.floor(rand() * 300));
      } else if (via === 1) {
        chip.spiTransfer(input);
        chip.spiTransfer(Uint8Array.from({ length: 1 + Math.floor(rand() * 20) }, () => rand() * 256));
      } else {
        chip.uartWrite(input);
        chip.uartRead();
      }
      clock.advance(Math.floor(rand() * 5));
    }
  });

  it('the simulated chip answers 4,000 random libnfc and card-emulation commands with a response, the error frame, or a wait', async () => {
    const rand = prng(seedFromEnv('simulated chip commands'));
    const clock = new VirtualClock();
    const reader = new SimPN532({ clock });
    const chip = new SimPN532({ clock });
    chip.holdTo(reader);
    const codes = [0x00, 0x06, 0x08, 0x12, 0x32, 0x42, 0x44, 0x4a, 0x52, 0x60, 0x86, 0x8c, 0x8e, 0x94];
    // a well-formed TgInitAsTarget to mutate: PICC mode, MIFARE params, zeros, no general or historical bytes
    const init = fromHex('8c05 0400 a1b2c3 20' + '00'.repeat(18) + '00'.repeat(10) + '00 00');
    const outcomes: Record<string, number> = {};
    for (let n = 0; n < 4000; n++) {
      let payload: Uint8Array;
      if (rand() < 0.3) {
        payload = init.slice();
        for (let e = Math.floor(rand() * 3); e > 0; e--) payload[1 + Math.floor(rand() * (payload.length - 1))] = Math.floor(rand() * 256);
        if (rand() < 0.3) payload = payload.subarray(0, Math.floor(rand() * payload.length) + 1);
      } else {
        payload = concatBytes(Uint8Array.of(codes[Math.floor(rand() * codes.length)]!), Uint8Array.from({ length: Math.floor(rand() * 40) }, () => rand() * 256));
      }
      chip.uartWrite(encodeFrame(0xd4, payload));
      if (rand() < 0.2) reader.placeCard(new TestCard());
      await new Promise((done) => setImmediate(done));
      clock.advance(20_000);
      await new Promise((done) => setImmediate(done));
      const parser = new FrameParser();
      parser.push(chip.uartRead() ?? new Uint8Array(0));
      expect(parser.next()?.kind, `ACK for ${toHexString(payload)}`).to.equal('ack');
      const answer = parser.next();
      let outcome: string;
      if (!answer) outcome = 'waits';
      else if (answer.kind === 'error') outcome = 'error frame';
      else {
        expect(answer.kind).to.equal('info');
        if (answer.kind === 'info') expect(answer.data[0], toHexString(payload)).to.equal(payload[0]! + 1);
        outcome = 'response';
      }
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      // a command still waiting (for a card, a reader, a C-APDU) is aborted as a host would
      if (outcome === 'waits') chip.uartWrite(fromHex('0000ff00ff00'));
    }
    console.log(`      ${JSON.stringify(outcomes)}`);
    expect(outcomes.response ?? 0).to.be.greaterThan(500);
    expect(outcomes['error frame'] ?? 0).to.be.greaterThan(500);
  });

  for (const via of ['i2c', 'uart'] as const) {
    it(`the driver facing a chip that answers noise throws only its own errors (${via}, 1,500 commands)`, async () => {
      const rand = prng(seedFromEnv(`noisy chip ${via}`));
      const clock = new VirtualClock();
      let queued: Uint8Array[] = [];
      const ack = fromHex('0000ff00ff00');
      const noise = (): Uint8Array[] => {
        // a real answer now and then, so some commands get through
        const r = rand();
        return r < 0.3 ? [ack, fromHex('0000ff06fad50332010607e800')] : r < 0.7 ? [ack, mutate(rand)] : [mutate(rand)];
      };
      const io = {
        read: (count: number) => {
          const out = new Uint8Array(count);
          if (queued.length && rand() < 0.8) {
            out[0] = 1;
            out.set(queued[0]!.subarray(0, count - 1), 1);
            if (count > 1) queued.shift();
          }
          return out.buffer;
        },
        write: () => {
          if (rand() < 0.05) throw new Error('write failed');
          queued = noise();
        },
        close: () => {},
      };
      // The line answers each command with noise (sometimes the real answer), and now and then holds a
      // stray frame nobody asked for: the driver flushes input before a command, so only what follows
      // the write can answer it.
      let pending: Uint8Array[] = [];
      const serial = {
        read: (): ArrayBuffer | undefined => {
          if (rand() < 0.3) return undefined;
          if (pending.length) return concatBytes(...pending.splice(0)).buffer as ArrayBuffer;
          return rand() < 0.2 ? (mutate(rand).buffer as ArrayBuffer) : undefined;
        },
        write: () => {
          pending = noise();
        },
        close: () => {},
      };
      const transport = via === 'i2c' ? new PN532I2C({ io: alreadyOpen(io), data: 21, clock: 22 }) : new PN532UART({ io: alreadyOpen(serial), clock });
      const pn532 = new PN532({ transport, clock, timeoutMs: 50 });
      const outcomes = new Map<string, number>();
      for (let n = 0; n < 1_500; n++) {
        let outcome = 'ok';
        try {
          await pn532.getFirmwareVersion();
        } catch (error) {
          if (!(error instanceof PN532Error)) throw error;
          outcome = error.name;
        }
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }
      expect(outcomes.get('PN532TimeoutError') ?? 0).to.be.greaterThan(0);
      expect(outcomes.get('ok') ?? 0).to.be.greaterThan(0);
    });
  }
});

describe('drivers: ISO-DEP facing a card that answers at random', () => {
  it('2,000 exchanges end in an answer or a named error, never a loop', async () => {
    const rand = prng(seedFromEnv('random card'));
    const clock = new VirtualClock();
    const rig = readerRig({ via: 'i2c', clock });
    await rig.reader.begin();
    rig.chip.placeCard({
      transceive: () => {
        const r = rand();
        // status words that make the terminal ask again are common here on purpose
        if (r < 0.3) return Uint8Array.of(...Array.from({ length: Math.floor(rand() * 40) }, () => rand() * 256), 0x61, Math.floor(rand() * 256));
        if (r < 0.4) return Uint8Array.of(0x6c, Math.floor(rand() * 256));
        if (r < 0.5) return Uint8Array.from({ length: Math.floor(rand() * 2) }, () => rand() * 256);
        return Uint8Array.from({ length: 2 + Math.floor(rand() * 600) }, () => rand() * 256);
      },
    });
    const tap = (await rig.reader.waitForCard(200))!;
    const names = new Map<string, number>();
    for (let n = 0; n < 2_000; n++) {
      let name = 'ok';
      try {
        const r = await tap.link.transceive(Uint8Array.of(0x00, 0xb0, 0x00, 0x00, 0x00));
        if (r.length < 2) throw new Error('answer without a status word returned');
      } catch (error) {
        if (!['IsoDepError', 'PN532Error', 'PN532TimeoutError', 'CardLostError'].includes((error as Error).name)) throw error;
        name = (error as Error).name;
      }
      names.set(name, (names.get(name) ?? 0) + 1);
    }
    expect(names.get('ok') ?? 0).to.be.greaterThan(500);
    expect(names.get('IsoDepError') ?? 0).to.be.greaterThan(0);
  });
});

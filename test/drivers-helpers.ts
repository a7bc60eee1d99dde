// Shared by the driver tests: a seeded PRNG and wire taps on the simulated PN532.
import type { SimPN532 } from '../host/sim/hw/pn532';
import { toHex } from '../firmware/base/bytes';

export { prng } from '../host/sim/hw/prng';

export function seedFromEnv(name: string): number {
  const fromEnv = process.env.FUZZ_SEED;
  const seed = fromEnv ? Number(fromEnv) : (Date.now() ^ (Math.random() * 0x7fffffff)) >>> 0;
  console.log(`      ${name}: seed ${seed} (FUZZ_SEED=${seed} to replay)`);
  return seed;
}

export type WireEvent = { dir: 'host' | 'chip'; hex: string };

/** A device in front of the chip that records every transaction, as the bus carries it. */
export function tap(chip: SimPN532) {
  const events: WireEvent[] = [];
  const rec = (dir: WireEvent['dir'], bytes: Uint8Array) => {
    if (bytes.length) events.push({ dir, hex: toHex(bytes) });
    return bytes;
  };
  return {
    events,
    i2c: {
      i2cWrite: (b: Uint8Array) => chip.i2cWrite(rec('host', b)),
      i2cRead: (n: number) => {
        const r = chip.i2cRead(n);
        if (r[0] === 0x01 && n > 1) rec('chip', r);
        return r;
      },
    },
    spi: {
      spiTransfer: (b: Uint8Array) => {
        const r = chip.spiTransfer(b);
        // status polls are noise for the frame checks
        if (b[0] !== 0x40) {
          rec('host', b);
          if (b[0] === 0xc0) rec('chip', r);
        }
        return r;
      },
    },
    uart: {
      uartWrite: (b: Uint8Array) => chip.uartWrite(rec('host', b)),
      uartRead: () => {
        const r = chip.uartRead();
        if (r) rec('chip', r);
        return r;
      },
    },
  };
}

/** Joins the hex of one direction's traffic into one string, spaces removed. */
export function stream(events: WireEvent[], dir: WireEvent['dir']): string {
  return events
    .filter((e) => e.dir === dir)
    .map((e) => e.hex)
    .join('');
}

export function spaced(hex: string): string {
  return hex.replace(/\s+/g, '').toLowerCase();
}

// Seeded randomness, byte mutation and the parser fuzz loop for the fuzz tests.

import { prng as seededRandom } from '../host/sim/hw/prng';
import { toHex } from '../firmware/base/bytes';

export { seededRandom };

/** One to four random edits: flip bits, overwrite, insert, delete, truncate, or splice a length byte. */
export function mutate(input: Uint8Array, random: () => number): Uint8Array {
  let bytes = Array.from(input);
  const edits = 1 + Math.floor(random() * 4);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(random() * (bytes.length + 1));
    switch (Math.floor(random() * 6)) {
      case 0:
        if (at < bytes.length) bytes[at] = bytes[at]! ^ (1 << Math.floor(random() * 8));
        break;
      case 1:
        if (at < bytes.length) bytes[at] = Math.floor(random() * 256);
        break;
      case 2:
        bytes.splice(at, 0, Math.floor(random() * 256));
        break;
      case 3:
        bytes.splice(at, 1 + Math.floor(random() * 8));
        break;
      case 4:
        bytes = bytes.slice(0, at);
        break;
      default:
        if (at < bytes.length) bytes[at] = [0x00, 0x7f, 0x80, 0x81, 0x82, 0xff][Math.floor(random() * 6)]!;
    }
  }
  return Uint8Array.from(bytes);
}

/** FNV-1a of a name, so each fuzzed parser gets its own stream of the run's seed. */
export function hashName(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}

export interface FuzzOptions {
  /** The run's seed (TAPLINE_FUZZ_SEED replays it); each parser's stream is this seed and its name. */
  seed: number;
  /** Inputs per parser unless a call says otherwise. */
  inputs: number;
  /** Every n-th input is random bytes of up to 300 instead of a mutation (0: never). */
  randomEvery?: number;
}

export type Fuzz = (name: string, seeds: Uint8Array[], parse: (b: Uint8Array) => unknown, allowed: (e: unknown) => boolean, inputs?: number) => { ok: number; refused: number };

/**
 * The mutation loop of the parser fuzz tests: `parse` gets mutations of the seeds in turn; it may return
 * (ok) or throw an error `allowed` accepts (refused); anything else fails with the input and the seed.
 */
export function fuzzer(options: FuzzOptions): Fuzz {
  const { seed, randomEvery = 0 } = options;
  return (name, seeds, parse, allowed, inputs = options.inputs) => {
    if (seeds.length === 0) throw new Error(`${name}: no seeds`);
    const random = seededRandom(seed ^ hashName(name));
    let ok = 0;
    let refused = 0;
    for (let i = 0; i < inputs; i++) {
      const input = randomEvery > 0 && i % randomEvery === 0 ? randomBytes(random, Math.floor(random() * 300)) : mutate(seeds[i % seeds.length]!, random);
      try {
        parse(input);
        ok++;
      } catch (e) {
        if (!allowed(e)) throw new Error(`${name}: input ${toHex(input)} threw ${(e as Error)?.stack ?? e} (TAPLINE_FUZZ_SEED=${seed})`);
        refused++;
      }
    }
    return { ok, refused };
  };
}

function randomBytes(random: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(random() * 256);
  return out;
}

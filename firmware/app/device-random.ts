// RandomBytes over the ESP32's hardware RNG. On ESP32 targets XS implements Math.random with
// c_rand(), which the Moddable SDK defines as `0x7fffffff & esp_random()` (xs/platforms/esp/xsHost.h),
// divided by C_RAND_MAX (INT32_MAX): each call is one fresh read of the hardware RNG register. The SDK's
// `rng` module is an RC4 stream seeded from 16 such bytes, so it is not used. esp_random is truly random
// while the radio is on (Wi-Fi started) or the bootloader's entropy source is enabled; main.ts starts
// Wi-Fi before the first payment. Not for host builds: elsewhere Math.random is not a secure source.
import type { RandomBytes } from '../base/platform';

const C_RAND_MAX = 0x7fffffff;

/** Builds RandomBytes from a source of uniform values in [0, 1) that each carry 31 random bits. */
export function randomBytesFrom31Bits(source: () => number): RandomBytes {
  return (length: number): Uint8Array => {
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`cannot make ${length} random bytes`);
    const out = new Uint8Array(length);
    for (let i = 0; i < length; ) {
      const value = Math.round(source() * C_RAND_MAX);
      if (!(value >= 0 && value < C_RAND_MAX)) throw new RangeError('random source out of range');
      // The low 24 bits of a uniform 31-bit value: three bytes per hardware read.
      for (let k = 0; k < 3 && i < length; k++, i++) out[i] = (value >>> (8 * k)) & 0xff;
    }
    return out;
  };
}

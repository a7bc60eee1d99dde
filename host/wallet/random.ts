// A seeded deterministic RandomBytes (HMAC-SHA256 in counter mode) for tests, the simulator and XS
// scenarios, where runs must repeat exactly. Never for real keys: use node:crypto or esp_random there.
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8Encode, writeU32 } from '../../firmware/base/bytes';
import type { RandomBytes } from '../../firmware/base/platform';

export function seededRandom(seed: string | number): RandomBytes {
  const key = sha256(utf8Encode(`tapline seeded random ${seed}`));
  const block = new Uint8Array(4);
  let counter = 0;
  return (length: number) => {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i += 32) {
      writeU32(block, 0, counter++);
      out.set(hmac(sha256, key, block).subarray(0, Math.min(32, length - i)), i);
    }
    return out;
  };
}

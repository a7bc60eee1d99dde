// Secrets (the operator token, session MACs) compared without telling their length or contents through
// timing: both sides are hashed to 32 bytes first, then compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';

export function sameSecret(given: Uint8Array, expected: Uint8Array): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

function digest(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

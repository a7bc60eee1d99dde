// Runs inside XS: checks that the engine runs the crypto the firmware depends on.
import { p256 } from '@noble/curves/nist.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromHex, toHex, utf8Encode } from '../../firmware/base/bytes';
import { serve } from '../../host/xs/guest';

serve({
  sha256: (text: string) => toHex(sha256(utf8Encode(text))),
  verify: (a: { alg: 'p256' | 'ed25519'; publicKey: string; message: string; signature: string }) => {
    const [pk, msg, sig] = [fromHex(a.publicKey), fromHex(a.message), fromHex(a.signature)];
    return a.alg === 'p256' ? p256.verify(sig, msg, pk) : ed25519.verify(sig, msg, pk);
  },
  globals: () => ({
    TextEncoder: typeof (globalThis as any).TextEncoder,
    crypto: typeof (globalThis as any).crypto,
    BigInt: typeof BigInt,
    setTimeout: typeof (globalThis as any).setTimeout,
  }),
});

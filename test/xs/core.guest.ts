// Runs inside XS: the payment core's tap scenarios (test/xs/core-scenarios.ts) and the protocol
// vectors (host/wallet/vectors.ts), on the device's engine.
import { serve } from '../../host/xs/guest';
import { SCENARIOS } from './core-scenarios';
import { fromHex } from '../../firmware/base/bytes';
import type { Alg } from '../../firmware/core/crypto/verify';
import { verifyReceipt } from '../../firmware/core/crypto/receipt';
import { makeVector, VECTOR_FILES } from '../../host/wallet/vectors';

serve({
  names: () => Object.keys(SCENARIOS),
  scenario: (a: { name: string; alg: Alg }) => SCENARIOS[a.name]!.run(a.alg),
  vector: (a: { file: string; receipt: string; issuerKey: { keyId: number; alg: Alg; publicKey: string; notBefore: number; notAfter: number; revoked: boolean }; time: number }) => {
    const key = { ...a.issuerKey, publicKey: fromHex(a.issuerKey.publicKey) };
    return { ok: verifyReceipt(fromHex(a.receipt), [key], a.time).ok, vector: makeVector(VECTOR_FILES[a.file]!) };
  },
});

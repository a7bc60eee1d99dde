// The device's native signature primitive is trusted for an algorithm only once it has given that
// algorithm's known answers; until then, or if it gets one wrong, signatures of that algorithm go to
// noble (the JavaScript reference). Ed25519's answers cost a few milliseconds and are checked at boot.
// P-256's are three native verifies, ~800 ms on an ESP32-S3 (267 ms each, docs/DEVICE.md), most of a
// reboot's time: they run one per idle slot of the terminal once it is ready, and a P-256 signature that
// comes before they are done runs the rest first. A reboot is then ready for the next tap without them.
import { fromHex, utf8Encode, xorByte } from '../base/bytes';
import { errorText } from '../base/errors';
import type { Log } from '../base/platform';
import { ALG_ED25519, ALG_P256, algName, verifySignature, type Alg, type VerifyFn } from '../core/crypto/verify';

// Known answers for a fixed message, signed by noble with the private key 01 02 .. 20 (test/xsdev.test.ts
// checks them against noble): the verifier must accept each and refuse a changed message and another
// key. No signing at boot: that would build noble's base-point tables, ~200 KB a curve, for good.
const SELF_TEST_MESSAGE = 'tapline self-test';
export const SELF_TEST_VECTORS: Record<Alg, { publicKey: string; otherKey: string; signature: string }> = {
  [ALG_P256]: {
    publicKey: '02515c3d6eb9e396b904d3feca7f54fdcd0cc1e997bf375dca515ad0a6c3b4035f',
    otherKey: '03515c3d6eb9e396b904d3feca7f54fdcd0cc1e997bf375dca515ad0a6c3b4035f',
    signature: '1db1ebc8d27fc7e0a1e851132419222a3285dc0078aa9845e84f48cd44aa314f4a78447266da6ea76a60f121c372551190b89d9dbe875e2c00f8f238daa13abb',
  },
  [ALG_ED25519]: {
    publicKey: '79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664',
    otherKey: '79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049665',
    signature: 'a26fda87dd999be85da73e0d1527d9091a4ee3c2c7300c98e9d5ac51c3c16db2a07391ed10ace94523f17e3026fc122eedaa52831f6d2b6b912ae1d3e16f1e01',
  },
};

/** The known answers of one algorithm, each one signature check: the good signature, a changed message, another key. */
export const KNOWN_ANSWERS = 3;

/** Whether `verify` gives known answer `index` (0 .. KNOWN_ANSWERS - 1) of `alg`. */
function knownAnswer(verify: VerifyFn, alg: Alg, index: number): boolean {
  const v = SELF_TEST_VECTORS[alg];
  const message = utf8Encode(SELF_TEST_MESSAGE);
  const signature = fromHex(v.signature);
  if (index === 0) return verify(alg, fromHex(v.publicKey), message, signature);
  if (index === 1) {
    xorByte(message, 0, 1);
    return !verify(alg, fromHex(v.publicKey), message, signature);
  }
  return !verify(alg, fromHex(v.otherKey), message, signature);
}

/** Accepts the known good signature and refuses it on a changed message and under another key. */
export function passesSelfTest(verify: VerifyFn, alg: Alg): boolean {
  for (let i = 0; i < KNOWN_ANSWERS; i++) if (!knownAnswer(verify, alg, i)) return false;
  return true;
}

/** The algorithms in the order their known answers are checked: the cheap one first. */
const ALGS: readonly Alg[] = [ALG_ED25519, ALG_P256];

export class CheckedVerify {
  /** The primitive to hand out: native for an algorithm that passed, noble otherwise. */
  readonly verify: VerifyFn;
  readonly #native: VerifyFn;
  readonly #log: Log;
  /** Known answers given so far, per algorithm. */
  readonly #passed = new Map<Alg, number>();
  /** The verdict once an algorithm's answers are all in (or one was wrong). */
  readonly #trusted = new Map<Alg, boolean>();

  constructor(native: VerifyFn, log: Log) {
    this.#native = native;
    this.#log = log;
    this.verify = (alg, publicKey, message, signature) => {
      if (!this.#trusted.has(alg)) this.check(alg);
      return (this.#trusted.get(alg) ? this.#native : verifySignature)(alg, publicKey, message, signature);
    };
  }

  /** True or false once `alg`'s known answers are in; undefined while some are still to run. */
  trusted(alg: Alg): boolean | undefined {
    return this.#trusted.get(alg);
  }

  /** Runs what is left of `alg`'s known answers now. Returns the verdict. */
  check(alg: Alg): boolean {
    while (!this.#trusted.has(alg)) this.#next(alg);
    return this.#trusted.get(alg) === true;
  }

  /** Whether known answers are left to run (in idle slots). */
  get pending(): boolean {
    return ALGS.some((alg) => !this.#trusted.has(alg));
  }

  /** One known answer of the first algorithm with some left (one signature check). False when none are left. */
  step(): boolean {
    const alg = ALGS.find((a) => !this.#trusted.has(a));
    if (alg === undefined) return false;
    this.#next(alg);
    return true;
  }

  #next(alg: Alg): void {
    const index = this.#passed.get(alg) ?? 0;
    let right: boolean;
    try {
      right = knownAnswer(this.#native, alg, index);
    } catch (e) {
      this.#trusted.set(alg, false);
      this.#log('error', 'selftest', `native ${algName(alg)} verification failed (${errorText(e)}): using JavaScript`);
      return;
    }
    if (!right) {
      this.#trusted.set(alg, false);
      this.#log('error', 'selftest', `native ${algName(alg)} verification disagrees with the reference: using JavaScript`);
      return;
    }
    this.#passed.set(alg, index + 1);
    if (index + 1 < KNOWN_ANSWERS) return;
    this.#trusted.set(alg, true);
    this.#log('info', 'selftest', `native ${algName(alg)} verification agrees with the reference: in use`);
  }
}

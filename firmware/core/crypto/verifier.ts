// The terminal's certificate checks with a bounded cache of certificates whose issuer signature has
// been verified, so a returning wallet costs one signature verification (its payment) instead of two.
import { toHex } from '../../base/bytes';
import { certificateDigest, type Certificate } from '../protocol/messages';
import { DeclineError } from '../../base/reasons';
import { checkCertificateSignature, checkDates, issuerKeyFor } from './certificate';
import type { IssuerKey, Keyring } from './keyring';
import { verifySignature, type VerifyFn } from './verify';

export interface VerifierOptions {
  keyring: Keyring;
  /** Most verified certificates remembered (least recently used first out). */
  cacheSize?: number;
  /** The signature primitive (default: verifySignature, pure JavaScript). */
  verify?: VerifyFn;
}

export class Verifier {
  readonly keyring: Keyring;
  readonly cacheSize: number;
  readonly verify: VerifyFn;
  #cache = new Map<string, true>();
  /** The keyring generation the cached verdicts were made under. */
  #generation: number;

  constructor(options: VerifierOptions) {
    this.keyring = options.keyring;
    this.cacheSize = options.cacheSize ?? 64;
    this.verify = options.verify ?? verifySignature;
    this.#generation = this.keyring.generation;
  }

  /**
   * New issuer keys: forget every cached verdict (a key may have been revoked or replaced). Replacing
   * the keyring directly does the same: the cache follows the keyring's generation.
   */
  replaceKeys(keys: IssuerKey[]): void {
    this.keyring.replace(keys);
    this.#followKeyring();
  }

  get cached(): number {
    this.#followKeyring();
    return this.#cache.size;
  }

  #followKeyring(): void {
    if (this.keyring.generation === this.#generation) return;
    this.#generation = this.keyring.generation;
    this.#cache.clear();
  }

  /**
   * The checks that need no signature: a usable issuer key of the algorithm the certificate names, and
   * the validity windows at the later of `time` and `lowerBound` (the latest time the terminal knows has
   * passed). With the time unknown (`time` undefined), now is somewhere after `lowerBound`: expiry is
   * checked against it, and a window that starts after it cannot be shown to have started (`timeUnknown`).
   */
  precheck(cert: Certificate, time: number | undefined, lowerBound: number): IssuerKey {
    const key = issuerKeyFor(cert, this.keyring);
    if (time !== undefined) {
      checkDates(cert, key, Math.max(time, lowerBound));
    } else {
      if (lowerBound > key.notAfter) throw new DeclineError('issuerKeyExpired', `issuer key ${key.keyId}`);
      if (lowerBound > cert.notAfter) throw new DeclineError('certificateExpired', `certificate ${cert.serial}`);
      // A terminal that never knew any time (lowerBound 0) can prove no start; the unknown-time amount cap bounds it.
      if (lowerBound > 0 && key.notBefore > lowerBound) throw new DeclineError('timeUnknown', `issuer key ${key.keyId} valid from ${key.notBefore}, the terminal knows only ${lowerBound}`);
      if (lowerBound > 0 && cert.notBefore > lowerBound) throw new DeclineError('timeUnknown', `certificate ${cert.serial} valid from ${cert.notBefore}, the terminal knows only ${lowerBound}`);
    }
    return key;
  }

  isVerified(cert: Certificate): boolean {
    this.#followKeyring();
    const id = this.#id(cert);
    if (!this.#cache.has(id)) return false;
    this.#cache.delete(id);
    this.#cache.set(id, true);
    return true;
  }

  /** Verifies the issuer's signature (unless cached) and caches the verdict. Throws DeclineError. */
  verifySignature(cert: Certificate, key: IssuerKey): void {
    if (this.isVerified(cert)) return;
    checkCertificateSignature(cert, key, this.verify);
    this.#followKeyring();
    this.#cache.set(this.#id(cert), true);
    while (this.#cache.size > this.cacheSize) this.#cache.delete(this.#cache.keys().next().value!);
  }

  #id(cert: Certificate): string {
    return toHex(certificateDigest(cert.bytes));
  }
}

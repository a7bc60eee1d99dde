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

  constructor(options: VerifierOptions) {
    this.keyring = options.keyring;
    this.cacheSize = options.cacheSize ?? 64;
    this.verify = options.verify ?? verifySignature;
  }

  /** New issuer keys: forget every cached verdict (a key may have been revoked or replaced). */
  replaceKeys(keys: IssuerKey[]): void {
    this.keyring.replace(keys);
    this.#cache.clear();
  }

  get cached(): number {
    return this.#cache.size;
  }

  /**
   * The checks that need no signature: a usable issuer key of the algorithm the certificate names, and
   * the validity windows. With the time unknown (`time` undefined) only expiry is checked, against the
   * latest time the terminal knew (`lowerBound`): an unknown time can only be later than that.
   */
  precheck(cert: Certificate, time: number | undefined, lowerBound: number): IssuerKey {
    const key = issuerKeyFor(cert, this.keyring);
    if (time !== undefined) {
      checkDates(cert, key, time);
    } else {
      if (lowerBound > key.notAfter) throw new DeclineError('issuerKeyExpired', `issuer key ${key.keyId}`);
      if (lowerBound > cert.notAfter) throw new DeclineError('certificateExpired', `certificate ${cert.serial}`);
    }
    return key;
  }

  isVerified(cert: Certificate): boolean {
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
    this.#cache.set(this.#id(cert), true);
    while (this.#cache.size > this.cacheSize) this.#cache.delete(this.#cache.keys().next().value!);
  }

  #id(cert: Certificate): string {
    return toHex(certificateDigest(cert.bytes));
  }
}

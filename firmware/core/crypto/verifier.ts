// The terminal's certificate checks with a bounded cache of certificates whose issuer signature has
// been verified, so a returning wallet costs one signature verification (its payment) instead of two.
import type { HashPort } from '../../base/hash';
import { certificateDigest, type Certificate, type PayResponse } from '../protocol/messages';
import { DeclineError } from '../../base/reasons';
import { checkCertificateSignature, checkDates, checkPaymentSignature, issuerKeyFor } from './certificate';
import type { IssuerKey, Keyring } from './keyring';
import { verifySignature, type VerifyFn } from './verify';
import { present } from '../../base/assert';

export interface VerifierOptions {
  keyring: Keyring;
  /** Most verified certificates remembered (least recently used first out). */
  cacheSize?: number;
  /** The signature primitive (default: verifySignature, pure JavaScript). */
  verify?: VerifyFn;
  /** SHA-256 for the certificate digests (default: noble's; the device passes its native one). */
  sha256?: HashPort['sha256'];
}

export class Verifier {
  readonly keyring: Keyring;
  readonly cacheSize: number;
  readonly verify: VerifyFn;
  readonly #sha256: HashPort['sha256'] | undefined;
  #cache = new Map<string, true>();
  /**
   * The digest of the certificate of the tap in progress: the cache lookup, the verdict and the payment
   * payload all need it, and a tap decodes its certificate once, so one hash serves them all.
   */
  #digested: { cert: Certificate; digest: Uint8Array; id: string } | undefined;
  /** The keyring generation the cached verdicts were made under. */
  #generation: number;

  constructor(options: VerifierOptions) {
    this.keyring = options.keyring;
    this.cacheSize = options.cacheSize ?? 64;
    this.verify = options.verify ?? verifySignature;
    this.#sha256 = options.sha256;
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
    while (this.#cache.size > this.cacheSize) this.#cache.delete(present(this.#cache.keys().next().value, 'oldest cache entry'));
  }

  /** Checks the wallet's signature over the exchange (checkPaymentSignature), with this verifier's primitives. */
  checkPayment(cert: Certificate, request: Uint8Array, response: PayResponse): void {
    checkPaymentSignature(cert, request, response, this.verify, this.digest(cert));
  }

  /** SHA-256 of the certificate's bytes (certificateDigest), through the hash port. */
  digest(cert: Certificate): Uint8Array {
    return this.#digestOf(cert).digest;
  }

  #digestOf(cert: Certificate): { digest: Uint8Array; id: string } {
    const d = this.#digested;
    if (d && d.cert === cert) return d;
    const digest = this.#sha256 ? this.#sha256([cert.bytes]) : certificateDigest(cert.bytes);
    // The cache key: the digest's bytes as the char codes of a string, made in one native call (hex
    // digits cost a string a byte on XS).
    const id = String.fromCharCode.apply(null, digest as unknown as number[]);
    this.#digested = { cert, digest, id };
    return this.#digested;
  }

  #id(cert: Certificate): string {
    return this.#digestOf(cert).id;
  }
}

// The issuer public keys a terminal holds offline (provisioned, then refreshed by signed updates).
import { TaplineError } from '../../base/errors';
import { type Alg, publicKeyFits, isAlg } from './verify';

/** One cached issuer key. Times are unix seconds; a key signs certificates only inside its window. */
export interface IssuerKey {
  keyId: number;
  alg: Alg;
  publicKey: Uint8Array;
  notBefore: number;
  notAfter: number;
  revoked: boolean;
}

export class KeyringError extends TaplineError {
  override readonly name: string = 'KeyringError';
}

/** Checks an entry's shape (from provisioning or an update) with a clear error. */
export function checkIssuerKey(key: IssuerKey): IssuerKey {
  if (!Number.isInteger(key.keyId) || key.keyId < 0 || key.keyId > 0xffffffff) throw new KeyringError(`bad key id ${key.keyId}`);
  if (!isAlg(key.alg)) throw new KeyringError(`key ${key.keyId}: unknown algorithm ${key.alg}`);
  if (!(key.publicKey instanceof Uint8Array) || !publicKeyFits(key.alg, key.publicKey)) {
    throw new KeyringError(`key ${key.keyId}: public key does not fit its algorithm`);
  }
  if (!Number.isSafeInteger(key.notBefore) || !Number.isSafeInteger(key.notAfter) || key.notAfter < key.notBefore) {
    throw new KeyringError(`key ${key.keyId}: bad validity window`);
  }
  return key;
}

/** Issuer keys by id. Replacing the set is how an update takes effect. */
export class Keyring {
  #keys = new Map<number, IssuerKey>();
  #generation = 0;

  /** Moves on every replace: whoever caches a verdict under these keys must drop it when it changes. */
  get generation(): number {
    return this.#generation;
  }

  constructor(keys: IssuerKey[] = []) {
    this.replace(keys);
  }

  replace(keys: IssuerKey[]): void {
    const next = new Map<number, IssuerKey>();
    for (const key of keys) {
      checkIssuerKey(key);
      if (next.has(key.keyId)) throw new KeyringError(`duplicated key id ${key.keyId}`);
      next.set(key.keyId, key);
    }
    this.#keys = next;
    this.#generation++;
  }

  get(keyId: number): IssuerKey | undefined {
    return this.#keys.get(keyId);
  }

  all(): IssuerKey[] {
    return [...this.#keys.values()];
  }
}

// The key folder `tapline init` creates and the other commands and the service read:
//   root.key            provisioning root key (secret, 0600): signs updates and batch responses
//   issuer-<id>.key     one file per issuer key (secret, 0600): signs wallet certificates
//   keyring.json        the issuer public keys and the keyring version (public; terminals cache it),
//                       with the same keyring as a root-signed update: only a holder of root.key can
//                       change it, and a file edited by hand is refused
//   admin.token         the operator token of the settlement service (secret, 0600)
// Secrets are written with mode 0600 from the start (never chmod after the fact) and never overwritten.
import { TaplineError } from '../../firmware/base/errors';
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fromHex, toHex } from '../../firmware/base/bytes';
import { checkIssuerKey, KeyringError, type IssuerKey } from '../../firmware/core/crypto/keyring';
import { ALG_ED25519, ALG_P256, isAlg, type Alg } from '../../firmware/core/crypto/verify';
import type { RandomBytes } from '../../firmware/base/platform';
import { publicKeyOf } from '../../firmware/core/uplink/sign';
import { encodeUpdate, UPDATE_KEYRING, UpdateError, verifyUpdate } from '../../firmware/core/uplink/updates';
import { generateKeyPair, type Issuer } from '../wallet/issuer';

export class KeystoreError extends TaplineError {
  override readonly name: string = 'KeystoreError';
}

export const nodeRandom: RandomBytes = (length) => new Uint8Array(nodeRandomBytes(length));

export interface RootKeyFile {
  alg: Alg;
  secretKey: Uint8Array;
  publicKey: Uint8Array;
}

export interface Keyring {
  version: number;
  keys: IssuerKey[];
}

export function algFromName(name: string): Alg {
  if (name === 'p256') return ALG_P256;
  if (name === 'ed25519') return ALG_ED25519;
  throw new KeystoreError(`unknown algorithm "${name}" (p256 or ed25519)`);
}

export function algToName(alg: Alg): 'p256' | 'ed25519' {
  return alg === ALG_P256 ? 'p256' : 'ed25519';
}

/** Writes a file that holds a secret: created 0600, refused if it exists (unless `replace`). */
export function writeSecretFile(path: string, text: string, replace = false): void {
  if (!replace && existsSync(path)) throw new KeystoreError(`${path} exists; refusing to overwrite a secret (use --force)`);
  writeViaTemp(path, text, 0o600, 'wx');
}

/** Writes `temp` then renames it over `path`: a reader never sees half a file, a failure leaves none. */
function writeViaTemp(path: string, data: string | Uint8Array, mode: number, flags: string): void {
  const temp = `${path}.${process.pid}.tmp`;
  try {
    const fd = openSync(temp, flags, mode);
    try {
      if (typeof data === 'string') writeSync(fd, data);
      else writeSync(fd, data);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (e) {
    rmSync(temp, { force: true });
    throw e;
  }
}

export function writePublicFile(path: string, data: string | Uint8Array): void {
  writeViaTemp(path, data, 0o644, 'w');
}

export class Keystore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  exists(): boolean {
    return existsSync(join(this.dir, 'root.key'));
  }

  /** Creates the folder (0700), the root key, one issuer key, the keyring and the admin token. */
  init(options: { rootAlg: Alg; issuerAlg: Alg; issuerId: number; notBefore: number; notAfter: number; force?: boolean; random?: RandomBytes }): void {
    const random = options.random ?? nodeRandom;
    if (this.exists() && !options.force) throw new KeystoreError(`${this.dir} already holds keys (use --force to replace them)`);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const rootSecret = secretKeyFor(options.rootAlg, random);
    writeSecretFile(
      join(this.dir, 'root.key'),
      JSON.stringify({ alg: algToName(options.rootAlg), secretKey: toHex(rootSecret), publicKey: toHex(publicKeyOf(options.rootAlg, rootSecret)) }, null, 2) + '\n',
      options.force,
    );
    writeSecretFile(join(this.dir, 'admin.token'), toHex(random(24)) + '\n', options.force);
    this.#writeKeyring({ version: 0, keys: [] });
    this.addIssuer({ alg: options.issuerAlg, keyId: options.issuerId, notBefore: options.notBefore, notAfter: options.notAfter, random, force: options.force });
  }

  /** Adds an issuer key (a rotation): the keyring version goes up by one. */
  addIssuer(options: { alg: Alg; keyId: number; notBefore: number; notAfter: number; random?: RandomBytes; force?: boolean }): IssuerKey {
    const random = options.random ?? nodeRandom;
    const keyring = this.keyring();
    if (keyring.keys.some((k) => k.keyId === options.keyId)) throw new KeystoreError(`issuer key ${options.keyId} exists`);
    const secretKey = secretKeyFor(options.alg, random);
    const key: IssuerKey = {
      keyId: options.keyId,
      alg: options.alg,
      publicKey: publicKeyOf(options.alg, secretKey),
      notBefore: options.notBefore,
      notAfter: options.notAfter,
      revoked: false,
    };
    checkIssuerKey(key);
    writeSecretFile(join(this.dir, `issuer-${options.keyId}.key`), JSON.stringify({ ...keyJson(key), secretKey: toHex(secretKey) }, null, 2) + '\n', options.force);
    this.#writeKeyring({ version: keyring.version + 1, keys: [...keyring.keys, key] });
    return key;
  }

  /** Marks an issuer key revoked in the keyring (the version goes up; terminals get it on next upload). */
  revokeIssuer(keyId: number): void {
    const keyring = this.keyring();
    const key = keyring.keys.find((k) => k.keyId === keyId);
    if (!key) throw new KeystoreError(`no issuer key ${keyId}`);
    key.revoked = true;
    this.#writeKeyring({ version: keyring.version + 1, keys: keyring.keys });
  }

  root(): RootKeyFile {
    const o = this.#readJson('root.key', true) as { alg: string; secretKey: string; publicKey: string };
    const alg = algFromName(o.alg);
    const secretKey = fromHex(o.secretKey);
    return { alg, secretKey, publicKey: publicKeyOf(alg, secretKey) };
  }

  issuer(keyId?: number): Issuer {
    const keyring = this.keyring();
    const entry = keyId === undefined ? keyring.keys.filter((k) => !k.revoked).at(-1) : keyring.keys.find((k) => k.keyId === keyId);
    if (!entry) throw new KeystoreError(keyId === undefined ? 'no usable issuer key' : `no issuer key ${keyId}`);
    const o = this.#readJson(`issuer-${entry.keyId}.key`, true) as { secretKey: string };
    return { key: entry, secretKey: fromHex(o.secretKey) };
  }

  /**
   * The keyring, once its root signature verifies and the readable part says the same as the signed
   * one. Throws KeystoreError for a file changed without the root key.
   */
  keyring(): Keyring {
    const keyring = this.#keyringJson();
    const o = this.#readJson('keyring.json', false) as { signed?: unknown };
    const root = this.root();
    let signed;
    try {
      signed = verifyUpdate(fromHex(String(o.signed)), root.alg, root.publicKey);
    } catch (e) {
      if (e instanceof UpdateError || e instanceof TypeError || e instanceof RangeError) {
        throw new KeystoreError(`keyring.json is not signed by the root key (${(e as Error).message}): add keys with tapline add-issuer`);
      }
      throw e;
    }
    const readable = JSON.stringify({ version: keyring.version, keys: keyring.keys.map(keyJson) });
    const verified = signed.kind === UPDATE_KEYRING ? JSON.stringify({ version: signed.version, keys: signed.keys.map(keyJson) }) : '';
    if (readable !== verified) throw new KeystoreError('keyring.json was changed without the root key: its keys differ from the signed keyring');
    return keyring;
  }

  #keyringJson(): Keyring {
    const o = this.#readJson('keyring.json', false) as { version: unknown; keys: unknown };
    if (!Number.isSafeInteger(o.version) || !Array.isArray(o.keys)) throw new KeystoreError('keyring.json is malformed');
    try {
      const keys = o.keys.map((k: { keyId: number; alg: string; publicKey: string; notBefore: number; notAfter: number; revoked?: boolean }) =>
        checkIssuerKey({
          keyId: k.keyId,
          alg: algFromName(k.alg),
          publicKey: fromHex(k.publicKey),
          notBefore: k.notBefore,
          notAfter: k.notAfter,
          revoked: k.revoked === true,
        }),
      );
      return { version: o.version as number, keys };
    } catch (e) {
      if (e instanceof KeyringError || e instanceof TypeError) throw new KeystoreError(`keyring.json: ${e.message}`);
      throw e;
    }
  }

  /** Changes whenever keyring.json is rewritten (it is replaced by rename, so the inode changes too). */
  keyringStamp(): string {
    const st = statSync(join(this.dir, 'keyring.json'));
    return `${st.ino}:${st.mtimeMs}:${st.size}`;
  }

  adminToken(): string {
    const path = join(this.dir, 'admin.token');
    this.#present(path);
    this.#checkMode(path);
    return readFileSync(path, 'utf8').trim();
  }

  issuerIds(): number[] {
    return readdirSync(this.dir)
      .map((f) => /^issuer-(\d+)\.key$/.exec(f))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]));
  }

  #writeKeyring(keyring: Keyring): void {
    const root = this.root();
    const signed = encodeUpdate({ kind: UPDATE_KEYRING, version: keyring.version, keys: keyring.keys }, root.alg, root.secretKey);
    const text = JSON.stringify({ version: keyring.version, keys: keyring.keys.map(keyJson), signed: toHex(signed) }, null, 2) + '\n';
    writePublicFile(join(this.dir, 'keyring.json'), text);
  }

  #readJson(name: string, secret: boolean): unknown {
    const path = join(this.dir, name);
    this.#present(path);
    if (secret) this.#checkMode(path);
    try {
      return JSON.parse(readFileSync(path, 'utf8'));
    } catch (e) {
      throw new KeystoreError(`${path}: ${(e as Error).message}`);
    }
  }

  #present(path: string): void {
    if (existsSync(path)) return;
    if (!existsSync(this.dir)) throw new KeystoreError(`no key folder ${this.dir}: run tapline init --keys ${this.dir} first, or pass --keys DIR`);
    throw new KeystoreError(`${path} is missing: is ${this.dir} a folder made by tapline init?`);
  }

  #checkMode(path: string): void {
    const mode = statSync(path).mode & 0o777;
    if (mode & 0o077) throw new KeystoreError(`${path} is readable by others (mode ${mode.toString(8)}); chmod 600 it`);
  }
}

export function keyJson(k: IssuerKey): { keyId: number; alg: 'p256' | 'ed25519'; publicKey: string; notBefore: number; notAfter: number; revoked: boolean } {
  return { keyId: k.keyId, alg: algToName(k.alg), publicKey: toHex(k.publicKey), notBefore: k.notBefore, notAfter: k.notAfter, revoked: k.revoked };
}

function secretKeyFor(alg: Alg, random: RandomBytes): Uint8Array {
  if (!isAlg(alg)) throw new KeystoreError(`unknown algorithm ${alg}`);
  return generateKeyPair(alg, random).secretKey;
}

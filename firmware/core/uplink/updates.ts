// Signed updates the settlement service sends back with a batch response: a deny-list delta, the
// issuer keyring, the terminal configuration, and the service's time bound to the batch it answers.
// Each is signed on its own with the provisioning root key, so it can be verified, stored and
// re-verified independently of the response that carried it.
//
// Update = 80 kind | 81 version | A2 body | DE signature; the signature covers a domain string then
// the bytes of fields 80..A2. Bodies by kind:
//   deny list  A2 = 80 from-version | A1 { 81 wallet id ... } (added) | A2 { 81 wallet id ... } (removed)
//              (the update's version is the version after applying it)
//   keyring    A2 = A1 { A1 { 80 key id | 81 alg | 82 public key | 83 not before | 84 not after | 85 revoked } ... }
//              (the whole keyring: it replaces the terminal's)
//   config     A2 = 80 settings (UTF-8 JSON object: the risk settings to change) | 81 terminal id
//              (the one terminal it is for: a configuration signed for one terminal is refused by others)
//   time       A2 = 80 unix seconds | 81 nonce of the batch answered
//   fare rules A2 = 80 rules (UTF-8 JSON, firmware/core/fares/rules.ts) | 81 operator id
//              (the merchant id of the operator's validators: every validator of it takes the same rules)
import { TaplineError } from '../../base/errors';
import { concatBytes, utf8Decode, utf8Encode } from '../../base/bytes';
import { type IssuerKey } from '../crypto/keyring';
import { type Alg, isAlg, publicKeyFits, verifySignature, type VerifyFn } from '../crypto/verify';
import { decodeFields, required, decodeTlv, decodeUint, encodeTlv, encodeUint, TlvError, type Tlv } from '../protocol/tlv';
import { signMessage } from './sign';
import { NONCE_LENGTH, withoutSignature } from './wire';

export const UPDATE_DENY_LIST = 1;
export const UPDATE_KEYRING = 2;
export const UPDATE_CONFIG = 3;
export const UPDATE_TIME = 4;
export const UPDATE_FARE_RULES = 6;

export const MAX_UPDATE_BYTES = 0xffff;

/** What a log line calls an update kind. */
export function updateKindName(kind: number): string {
  if (kind === UPDATE_DENY_LIST) return 'deny-list';
  if (kind === UPDATE_KEYRING) return 'keyring';
  if (kind === UPDATE_CONFIG) return 'configuration';
  if (kind === UPDATE_TIME) return 'time';
  if (kind === UPDATE_FARE_RULES) return 'fare-rules';
  return `kind-${kind}`;
}
export const MAX_DENY_DELTA = 1024;
export const MAX_WALLET_ID_BYTES = 32;
export const MAX_KEYRING_KEYS = 32;
export const MAX_CONFIG_BYTES = 2048;
export const MAX_FARE_RULES_BYTES = 3072;

const UPDATE_DOMAIN = utf8Encode('tapline/update/v1');

export class UpdateError extends TaplineError {
  override readonly name: string = 'UpdateError';
}

export interface DenyListDelta {
  kind: typeof UPDATE_DENY_LIST;
  /** The deny-list version this delta applies to; `version` is the one it produces. */
  fromVersion: number;
  version: number;
  add: Uint8Array[];
  remove: Uint8Array[];
}

export interface KeyringUpdate {
  kind: typeof UPDATE_KEYRING;
  version: number;
  keys: IssuerKey[];
}

export interface ConfigUpdate {
  kind: typeof UPDATE_CONFIG;
  version: number;
  /** The terminal it is for (printable ASCII, 1..16), inside the signed bytes. */
  terminalId: string;
  /** A JSON object; the terminal validates it before it takes effect. */
  settings: Record<string, unknown>;
}

export interface TimeUpdate {
  kind: typeof UPDATE_TIME;
  version: number;
  unixSeconds: number;
  /** The nonce of the batch this answers: a time replayed from another exchange is refused. */
  nonce: Uint8Array;
}

export interface FareRulesUpdate {
  kind: typeof UPDATE_FARE_RULES;
  version: number;
  /** The operator whose validators take these rules (their merchant id), inside the signed bytes. */
  operatorId: string;
  /** A JSON object; firmware/core/fares/rules.ts validates it before it takes effect. */
  rules: Record<string, unknown>;
}

export type Update = DenyListDelta | KeyringUpdate | ConfigUpdate | TimeUpdate | FareRulesUpdate;

const MAX_TERMINAL_ID_BYTES = 16;

function terminalIdBytes(id: string): Uint8Array {
  if (!/^[\x21-\x7e]{1,16}$/.test(id)) throw new UpdateError(`terminal id "${id}" is not 1..16 printable ASCII`);
  return utf8Encode(id);
}

function u(value: number, bytes = 4): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0 || value >= 2 ** (8 * bytes)) throw new UpdateError(`${value} does not fit ${bytes} bytes`);
  return encodeUint(value, bytes);
}

function idList(ids: Uint8Array[]): Uint8Array {
  return encodeTlv(
    ids.map((id) => {
      if (id.length < 1 || id.length > MAX_WALLET_ID_BYTES) throw new UpdateError(`wallet id of ${id.length} bytes`);
      return { tag: 0x81, value: id };
    }),
  );
}

function body(update: Update): Uint8Array {
  switch (update.kind) {
    case UPDATE_DENY_LIST:
      if (update.add.length + update.remove.length > MAX_DENY_DELTA) throw new UpdateError('deny-list delta too large');
      if (update.version <= update.fromVersion) throw new UpdateError('a deny-list delta must raise the version');
      return encodeTlv([
        { tag: 0x80, value: u(update.fromVersion) },
        { tag: 0xa1, value: idList(update.add) },
        { tag: 0xa2, value: idList(update.remove) },
      ]);
    case UPDATE_KEYRING:
      if (update.keys.length > MAX_KEYRING_KEYS) throw new UpdateError('too many keys');
      return encodeTlv([
        {
          tag: 0xa1,
          value: encodeTlv(
            update.keys.map((k) => ({
              tag: 0xa1,
              value: encodeTlv([
                { tag: 0x80, value: u(k.keyId) },
                { tag: 0x81, value: u(k.alg, 1) },
                { tag: 0x82, value: k.publicKey },
                { tag: 0x83, value: u(k.notBefore, 5) },
                { tag: 0x84, value: u(k.notAfter, 5) },
                { tag: 0x85, value: u(k.revoked ? 1 : 0, 1) },
              ]),
            })),
          ),
        },
      ]);
    case UPDATE_CONFIG: {
      const text = utf8Encode(JSON.stringify(update.settings));
      if (text.length > MAX_CONFIG_BYTES) throw new UpdateError('configuration too large');
      return encodeTlv([
        { tag: 0x80, value: text },
        { tag: 0x81, value: terminalIdBytes(update.terminalId) },
      ]);
    }
    case UPDATE_FARE_RULES: {
      const text = utf8Encode(JSON.stringify(update.rules));
      if (text.length > MAX_FARE_RULES_BYTES) throw new UpdateError('fare rules too large');
      return encodeTlv([
        { tag: 0x80, value: text },
        { tag: 0x81, value: terminalIdBytes(update.operatorId) },
      ]);
    }
    case UPDATE_TIME:
      if (update.nonce.length !== NONCE_LENGTH) throw new UpdateError('nonce must be 16 bytes');
      return encodeTlv([
        { tag: 0x80, value: u(update.unixSeconds, 5) },
        { tag: 0x81, value: update.nonce },
      ]);
    default:
      throw new UpdateError(`unknown update kind ${(update as { kind: number }).kind}`);
  }
}

function unsigned(update: Update): Tlv[] {
  return [
    { tag: 0x80, value: u(update.kind, 1) },
    { tag: 0x81, value: u(update.version) },
    { tag: 0xa2, value: body(update) },
  ];
}

/** Bytes the update's signature covers. */
export function updateSignedPayload(update: Update): Uint8Array {
  return concatBytes(UPDATE_DOMAIN, encodeTlv(unsigned(update)));
}

/** Encodes and signs an update with the provisioning root key (the service's side). */
export function encodeUpdate(
  update: Update,
  rootAlg: Alg,
  rootSecretKey: Uint8Array,
  sign: (message: Uint8Array) => Uint8Array = (m) => signMessage(rootAlg, rootSecretKey, m),
): Uint8Array {
  const fields = unsigned(update);
  const signature = sign(concatBytes(UPDATE_DOMAIN, encodeTlv(fields)));
  return encodeTlv([...fields, { tag: 0xde, value: signature }]);
}

function ids(bytes: Uint8Array): Uint8Array[] {
  return decodeTlv(bytes, { maxBytes: MAX_UPDATE_BYTES, maxFields: MAX_DENY_DELTA }).map((t) => {
    if (t.tag !== 0x81 || t.value.length < 1 || t.value.length > MAX_WALLET_ID_BYTES) throw new UpdateError('bad wallet id entry');
    return t.value;
  });
}

function decodeBody(kind: number, version: number, b: Uint8Array): Update {
  switch (kind) {
    case UPDATE_DENY_LIST: {
      const f = decodeFields(b, { 0x80: { min: 4, max: 4 }, 0xa1: { min: 0, max: 0xffff }, 0xa2: { min: 0, max: 0xffff } }, MAX_UPDATE_BYTES);
      const add = ids(required(f, 0xa1));
      const remove = ids(required(f, 0xa2));
      if (add.length + remove.length > MAX_DENY_DELTA) throw new UpdateError('deny-list delta too large');
      const fromVersion = decodeUint(required(f, 0x80));
      if (version <= fromVersion) throw new UpdateError('a deny-list delta must raise the version');
      return { kind, fromVersion, version, add, remove };
    }
    case UPDATE_KEYRING: {
      const f = decodeFields(b, { 0xa1: { min: 0, max: 0xffff } }, MAX_UPDATE_BYTES);
      const keys = decodeTlv(required(f, 0xa1), { maxBytes: 0xffff, maxFields: MAX_KEYRING_KEYS }).map((t) => {
        if (t.tag !== 0xa1) throw new UpdateError('bad keyring entry');
        const k = decodeFields(
          t.value,
          {
            0x80: { min: 4, max: 4 },
            0x81: { min: 1, max: 1 },
            0x82: { min: 32, max: 65 },
            0x83: { min: 5, max: 5 },
            0x84: { min: 5, max: 5 },
            0x85: { min: 1, max: 1 },
          },
          256,
        );
        const alg = decodeUint(required(k, 0x81));
        if (!isAlg(alg)) throw new UpdateError(`unknown key algorithm ${alg}`);
        const publicKey = required(k, 0x82);
        if (!publicKeyFits(alg, publicKey)) throw new UpdateError('public key does not fit its algorithm');
        const key: IssuerKey = {
          keyId: decodeUint(required(k, 0x80)),
          alg,
          publicKey,
          notBefore: decodeUint(required(k, 0x83)),
          notAfter: decodeUint(required(k, 0x84)),
          revoked: decodeUint(required(k, 0x85)) !== 0,
        };
        if (key.notAfter < key.notBefore) throw new UpdateError(`key ${key.keyId}: bad validity window`);
        return key;
      });
      return { kind, version, keys };
    }
    case UPDATE_CONFIG: {
      const { json, id } = jsonFor(b, MAX_CONFIG_BYTES, 'configuration');
      return { kind, version, terminalId: id, settings: json };
    }
    case UPDATE_FARE_RULES: {
      const { json, id } = jsonFor(b, MAX_FARE_RULES_BYTES, 'fare rules');
      return { kind, version, operatorId: id, rules: json };
    }
    case UPDATE_TIME: {
      const f = decodeFields(b, { 0x80: { min: 5, max: 5 }, 0x81: { min: NONCE_LENGTH, max: NONCE_LENGTH } }, 64);
      return { kind, version, unixSeconds: decodeUint(required(f, 0x80)), nonce: required(f, 0x81) };
    }
    default:
      throw new UpdateError(`unknown update kind ${kind}`);
  }
}

/** A body of a JSON object (80) and the id of the terminal or operator it is for (81). */
function jsonFor(b: Uint8Array, maxBytes: number, what: string): { json: Record<string, unknown>; id: string } {
  const f = decodeFields(b, { 0x80: { min: 2, max: maxBytes }, 0x81: { min: 1, max: MAX_TERMINAL_ID_BYTES } }, maxBytes + 32);
  const id = utf8Decode(required(f, 0x81));
  terminalIdBytes(id);
  let json: unknown;
  try {
    json = JSON.parse(utf8Decode(required(f, 0x80)));
  } catch {
    throw new UpdateError(`${what} is not JSON`);
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new UpdateError(`${what} is not an object`);
  return { json: json as Record<string, unknown>, id };
}

export interface SignedUpdate {
  update: Update;
  signature: Uint8Array;
  /** The received bytes the signature covers (after the domain string). */
  signedBytes: Uint8Array;
}

/** Decodes an update without checking its signature. Throws UpdateError. */
export function decodeUpdate(bytes: Uint8Array): SignedUpdate {
  try {
    const f = decodeFields(
      bytes,
      { 0x80: { min: 1, max: 1 }, 0x81: { min: 4, max: 4 }, 0xa2: { min: 0, max: 0xffff }, 0xde: { min: 64, max: 64 } },
      MAX_UPDATE_BYTES,
    );
    const update = decodeBody(decodeUint(required(f, 0x80)), decodeUint(required(f, 0x81)), required(f, 0xa2));
    return { update, signature: required(f, 0xde), signedBytes: withoutSignature(bytes) };
  } catch (e) {
    if (e instanceof TlvError) throw new UpdateError(e.message);
    throw e;
  }
}

/**
 * Decodes an update and checks its signature against the provisioning root key: the only way an
 * update reaches the terminal's state. Throws UpdateError for bad bytes or a bad signature.
 */
export function verifyUpdate(bytes: Uint8Array, rootAlg: Alg, rootPublicKey: Uint8Array, verify: VerifyFn = verifySignature): Update {
  const { update, signature, signedBytes } = decodeUpdate(bytes);
  if (!verify(rootAlg, rootPublicKey, concatBytes(UPDATE_DOMAIN, signedBytes), signature)) {
    throw new UpdateError(`update (kind ${update.kind}, version ${update.version}) is not signed by the root key`);
  }
  return update;
}

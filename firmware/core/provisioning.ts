// The terminal provisioning file: everything a terminal needs at first boot, written by the CLI
// (`tapline provision-terminal`), loaded by the simulator and written to flash or preferences by the
// device build. JSON, because it is produced and read by people and tools; validated strictly here so a
// wrong file stops the terminal at boot with a message that names the field, not later mid-payment.
// Platform-free: runs on XS and Node.
import { TaplineError } from '../base/errors';
import { fromHex } from '../base/bytes';
import { ALG_ED25519, ALG_P256 } from './crypto/verify';
import { checkIssuerKey, KeyringError, type IssuerKey } from './crypto/keyring';
import { parseRiskConfig, RiskConfigError, type RiskConfig } from './risk/config';

export const PROVISIONING_VERSION = 1;

export type TerminalMode = 'merchant' | 'transit';
export type SignatureAlg = 'p256' | 'ed25519';

/** A cached issuer public key: what the terminal verifies wallet certificates against. */
export interface ProvisionedIssuerKey {
  /** Key identifier (0..2^32-1), as carried in wallet certificates. */
  keyId: number;
  alg: SignatureAlg;
  /** Public key, hex: P-256 SEC1 (33 or 65 bytes) or Ed25519 (32 bytes). */
  publicKey: string;
  /** Validity, unix seconds. */
  notBefore: number;
  notAfter: number;
  revoked?: boolean;
}

export interface ProvisionedWifi {
  ssid: string;
  password: string;
}

export interface Provisioning {
  version: number;
  /** Terminal identity: 1..16 of [A-Za-z0-9._-] (it travels in every PAY request). */
  terminalId: string;
  /** The terminal's P-256 device private key, hex (32 bytes): it signs receipt batches. */
  devicePrivateKey: string;
  /** The matching public key, hex SEC1 compressed (33 bytes), registered with the service. */
  devicePublicKey: string;
  merchantId: string;
  mode: TerminalMode;
  /** Transit fare in minor units (required in transit mode, absent otherwise). */
  fare?: number;
  /** Transit: the validator's station in its operator's fare rules. */
  station?: number;
  /** Transit: the operator's fare rules as signed (update kind 6, hex), verified at boot against the root key. */
  fareRules?: string;
  /** The risk engine's parameters (firmware/core/risk/config.ts); its `currency` is the terminal's. */
  risk: RiskConfig;
  issuerKeys: ProvisionedIssuerKey[];
  /** The provisioning root key that signs updates (deny list, keyring, configuration). */
  rootPublicKey: { alg: SignatureAlg; publicKey: string };
  /** Base URL of the settlement service, e.g. http://192.168.1.10:8080 */
  settlementUrl: string;
  wifi?: ProvisionedWifi;
  /** Where the merchant is, for purpose-bound funds: ISO 18245 category (0..9999) and region code (0..65535). */
  place?: { category: number; region: number };
  /**
   * Merchant mode, offline refunds: the terminal's certificate (protocol/refund.ts, signed by the root
   * key, hex) and the merchant PIN as SHA-256(salt || PIN), both hex.
   */
  refunds?: { certificate: string; pinSalt: string; pinHash: string };
  /** Where the merchant's day starts for the day totals: minutes east of UTC (default 0: UTC days). */
  utcOffsetMinutes?: number;
}

export class ProvisioningError extends TaplineError {
  override readonly name: string = 'ProvisioningError';
}

const MAX_FILE_BYTES = 64 * 1024;
const MAX_ISSUER_KEYS = 32;
const MAX_AMOUNT = 2 ** 40;
const ID_PATTERN = /^[A-Za-z0-9._-]{1,16}$/;

/** Parses and validates a provisioning file (text or an already parsed value). Throws ProvisioningError. */
export function parseProvisioning(input: string | unknown): Provisioning {
  let value: unknown = input;
  if (typeof input === 'string') {
    if (input.length > MAX_FILE_BYTES) throw new ProvisioningError(`file of ${input.length} characters exceeds ${MAX_FILE_BYTES}`);
    try {
      value = JSON.parse(input);
    } catch (e) {
      throw new ProvisioningError(`not JSON: ${(e as Error).message}`);
    }
  }
  const o = object(value, 'provisioning');
  known(o, 'provisioning', [
    'version', 'terminalId', 'devicePrivateKey', 'devicePublicKey', 'merchantId', 'mode', 'fare',
    'risk', 'issuerKeys', 'rootPublicKey', 'settlementUrl', 'wifi', 'place', 'station', 'fareRules', 'refunds',
    'utcOffsetMinutes',
  ]);
  const version = integer(o.version, 'version', 1, 1000);
  if (version !== PROVISIONING_VERSION) throw new ProvisioningError(`version ${version} is not supported (expected ${PROVISIONING_VERSION})`);
  const mode = o.mode;
  if (mode !== 'merchant' && mode !== 'transit') throw new ProvisioningError('mode must be "merchant" or "transit"');
  let fare: number | undefined;
  if (mode === 'transit') fare = integer(o.fare, 'fare', 1, MAX_AMOUNT);
  else if (o.fare !== undefined) throw new ProvisioningError('fare is only allowed in transit mode');
  if (mode !== 'transit' && (o.station !== undefined || o.fareRules !== undefined)) throw new ProvisioningError('station and fareRules are only allowed in transit mode');
  const station = o.station === undefined ? undefined : integer(o.station, 'station', 0, 65535);
  if (o.fareRules !== undefined && (typeof o.fareRules !== 'string' || !/^([0-9a-f]{2}){1,4096}$/.test(o.fareRules))) {
    throw new ProvisioningError('fareRules must be the signed fare-rules update, lowercase hex');
  }
  const keysValue = o.issuerKeys;
  if (!Array.isArray(keysValue)) throw new ProvisioningError('issuerKeys must be an array');
  if (keysValue.length < 1 || keysValue.length > MAX_ISSUER_KEYS) throw new ProvisioningError(`issuerKeys must hold 1..${MAX_ISSUER_KEYS} keys`);
  const issuerKeys = keysValue.map((k, i) => issuerKey(k, `issuerKeys[${i}]`));
  const ids = new Set(issuerKeys.map((k) => k.keyId));
  if (ids.size !== issuerKeys.length) throw new ProvisioningError('issuerKeys has a duplicated keyId');
  let riskConfig: RiskConfig;
  try {
    riskConfig = parseRiskConfig(o.risk);
  } catch (e) {
    if (e instanceof RiskConfigError) throw new ProvisioningError(`risk: ${e.message}`);
    throw e;
  }
  const root = object(o.rootPublicKey, 'rootPublicKey');
  known(root, 'rootPublicKey', ['alg', 'publicKey']);
  const rootAlg = alg(root.alg, 'rootPublicKey.alg');
  const result: Provisioning = {
    version,
    terminalId: id(o.terminalId, 'terminalId'),
    devicePrivateKey: hex(o.devicePrivateKey, 'devicePrivateKey', [32]),
    devicePublicKey: hex(o.devicePublicKey, 'devicePublicKey', [33]),
    merchantId: id(o.merchantId, 'merchantId'),
    mode,
    risk: riskConfig,
    issuerKeys,
    rootPublicKey: { alg: rootAlg, publicKey: publicKeyHex(root.publicKey, 'rootPublicKey.publicKey', rootAlg) },
    settlementUrl: url(o.settlementUrl, 'settlementUrl'),
  };
  if (fare !== undefined) result.fare = fare;
  if (o.utcOffsetMinutes !== undefined) result.utcOffsetMinutes = integer(o.utcOffsetMinutes, 'utcOffsetMinutes', -720, 840);
  if (station !== undefined) result.station = station;
  if (typeof o.fareRules === 'string') result.fareRules = o.fareRules;
  if (o.wifi !== undefined) result.wifi = wifi(o.wifi);
  if (o.place !== undefined) {
    const p = object(o.place, 'place');
    known(p, 'place', ['category', 'region']);
    result.place = { category: integer(p.category, 'place.category', 0, 9999), region: integer(p.region, 'place.region', 0, 0xffff) };
  }
  if (o.refunds !== undefined) {
    if (mode !== 'merchant') throw new ProvisioningError('refunds are only allowed in merchant mode');
    const r = object(o.refunds, 'refunds');
    known(r, 'refunds', ['certificate', 'pinSalt', 'pinHash']);
    if (typeof r.certificate !== 'string' || !/^([0-9a-f]{2}){40,160}$/.test(r.certificate)) throw new ProvisioningError('refunds.certificate must be the terminal certificate, lowercase hex');
    result.refunds = { certificate: r.certificate, pinSalt: hex(r.pinSalt, 'refunds.pinSalt', [16]), pinHash: hex(r.pinHash, 'refunds.pinHash', [32]) };
  }
  return result;
}

/** The cached issuer keys in the keyring's form (firmware/core/crypto/keyring.ts). */
export function provisionedIssuerKeys(p: Provisioning): IssuerKey[] {
  return p.issuerKeys.map((k) => {
    try {
      return checkIssuerKey({
        keyId: k.keyId,
        alg: algId(k.alg),
        publicKey: fromHex(k.publicKey),
        notBefore: k.notBefore,
        notAfter: k.notAfter,
        revoked: k.revoked ?? false,
      });
    } catch (e) {
      if (e instanceof KeyringError) throw new ProvisioningError(`issuer key ${k.keyId}: ${e.message}`);
      throw e;
    }
  });
}

/** The numeric algorithm identifier the protocol carries for a provisioning file's algorithm name. */
export function algId(alg: SignatureAlg): typeof ALG_P256 | typeof ALG_ED25519 {
  return alg === 'p256' ? ALG_P256 : ALG_ED25519;
}

/** The canonical text of a provisioning file (what the CLI writes). */
export function formatProvisioning(p: Provisioning): string {
  return JSON.stringify(parseProvisioning(p), null, 2) + '\n';
}

function issuerKey(value: unknown, where: string): ProvisionedIssuerKey {
  const k = object(value, where);
  known(k, where, ['keyId', 'alg', 'publicKey', 'notBefore', 'notAfter', 'revoked']);
  const a = alg(k.alg, `${where}.alg`);
  const notBefore = integer(k.notBefore, `${where}.notBefore`, 0, 2 ** 32 - 1);
  const notAfter = integer(k.notAfter, `${where}.notAfter`, 0, 2 ** 32 - 1);
  if (notAfter <= notBefore) throw new ProvisioningError(`${where}: notAfter must be later than notBefore`);
  const key: ProvisionedIssuerKey = {
    keyId: integer(k.keyId, `${where}.keyId`, 0, 2 ** 32 - 1),
    alg: a,
    publicKey: publicKeyHex(k.publicKey, `${where}.publicKey`, a),
    notBefore,
    notAfter,
  };
  if (k.revoked !== undefined) {
    if (typeof k.revoked !== 'boolean') throw new ProvisioningError(`${where}.revoked must be true or false`);
    key.revoked = k.revoked;
  }
  return key;
}

function wifi(value: unknown): ProvisionedWifi {
  const w = object(value, 'wifi');
  known(w, 'wifi', ['ssid', 'password']);
  const ssid = string(w.ssid, 'wifi.ssid');
  const password = string(w.password ?? '', 'wifi.password');
  if (ssid.length < 1 || ssid.length > 32) throw new ProvisioningError('wifi.ssid must have 1..32 characters');
  if (password.length !== 0 && (password.length < 8 || password.length > 63)) {
    throw new ProvisioningError('wifi.password must be empty (open network) or have 8..63 characters');
  }
  return { ssid, password };
}

function publicKeyHex(value: unknown, where: string, a: SignatureAlg): string {
  return hex(value, where, a === 'p256' ? [33, 65] : [32]);
}

function alg(value: unknown, where: string): SignatureAlg {
  if (value !== 'p256' && value !== 'ed25519') throw new ProvisioningError(`${where} must be "p256" or "ed25519"`);
  return value;
}

function url(value: unknown, where: string): string {
  const s = string(value, where);
  if (!/^https?:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?(\/[A-Za-z0-9._~\/-]*)?$/.test(s)) {
    throw new ProvisioningError(`${where} must be an http:// or https:// URL (host, optional port and path)`);
  }
  return s.replace(/\/+$/, '');
}

function id(value: unknown, where: string): string {
  const s = string(value, where);
  if (!ID_PATTERN.test(s)) throw new ProvisioningError(`${where} must be 1..16 of A-Z a-z 0-9 . _ -`);
  return s;
}

function hex(value: unknown, where: string, lengths: number[]): string {
  const s = string(value, where);
  let bytes: Uint8Array;
  try {
    bytes = fromHex(s);
  } catch {
    throw new ProvisioningError(`${where} is not hex`);
  }
  if (!lengths.includes(bytes.length)) throw new ProvisioningError(`${where} has ${bytes.length} bytes, expected ${lengths.join(' or ')}`);
  return s.toLowerCase();
}

function integer(value: unknown, where: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new ProvisioningError(`${where} must be an integer`);
  if (value < min || value > max) throw new ProvisioningError(`${where} must be in ${min}..${max}`);
  return value;
}

function string(value: unknown, where: string): string {
  if (typeof value !== 'string') throw new ProvisioningError(`${where} must be a string`);
  return value;
}

function object(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ProvisioningError(`${where} must be an object`);
  return value as Record<string, unknown>;
}

function known(o: Record<string, unknown>, where: string, keys: string[]): void {
  for (const key of Object.keys(o)) {
    if (!keys.includes(key)) throw new ProvisioningError(`${where} has an unknown field "${key}"`);
  }
}

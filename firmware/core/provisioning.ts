// The terminal provisioning file: everything a terminal needs at first boot, written by the CLI
// (`tapline provision-terminal`), loaded by the simulator and written to flash or preferences by the
// device build. JSON, because it is produced and read by people and tools; validated strictly here so a
// wrong file stops the terminal at boot with a message that names the field, not later mid-payment.
// Platform-free: runs on XS and Node.
import { fromHex } from './bytes';

export const PROVISIONING_VERSION = 1;

export type TerminalMode = 'merchant' | 'transit';
export type SignatureAlg = 'p256' | 'ed25519';

/** Limits the terminal's risk engine enforces offline. Amounts are in the currency's minor units. */
export interface ProvisionedRisk {
  /** Largest single offline payment. */
  perTransactionCap: number;
  /** Most value accepted offline since the last acknowledged upload. */
  offlineAmountCap: number;
  /** Most payments accepted offline since the last acknowledged upload. */
  offlineCountCap: number;
  /** Longest time (seconds) the terminal keeps accepting payments without reaching the service. */
  maxOfflineSeconds: number;
  /** Above this amount the wallet must prove cardholder verification (or a PIN is keyed). */
  cvmThreshold: number;
  /** Transit: the same wallet again within this many seconds is refused (anti-passback); 0 = off. */
  antiPassbackSeconds: number;
  /** Per-class single-payment limits (class number as a string key -> minor units). */
  classLimits: Record<string, number>;
}

/** A cached issuer public key: what the terminal verifies wallet certificates against. */
export interface ProvisionedIssuerKey {
  /** Key identifier, hex (1..16 bytes), as carried in wallet certificates. */
  keyId: string;
  alg: SignatureAlg;
  /** Public key, hex: P-256 SEC1 (33 or 65 bytes) or Ed25519 (32 bytes). */
  publicKey: string;
  /** Validity, unix seconds. */
  notBefore: number;
  notAfter: number;
}

export interface ProvisionedWifi {
  ssid: string;
  password: string;
}

export interface Provisioning {
  version: number;
  /** Terminal identity: 1..32 of [A-Za-z0-9._-]. */
  terminalId: string;
  /** The terminal's P-256 device private key, hex (32 bytes): it signs receipt batches. */
  devicePrivateKey: string;
  /** The matching public key, hex SEC1 compressed (33 bytes), registered with the service. */
  devicePublicKey: string;
  merchantId: string;
  mode: TerminalMode;
  /** Transit fare in minor units (required in transit mode, absent otherwise). */
  fare?: number;
  /** ISO 4217 alphabetic code. */
  currency: string;
  risk: ProvisionedRisk;
  issuerKeys: ProvisionedIssuerKey[];
  /** The provisioning root key that signs updates (deny list, keyring, configuration). */
  rootPublicKey: { alg: SignatureAlg; publicKey: string };
  /** Base URL of the settlement service, e.g. http://192.168.1.10:8080 */
  settlementUrl: string;
  wifi?: ProvisionedWifi;
}

export class ProvisioningError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProvisioningError';
  }
}

const MAX_FILE_BYTES = 64 * 1024;
const MAX_ISSUER_KEYS = 32;
const MAX_AMOUNT = 2 ** 40;
const ID_PATTERN = /^[A-Za-z0-9._-]{1,32}$/;

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
    'version', 'terminalId', 'devicePrivateKey', 'devicePublicKey', 'merchantId', 'mode', 'fare', 'currency',
    'risk', 'issuerKeys', 'rootPublicKey', 'settlementUrl', 'wifi',
  ]);
  const version = integer(o.version, 'version', 1, 1000);
  if (version !== PROVISIONING_VERSION) throw new ProvisioningError(`version ${version} is not supported (expected ${PROVISIONING_VERSION})`);
  const mode = o.mode;
  if (mode !== 'merchant' && mode !== 'transit') throw new ProvisioningError('mode must be "merchant" or "transit"');
  let fare: number | undefined;
  if (mode === 'transit') fare = integer(o.fare, 'fare', 1, MAX_AMOUNT);
  else if (o.fare !== undefined) throw new ProvisioningError('fare is only allowed in transit mode');
  const currency = string(o.currency, 'currency');
  if (!/^[A-Z]{3}$/.test(currency)) throw new ProvisioningError('currency must be an ISO 4217 code of three capital letters');
  const keysValue = o.issuerKeys;
  if (!Array.isArray(keysValue)) throw new ProvisioningError('issuerKeys must be an array');
  if (keysValue.length < 1 || keysValue.length > MAX_ISSUER_KEYS) throw new ProvisioningError(`issuerKeys must hold 1..${MAX_ISSUER_KEYS} keys`);
  const issuerKeys = keysValue.map((k, i) => issuerKey(k, `issuerKeys[${i}]`));
  const ids = new Set(issuerKeys.map((k) => k.keyId));
  if (ids.size !== issuerKeys.length) throw new ProvisioningError('issuerKeys has a duplicated keyId');
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
    currency,
    risk: risk(o.risk),
    issuerKeys,
    rootPublicKey: { alg: rootAlg, publicKey: publicKeyHex(root.publicKey, 'rootPublicKey.publicKey', rootAlg) },
    settlementUrl: url(o.settlementUrl, 'settlementUrl'),
  };
  if (fare !== undefined) result.fare = fare;
  if (o.wifi !== undefined) result.wifi = wifi(o.wifi);
  return result;
}

/** The canonical text of a provisioning file (what the CLI writes). */
export function formatProvisioning(p: Provisioning): string {
  return JSON.stringify(parseProvisioning(p), null, 2) + '\n';
}

function risk(value: unknown): ProvisionedRisk {
  const r = object(value, 'risk');
  known(r, 'risk', [
    'perTransactionCap', 'offlineAmountCap', 'offlineCountCap', 'maxOfflineSeconds', 'cvmThreshold',
    'antiPassbackSeconds', 'classLimits',
  ]);
  const limits = object(r.classLimits ?? {}, 'risk.classLimits');
  const classLimits: Record<string, number> = {};
  for (const key of Object.keys(limits)) {
    if (!/^[1-9]$/.test(key)) throw new ProvisioningError(`risk.classLimits key "${key}" must be a wallet class 1..9`);
    classLimits[key] = integer(limits[key], `risk.classLimits.${key}`, 0, MAX_AMOUNT);
  }
  const out: ProvisionedRisk = {
    perTransactionCap: integer(r.perTransactionCap, 'risk.perTransactionCap', 1, MAX_AMOUNT),
    offlineAmountCap: integer(r.offlineAmountCap, 'risk.offlineAmountCap', 1, MAX_AMOUNT),
    offlineCountCap: integer(r.offlineCountCap, 'risk.offlineCountCap', 1, 1_000_000),
    maxOfflineSeconds: integer(r.maxOfflineSeconds, 'risk.maxOfflineSeconds', 60, 366 * 86400),
    cvmThreshold: integer(r.cvmThreshold, 'risk.cvmThreshold', 0, MAX_AMOUNT),
    antiPassbackSeconds: integer(r.antiPassbackSeconds ?? 0, 'risk.antiPassbackSeconds', 0, 86400),
    classLimits,
  };
  if (out.perTransactionCap > out.offlineAmountCap) {
    throw new ProvisioningError('risk.perTransactionCap must not exceed risk.offlineAmountCap');
  }
  return out;
}

function issuerKey(value: unknown, where: string): ProvisionedIssuerKey {
  const k = object(value, where);
  known(k, where, ['keyId', 'alg', 'publicKey', 'notBefore', 'notAfter']);
  const a = alg(k.alg, `${where}.alg`);
  const notBefore = integer(k.notBefore, `${where}.notBefore`, 0, 2 ** 32 - 1);
  const notAfter = integer(k.notAfter, `${where}.notAfter`, 0, 2 ** 32 - 1);
  if (notAfter <= notBefore) throw new ProvisioningError(`${where}: notAfter must be later than notBefore`);
  return {
    keyId: hex(k.keyId, `${where}.keyId`, range(1, 16)),
    alg: a,
    publicKey: publicKeyHex(k.publicKey, `${where}.publicKey`, a),
    notBefore,
    notAfter,
  };
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
  if (!ID_PATTERN.test(s)) throw new ProvisioningError(`${where} must be 1..32 of A-Z a-z 0-9 . _ -`);
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

function range(min: number, max: number): number[] {
  const out: number[] = [];
  for (let i = min; i <= max; i++) out.push(i);
  return out;
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

// Purpose-bound funds: a bound balance's grant, signed by the wallet's issuer, says where the money may be
// spent (merchant categories, optionally regions and an expiry). The wallet shows the grant of the
// balance its holder chose (READ PURSE), PAY names the balance and the terminal's category and region,
// and the receipt carries the grant so the service books the payment to the program's account.
import { concatBytes, fromHex, toHex, utf8Encode } from '../../base/bytes';
import { isAlg, SIGNATURE_LENGTH, type Alg } from './alg';
import { decodeFields, decodeUint, encodeTlv, encodeUint, required, TlvError, type FieldRule, type Tlv } from './tlv';

export const PURPOSE_DOMAIN = utf8Encode('tapline/purpose/v1\u0000');
export const GRANT_VERSION = 1;
export const MAX_GRANT_BYTES = 200;
export const MAX_GRANT_CODES = 16;
/** Purse 0 is the wallet's free money; bound balances are 1..15. */
export const MAX_PURSE = 15;

const G = {
  version: 0x80,
  walletId: 0x81,
  purse: 0x82,
  program: 0x83,
  categories: 0x84,
  regions: 0x85,
  notAfter: 0x86,
  issuerKeyId: 0x87,
  issuerAlg: 0x88,
  signature: 0x89,
} as const;

const RULES: Record<number, FieldRule> = {
  [G.version]: { min: 1, max: 1 },
  [G.walletId]: { min: 8, max: 8 },
  [G.purse]: { min: 1, max: 1 },
  [G.program]: { min: 1, max: 16 },
  [G.categories]: { min: 2, max: 2 * MAX_GRANT_CODES },
  [G.regions]: { min: 2, max: 2 * MAX_GRANT_CODES, optional: true },
  [G.notAfter]: { min: 4, max: 4, optional: true },
  [G.issuerKeyId]: { min: 4, max: 4 },
  [G.issuerAlg]: { min: 1, max: 1 },
  [G.signature]: { min: SIGNATURE_LENGTH, max: SIGNATURE_LENGTH },
};

export interface GrantBody {
  walletId: string;
  /** Which of the wallet's balances (1..15). */
  purse: number;
  /** The program the money comes from (its account at settlement), printable ASCII, 1..16. */
  program: string;
  /** ISO 18245 merchant category codes where it may be spent (1..16 of them). */
  categories: number[];
  /** Region codes where it may be spent (absent: anywhere). */
  regions?: number[];
  /** Unix seconds after which it may not be spent (absent: no expiry). */
  notAfter?: number;
  issuerKeyId: number;
  issuerAlg: Alg;
}

export interface Grant extends GrantBody {
  signature: Uint8Array;
  tbs: Uint8Array;
  bytes: Uint8Array;
}

function codes(name: string, list: number[]): Uint8Array {
  if (list.length < 1 || list.length > MAX_GRANT_CODES) throw new TlvError(`${name}: 1 to ${MAX_GRANT_CODES} codes`);
  return concatBytes(...list.map((c) => encodeUint(c, 2)));
}

function readCodes(value: Uint8Array): number[] {
  if (value.length % 2 !== 0) throw new TlvError('a code list of an odd length');
  const out: number[] = [];
  for (let i = 0; i < value.length; i += 2) out.push(decodeUint(value.subarray(i, i + 2)));
  return out;
}

function program(text: string): Uint8Array {
  if (!/^[\x21-\x7e]{1,16}$/.test(text)) throw new TlvError('program must be 1 to 16 printable ASCII characters');
  return utf8Encode(text);
}

function bodyFields(b: GrantBody): Tlv[] {
  if (!Number.isInteger(b.purse) || b.purse < 1 || b.purse > MAX_PURSE) throw new TlvError(`purse ${b.purse} outside 1..${MAX_PURSE}`);
  if (!/^[0-9a-f]{16}$/.test(b.walletId)) throw new TlvError('walletId must be 16 lowercase hex digits');
  const out: Tlv[] = [
    { tag: G.version, value: encodeUint(GRANT_VERSION, 1) },
    { tag: G.walletId, value: fromHex(b.walletId) },
    { tag: G.purse, value: encodeUint(b.purse, 1) },
    { tag: G.program, value: program(b.program) },
    { tag: G.categories, value: codes('categories', b.categories) },
  ];
  if (b.regions !== undefined) out.push({ tag: G.regions, value: codes('regions', b.regions) });
  if (b.notAfter !== undefined) out.push({ tag: G.notAfter, value: encodeUint(b.notAfter, 4) });
  out.push({ tag: G.issuerKeyId, value: encodeUint(b.issuerKeyId, 4) }, { tag: G.issuerAlg, value: encodeUint(b.issuerAlg, 1) });
  return out;
}

export function encodeGrantBody(b: GrantBody): Uint8Array {
  return encodeTlv(bodyFields(b));
}

export function grantSignedPayload(tbs: Uint8Array): Uint8Array {
  return concatBytes(PURPOSE_DOMAIN, tbs);
}

export function encodeGrant(b: GrantBody, signature: Uint8Array): Uint8Array {
  if (signature.length !== SIGNATURE_LENGTH) throw new TlvError(`signature of ${signature.length} bytes`);
  return encodeTlv([...bodyFields(b), { tag: G.signature, value: signature }]);
}

/** Parses a grant (untrusted bytes). Throws TlvError. Says nothing about its signature. */
export function decodeGrant(bytes: Uint8Array): Grant {
  const f = decodeFields(bytes, RULES, MAX_GRANT_BYTES);
  if (decodeUint(required(f, G.version)) !== GRANT_VERSION) throw new TlvError(`grant version ${decodeUint(required(f, G.version))}`);
  const purse = decodeUint(required(f, G.purse));
  if (purse < 1 || purse > MAX_PURSE) throw new TlvError(`purse ${purse} outside 1..${MAX_PURSE}`);
  const programBytes = required(f, G.program);
  let programText = '';
  for (const b of programBytes) {
    if (b < 0x21 || b > 0x7e) throw new TlvError('program is not printable ASCII');
    programText += String.fromCharCode(b);
  }
  const alg = decodeUint(required(f, G.issuerAlg));
  if (!isAlg(alg)) throw new TlvError(`grant: unknown algorithm ${alg}`);
  const signature = required(f, G.signature);
  const regions = f.get(G.regions);
  const notAfter = f.get(G.notAfter);
  return {
    walletId: toHex(required(f, G.walletId)),
    purse,
    program: programText,
    categories: readCodes(required(f, G.categories)),
    ...(regions ? { regions: readCodes(regions) } : {}),
    ...(notAfter ? { notAfter: decodeUint(notAfter) } : {}),
    issuerKeyId: decodeUint(required(f, G.issuerKeyId)),
    issuerAlg: alg,
    signature: signature.slice(),
    tbs: bytes.slice(0, signature.byteOffset - bytes.byteOffset - 2),
    bytes: bytes.slice(),
  };
}

/** Where a payment is made: the terminal's provisioned merchant category and region. */
export interface MerchantPlace {
  category: number;
  region: number;
}

/**
 * Whether the grant allows a payment at `place` at `time` (unix seconds, undefined: unknown). The same
 * rule for the wallet, the terminal and the service. An expiry cannot be shown not passed without the time.
 */
export function grantRefusal(g: GrantBody, place: MerchantPlace, time: number | undefined): 'purposeMismatch' | 'purposeExpired' | undefined {
  if (!g.categories.includes(place.category)) return 'purposeMismatch';
  if (g.regions !== undefined && !g.regions.includes(place.region)) return 'purposeMismatch';
  if (g.notAfter !== undefined && (time === undefined || time > g.notAfter)) return 'purposeExpired';
  return undefined;
}

// ---- READ PURSE response: the balance the holder chose, with its grant ----

const P = { balance: 0x80, grant: 0x81 } as const;
const PURSE_RULES: Record<number, FieldRule> = { [P.balance]: { min: 6, max: 6 }, [P.grant]: { min: 1, max: MAX_GRANT_BYTES } };

export interface PurseChoice {
  balance: number;
  grant: Uint8Array;
}

export function encodePurseResponse(p: PurseChoice | undefined): Uint8Array {
  if (!p) return new Uint8Array(0);
  return encodeTlv([{ tag: P.balance, value: encodeUint(p.balance, 6) }, { tag: P.grant, value: p.grant }]);
}

/** Empty: the holder pays with free money. Throws TlvError. */
export function decodePurseResponse(bytes: Uint8Array): PurseChoice | undefined {
  if (bytes.length === 0) return undefined;
  const f = decodeFields(bytes, PURSE_RULES, 2 + 6 + 3 + MAX_GRANT_BYTES);
  return { balance: decodeUint(required(f, P.balance)), grant: required(f, P.grant).slice() };
}

// ISO 7816-4 short APDUs of the tapline wallet application. Everything fits short APDUs: the largest
// message (a certificate) is under 256 bytes.
import { TaplineError } from '../../base/errors';
import { concatBytes, equalBytes } from '../../base/bytes';

/** Proprietary AID (RID category F): "F0" + "TAPLINE" + version 01. */
export const AID = Uint8Array.from([0xf0, 0x54, 0x41, 0x50, 0x4c, 0x49, 0x4e, 0x45, 0x01]);

export const CLA_ISO = 0x00;
export const CLA_PROPRIETARY = 0x80;
export const INS_SELECT = 0xa4;
export const INS_VERIFY_PIN = 0x20;
export const INS_READ_CERTIFICATE = 0x10;
export const INS_PAY = 0x30;
export const INS_READ_BALANCE = 0x40;
/** READ BALANCE answers 6 bytes, big-endian minor units: for the holder to see, never for a decision. */
export const BALANCE_BYTES = 6;
/** A signed PAY response the wallet still holds, by the request's challenge (power cut after PAY). */
export const INS_RECALL = 0x32;
/** The bound balance the holder chose for the next payment, with its grant (protocol/purpose.ts). */
export const INS_READ_PURSE = 0x34;
/** Offline refunds (protocol/refund.ts): the terminal's root-signed certificate, then the signed REFUND. */
export const INS_REFUND = 0x35;
export const INS_TERMINAL_CERTIFICATE = 0x36;
/** The wallet's transit log (protocol/transit-log.ts), unsigned: the PAY that follows names and signs it. */
export const INS_READ_TRANSIT_LOG = 0x38;

/** The wallet's status words: one table, read by the terminal (tap.ts) and written by the wallet (host/wallet/). */
export const SW = {
  ok: 0x9000,
  wrongLength: 0x6700,
  securityNotSatisfied: 0x6982, // holder verification required
  pinBlocked: 0x6983,
  conditionsNotSatisfied: 0x6985, // wrong order (e.g. PAY before SELECT)
  wrongData: 0x6a80,
  overWalletLimit: 0x6a81,
  fileNotFound: 0x6a82, // unknown AID
  insufficientBalance: 0x6a84,
  /** The wallet's own offline caps since its last sync (certificate fields 8D, 8E): amount, then count. */
  walletOfflineAmount: 0x6a8a,
  walletOfflineCount: 0x6a8b,
  /** A bound balance named by PAY may not be spent here (category, region), or no longer (expiry). */
  purposeMismatch: 0x6a8c,
  purposeExpired: 0x6a8d,
  /** PAY names a transit log (its digest) that is not the one the wallet holds, or a refund it cannot give. */
  transitLogMismatch: 0x6a88,
  /** Offline refunds: the original is not in the wallet's book (6A88, as above: referenced data not found). */
  refundUnknownOriginal: 0x6a88,
  /** The refund's id is not above the last one this terminal gave the wallet (a replay). */
  refundReplayed: 0x6a89,
  /** The terminal's certificate or its signature does not verify, or the certificate has expired. */
  refundForged: 0x6a8e,
  /** The refunds of this original would pass its amount. */
  refundOverOriginal: 0x6a8f,
  insNotSupported: 0x6d00,
  claNotSupported: 0x6e00,
  /** 63Cx: wrong PIN, x tries left. */
  pinWrongBase: 0x63c0,
} as const;

export const MAX_SHORT_DATA_BYTES = 255;

export class ApduError extends TaplineError {
  override readonly name: string = 'ApduError';
}

export interface CommandApdu {
  cla: number;
  ins: number;
  p1: number;
  p2: number;
  data: Uint8Array;
  /** Expected response length; 256 is encoded as Le = 00. Undefined: no Le. */
  le?: number;
}

export function encodeCommand(c: CommandApdu): Uint8Array {
  if (c.data.length > MAX_SHORT_DATA_BYTES) throw new ApduError(`command data of ${c.data.length} bytes needs an extended APDU`);
  const head = [c.cla, c.ins, c.p1, c.p2];
  if (c.data.length > 0) head.push(c.data.length);
  const tail = c.le === undefined ? [] : [c.le === 256 ? 0 : c.le];
  return concatBytes(Uint8Array.from(head), c.data, Uint8Array.from(tail));
}

/** Parses a short C-APDU (cases 1 to 4). Throws ApduError. */
export function decodeCommand(apdu: Uint8Array): CommandApdu {
  if (apdu.length < 4) throw new ApduError(`command of ${apdu.length} bytes`);
  if (apdu.length > 4 + 1 + MAX_SHORT_DATA_BYTES + 1) throw new ApduError(`command of ${apdu.length} bytes is not a short APDU`);
  const [cla, ins, p1, p2] = [apdu[0]!, apdu[1]!, apdu[2]!, apdu[3]!];
  if (apdu.length === 4) return { cla, ins, p1, p2, data: new Uint8Array(0) };
  if (apdu.length === 5) return { cla, ins, p1, p2, data: new Uint8Array(0), le: apdu[4] || 256 };
  const lc = apdu[4]!;
  if (lc === 0) throw new ApduError('extended APDUs are not supported');
  if (apdu.length === 5 + lc) return { cla, ins, p1, p2, data: apdu.slice(5, 5 + lc) };
  if (apdu.length === 6 + lc) return { cla, ins, p1, p2, data: apdu.slice(5, 5 + lc), le: apdu[5 + lc] || 256 };
  throw new ApduError(`Lc ${lc} does not match a command of ${apdu.length} bytes`);
}

export interface ResponseApdu {
  data: Uint8Array;
  sw: number;
}

export function encodeResponse(data: Uint8Array, sw: number): Uint8Array {
  return concatBytes(data, Uint8Array.from([sw >> 8, sw & 0xff]));
}

export function decodeResponse(rapdu: Uint8Array): ResponseApdu {
  if (rapdu.length < 2) throw new ApduError(`response of ${rapdu.length} bytes`);
  if (rapdu.length > 256 + 2) throw new ApduError(`response of ${rapdu.length} bytes is too long`);
  const n = rapdu.length - 2;
  return { data: rapdu.slice(0, n), sw: (rapdu[n]! << 8) | rapdu[n + 1]! };
}

export function selectCommand(aid: Uint8Array = AID): Uint8Array {
  return encodeCommand({ cla: CLA_ISO, ins: INS_SELECT, p1: 0x04, p2: 0x00, data: aid, le: 256 });
}

export function readCertificateCommand(): Uint8Array {
  return encodeCommand({ cla: CLA_PROPRIETARY, ins: INS_READ_CERTIFICATE, p1: 0, p2: 0, data: new Uint8Array(0), le: 256 });
}

export function readBalanceCommand(): Uint8Array {
  return encodeCommand({ cla: CLA_PROPRIETARY, ins: INS_READ_BALANCE, p1: 0, p2: 0, data: new Uint8Array(0), le: BALANCE_BYTES });
}

export function readTransitLogCommand(): Uint8Array {
  return encodeCommand({ cla: CLA_PROPRIETARY, ins: INS_READ_TRANSIT_LOG, p1: 0, p2: 0, data: new Uint8Array(0), le: 256 });
}

export function payCommand(request: Uint8Array): Uint8Array {
  return encodeCommand({ cla: CLA_PROPRIETARY, ins: INS_PAY, p1: 0, p2: 0, data: request, le: 256 });
}

/** Asks the wallet for the PAY response it signed for `challenge`, if any (docs/PROTOCOL.md, in-doubt payments). */
export function recallCommand(challenge: Uint8Array): Uint8Array {
  return encodeCommand({ cla: CLA_PROPRIETARY, ins: INS_RECALL, p1: 0, p2: 0, data: challenge, le: 256 });
}

export function readPurseCommand(): Uint8Array {
  return encodeCommand({ cla: CLA_PROPRIETARY, ins: INS_READ_PURSE, p1: 0, p2: 0, data: new Uint8Array(0), le: 256 });
}

export function terminalCertificateCommand(certificate: Uint8Array): Uint8Array {
  return encodeCommand({ cla: CLA_PROPRIETARY, ins: INS_TERMINAL_CERTIFICATE, p1: 0, p2: 0, data: certificate });
}

export function refundCommand(request: Uint8Array): Uint8Array {
  return encodeCommand({ cla: CLA_PROPRIETARY, ins: INS_REFUND, p1: 0, p2: 0, data: request, le: 256 });
}

/** PIN as ASCII digits, 4 to 12 of them. */
export function verifyPinCommand(pin: string): Uint8Array {
  if (!/^[0-9]{4,12}$/.test(pin)) throw new ApduError('a PIN is 4 to 12 digits');
  const data = new Uint8Array(pin.length);
  for (let i = 0; i < pin.length; i++) data[i] = pin.charCodeAt(i);
  return encodeCommand({ cla: CLA_ISO, ins: INS_VERIFY_PIN, p1: 0, p2: 0x80, data });
}

export function isSelectOf(c: CommandApdu, aid: Uint8Array = AID): boolean {
  return c.cla === CLA_ISO && c.ins === INS_SELECT && c.p1 === 0x04 && equalBytes(c.data, aid);
}

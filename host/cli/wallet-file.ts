// The wallet file `tapline issue-wallet` writes and the wallet emulator (host/wallet/emulator.ts) loads:
// JSON holding the wallet's secret key, so it is written 0600 like every other secret.
import { TaplineError } from '../../firmware/base/errors';
import { fromHex, toHex } from '../../firmware/base/bytes';
import { decodeCertificate, decodePayRequest, decodePayResponse } from '../../firmware/core/protocol/messages';
import { TlvError } from '../../firmware/core/protocol/tlv';
import type { WalletOptions, WalletProfile } from '../wallet/emulator';
import type { BoundBalance, Purses } from '../wallet/purses';
import { decodeGrant, MAX_PURSE } from '../../firmware/core/protocol/purpose';
import { present } from '../../firmware/base/assert';
import { encodeTransitLog, transitLogFromHex, type TransitEntry } from '../../firmware/core/protocol/transit-log';
import { ALG_ED25519, ALG_P256, publicKeyFits } from '../../firmware/core/crypto/verify';
import type { OfflineSpent } from '../wallet/offline-caps';
import { BOOK_SIZE, type BookEntry } from '../wallet/refunds';
import { decodeRefundRequest, decodeRefundResponse } from '../../firmware/core/protocol/refund';
import { SW } from '../../firmware/core/protocol/apdu';

export const WALLET_FILE_VERSION = 1;

export interface WalletFile {
  version: number;
  walletId: string;
  profile: WalletProfile;
  /** The issuer-signed certificate, hex. */
  certificate: string;
  /** The wallet's private key, hex (the secure element's secret). */
  secretKey: string;
  balance: number;
  counter: number;
  /** Card profile: the PIN a terminal may present. */
  pin?: string;
  /** Card profile: wrong PINs still allowed before the PIN blocks (absent: all 3); 0 is blocked. */
  pinTriesLeft?: number;
  /** Bound balances (purpose-bound funds): each issuer-signed grant, hex, and its balance. */
  purses?: { grant: string; balance: number }[];
  /** The purse the holder pays with (absent: the free money). */
  payWith?: number;
  /** The transit log's entries (firmware/core/protocol/transit-log.ts), hex, kept like the balance. */
  transitLog?: string;
  /** The signed PAY exchanges the wallet holds (RECALL, and its sync with the service), hex, oldest first. */
  signedLog?: { request: string; response: string }[];
  /** Every exchange signed at or above this counter is in `signedLog`. */
  heldFrom?: number;
  /** Spent offline since the last sync with the issuer (the wallet's own caps count it; a reload must not reset it). */
  offlineSpent?: { amount: number; count: number };
  /** Offline refunds: the root key terminal certificates are signed with. */
  refundRoot?: { alg: 'p256' | 'ed25519'; publicKey: string };
  /**
   * The payments it may be refunded for, with what each was refunded (host/wallet/refunds.ts), and the
   * last refund's request and signed R-APDU, hex: a terminal that lost that answer (a refund in doubt)
   * asks again after a reload and gets the same answer, not `6A89`. One answer per payment, so at most
   * as many as the book holds.
   */
  refundBook?: { counter: number; terminalId: string; terminalSeq: number; amount: number; purse?: number; signature: string; refunded: number; lastRefundSeq: number; lastRequest?: string; lastRapdu?: string }[];
}

/** Wrong PINs a card allows (the emulator's default). */
export const PIN_TRIES = 3;

export class WalletFileError extends TaplineError {
  override readonly name: string = 'WalletFileError';
}

export function formatWalletFile(w: WalletFile): string {
  return JSON.stringify(w, null, 2) + '\n';
}

/** Parses a wallet file into the emulator's options. Throws WalletFileError. */
export function parseWalletFile(text: string): WalletOptions & { walletId: string } {
  let o: Partial<WalletFile>;
  try {
    o = JSON.parse(text) as Partial<WalletFile>;
  } catch (e) {
    throw new WalletFileError(`not JSON: ${(e as Error).message}`);
  }
  if (!o || typeof o !== 'object') throw new WalletFileError('a wallet file is a JSON object');
  if (o.version !== WALLET_FILE_VERSION) throw new WalletFileError(`version must be ${WALLET_FILE_VERSION}`);
  if (o.profile !== 'card' && o.profile !== 'phone') throw new WalletFileError('profile must be "card" or "phone"');
  if (!Number.isSafeInteger(o.balance) || o.balance! < 0) throw new WalletFileError('balance must be a non-negative integer');
  if (!Number.isSafeInteger(o.counter) || o.counter! < 0 || o.counter! > 0xffffffff) throw new WalletFileError('counter must be an integer 0..2^32-1');
  if (o.pin !== undefined && !/^[0-9]{4,12}$/.test(o.pin)) throw new WalletFileError('pin must be 4 to 12 digits');
  if (o.pinTriesLeft !== undefined && !(Number.isInteger(o.pinTriesLeft) && o.pinTriesLeft >= 0 && o.pinTriesLeft <= PIN_TRIES)) {
    throw new WalletFileError(`pinTriesLeft must be an integer 0..${PIN_TRIES}`);
  }
  let certificate: Uint8Array;
  let secretKey: Uint8Array;
  try {
    certificate = fromHex(String(o.certificate));
    secretKey = fromHex(String(o.secretKey));
  } catch {
    throw new WalletFileError('certificate and secretKey must be hex');
  }
  let walletId: string;
  try {
    walletId = decodeCertificate(certificate).walletId;
  } catch (e) {
    if (e instanceof TlvError) throw new WalletFileError(`certificate: ${e.message}`);
    throw e;
  }
  if (o.walletId !== walletId) throw new WalletFileError(`walletId ${o.walletId} does not match the certificate (${walletId})`);
  const options: WalletOptions & { walletId: string } = { walletId, profile: o.profile, certificate, secretKey, balance: o.balance!, counter: o.counter! };
  if (o.pin !== undefined) options.pin = o.pin;
  if (o.pinTriesLeft !== undefined) options.pinTriesLeft = o.pinTriesLeft;
  if (o.purses !== undefined) options.purses = purses(o.purses, walletId);
  if (o.payWith !== undefined) {
    if (!options.purses?.some((p) => decodeGrant(p.grant).purse === o.payWith)) throw new WalletFileError(`payWith ${o.payWith} names no purse of the file`);
    options.payWith = o.payWith;
  }
  if (o.transitLog !== undefined) {
    try {
      options.transitLog = transitLogFromHex(String(o.transitLog)).entries;
    } catch (e) {
      if (e instanceof TlvError) throw new WalletFileError(`transitLog: ${e.message}`);
      throw new WalletFileError('transitLog must be hex');
    }
  }
  if (o.signedLog !== undefined || o.heldFrom !== undefined) {
    if (!Array.isArray(o.signedLog) || o.signedLog.length > 64) throw new WalletFileError('signedLog must be a list of at most 64 exchanges');
    if (!Number.isSafeInteger(o.heldFrom) || o.heldFrom! < 1 || o.heldFrom! > o.counter! + 1) throw new WalletFileError('heldFrom must be an integer 1..counter + 1');
    options.heldFrom = o.heldFrom!;
    options.signedLog = o.signedLog.map((e: { request?: unknown; response?: unknown }, i) => {
      try {
        const exchange = { request: fromHex(String(e?.request)), response: fromHex(String(e?.response)) };
        decodePayRequest(exchange.request);
        decodePayResponse(exchange.response);
        return exchange;
      } catch (err) {
        throw new WalletFileError(`signedLog[${i}]: ${(err as Error).message}`);
      }
    });
  }
  if (o.offlineSpent !== undefined) {
    const x = o.offlineSpent as Partial<OfflineSpent> | null;
    if (!x || !Number.isSafeInteger(x.amount) || x.amount! < 0 || !Number.isSafeInteger(x.count) || x.count! < 0) throw new WalletFileError('offlineSpent must be { amount, count }, non-negative integers');
    options.offlineSpent = { amount: x.amount!, count: x.count! };
  }
  if (o.refundRoot !== undefined) {
    const r = o.refundRoot as { alg?: unknown; publicKey?: unknown } | null;
    const alg = r?.alg === 'p256' ? ALG_P256 : r?.alg === 'ed25519' ? ALG_ED25519 : undefined;
    let key: Uint8Array | undefined;
    try {
      key = fromHex(String(r?.publicKey));
    } catch {
      key = undefined;
    }
    if (alg === undefined || !key || !publicKeyFits(alg, key)) throw new WalletFileError('refundRoot must be { alg: "p256" or "ed25519", publicKey: hex }');
    options.refundRoot = { alg, publicKey: key };
  }
  if (o.refundBook !== undefined) options.refundBook = refundBook(o.refundBook);
  return options;
}

function refundBook(value: unknown): BookEntry[] {
  if (!Array.isArray(value) || value.length > BOOK_SIZE) throw new WalletFileError(`refundBook must be a list of at most ${BOOK_SIZE}`);
  return value.map((e: Record<string, unknown>, i) => {
    const n = (k: string, max = 2 ** 48) => {
      const v = e?.[k];
      if (!Number.isSafeInteger(v) || (v as number) < 0 || (v as number) > max) throw new WalletFileError(`refundBook[${i}].${k} must be an integer 0..${max}`);
      return v as number;
    };
    let signature: Uint8Array;
    try {
      signature = fromHex(String(e?.signature));
    } catch {
      throw new WalletFileError(`refundBook[${i}].signature must be hex`);
    }
    if (signature.length !== 64 || typeof e.terminalId !== 'string' || !/^[\x21-\x7e]{1,16}$/.test(e.terminalId)) throw new WalletFileError(`refundBook[${i}] needs a terminalId and a 64-byte signature`);
    const entry: BookEntry = { counter: n('counter', 0xffffffff), terminalId: e.terminalId, terminalSeq: n('terminalSeq', 0xffffffff), amount: n('amount'), signature, refunded: n('refunded'), lastRefundSeq: n('lastRefundSeq', 0xffffffff) };
    if (entry.refunded > entry.amount) throw new WalletFileError(`refundBook[${i}]: refunded above the amount`);
    if (e.purse !== undefined) entry.purse = n('purse', MAX_PURSE);
    if (e.lastRequest !== undefined || e.lastRapdu !== undefined) Object.assign(entry, lastAnswer(e, entry, i));
    return entry;
  });
}

/** The last refund's exchange of a book entry: that refund of that payment, and a signed answer. */
function lastAnswer(e: Record<string, unknown>, entry: BookEntry, i: number): { lastRequest: Uint8Array; lastRapdu: Uint8Array } {
  const what = `refundBook[${i}]: lastRequest and lastRapdu`;
  let lastRequest: Uint8Array;
  let lastRapdu: Uint8Array;
  try {
    lastRequest = fromHex(String(e.lastRequest));
    lastRapdu = fromHex(String(e.lastRapdu));
  } catch {
    throw new WalletFileError(`${what} must both be hex`);
  }
  const ok = lastRapdu.length > 2 && lastRapdu[lastRapdu.length - 2] === SW.ok >> 8 && lastRapdu[lastRapdu.length - 1] === (SW.ok & 0xff);
  if (!ok) throw new WalletFileError(`${what}: the answer must end in 9000`);
  try {
    const r = decodeRefundRequest(lastRequest);
    decodeRefundResponse(lastRapdu.subarray(0, lastRapdu.length - 2));
    if (r.refundSeq !== entry.lastRefundSeq || r.terminalId !== entry.terminalId || r.originalSeq !== entry.terminalSeq || r.originalCounter !== entry.counter) {
      throw new WalletFileError(`${what} are not the last refund of this payment`);
    }
  } catch (err) {
    if (err instanceof TlvError) throw new WalletFileError(`${what}: ${err.message}`);
    throw err;
  }
  return { lastRequest, lastRapdu };
}

function purses(value: unknown, walletId: string): BoundBalance[] {
  if (!Array.isArray(value) || value.length > MAX_PURSE) throw new WalletFileError(`purses must be a list of at most ${MAX_PURSE}`);
  return value.map((p: { grant?: unknown; balance?: unknown }, i) => {
    if (!p || typeof p !== 'object' || !Number.isSafeInteger(p.balance) || (p.balance as number) < 0) throw new WalletFileError(`purses[${i}] needs a grant and a non-negative balance`);
    let grant: Uint8Array;
    try {
      grant = fromHex(String(p.grant));
      const g = decodeGrant(grant);
      if (g.walletId !== walletId) throw new WalletFileError(`purses[${i}]: the grant is for wallet ${g.walletId}`);
    } catch (e) {
      if (e instanceof WalletFileError) throw e;
      throw new WalletFileError(`purses[${i}].grant: ${(e as Error).message}`);
    }
    return { grant, balance: p.balance as number };
  });
}

/**
 * The file with the wallet's state after use: balance, counter and the PIN tries left (a reload must
 * not give a holder, or a thief, fresh PIN tries). Undefined when nothing changed.
 */
export function walletFileWithState(
  file: WalletFile,
  w: { balance: number; counter: number; pinTriesLeft: number; purses?: Purses; transitLog?: TransitEntry[]; signedLog?: { request: Uint8Array; response: Uint8Array }[]; heldFrom?: number; offlineSpent?: OfflineSpent; refundBook?: BookEntry[] },
): WalletFile | undefined {
  const tries = file.pin === undefined ? undefined : w.pinTriesLeft;
  const purseBalances = w.purses?.balances ?? [];
  const pursesChanged = (file.purses ?? []).some((p) => purseBalances.find((b) => b.purse === decodeGrant(fromHex(p.grant)).purse)?.balance !== p.balance);
  const log = w.transitLog && w.transitLog.length > 0 ? transitHex(w.transitLog) : undefined;
  const spent = w.offlineSpent && (w.offlineSpent.amount > 0 || w.offlineSpent.count > 0 || file.offlineSpent) ? w.offlineSpent : undefined;
  const book = w.refundBook && w.refundBook.length > 0 ? w.refundBook.map(bookJson) : undefined;
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  if (!pursesChanged && file.balance === w.balance && file.counter === w.counter && (file.pinTriesLeft ?? PIN_TRIES) === (tries ?? PIN_TRIES) && file.transitLog === log
    && same(file.offlineSpent, spent) && same(file.refundBook, book)) return undefined;
  const next: WalletFile = { ...file, balance: w.balance, counter: w.counter };
  if (spent) next.offlineSpent = { amount: spent.amount, count: spent.count };
  if (book) next.refundBook = book;
  if (tries !== undefined) next.pinTriesLeft = tries;
  if (file.purses) next.purses = file.purses.map((p) => ({ grant: p.grant, balance: present(purseBalances.find((b) => b.purse === decodeGrant(fromHex(p.grant)).purse), 'the purse').balance }));
  if (log !== undefined) next.transitLog = log;
  // The signed log changes only with the counter.
  if (w.signedLog && w.heldFrom !== undefined) {
    next.signedLog = w.signedLog.map((e) => ({ request: toHex(e.request), response: toHex(e.response) }));
    next.heldFrom = w.heldFrom;
  }
  return next;
}

function bookJson(e: BookEntry): NonNullable<WalletFile['refundBook']>[number] {
  return { counter: e.counter, terminalId: e.terminalId, terminalSeq: e.terminalSeq, amount: e.amount, ...(e.purse !== undefined ? { purse: e.purse } : {}), signature: toHex(e.signature), refunded: e.refunded, lastRefundSeq: e.lastRefundSeq,
    ...(e.lastRequest && e.lastRapdu ? { lastRequest: toHex(e.lastRequest), lastRapdu: toHex(e.lastRapdu) } : {}) };
}

/** The entries alone (the counter in a log's header is the wallet's, kept beside it). */
function transitHex(entries: TransitEntry[]): string {
  return toHex(encodeTransitLog({ counter: entries[entries.length - 1]?.counter ?? 0, entries }));
}

export function walletFileOf(w: { profile: WalletProfile; certificate: Uint8Array; secretKey: Uint8Array; balance: number; pin?: string }, root?: WalletFile['refundRoot']): WalletFile {
  const file: WalletFile = {
    version: WALLET_FILE_VERSION,
    walletId: decodeCertificate(w.certificate).walletId,
    profile: w.profile,
    certificate: toHex(w.certificate),
    secretKey: toHex(w.secretKey),
    balance: w.balance,
    counter: 0,
  };
  if (w.pin !== undefined) file.pin = w.pin;
  if (root !== undefined) file.refundRoot = root;
  return file;
}

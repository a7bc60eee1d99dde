// A receipt: what the journal stores for each approved payment and what the settlement service
// re-verifies. It keeps the exact bytes both sides exchanged, so the wallet's signature can be checked
// again anywhere, later.
import {
  certificateWalletId,
  decodeCertificate,
  decodePayRequest,
  decodePayResponse,
  MAX_CERTIFICATE_BYTES,
  MAX_REQUEST_BYTES,
  MAX_RESPONSE_BYTES,
  type Certificate,
  type PayRequest,
  type PayResponse,
  payRequestFacts,
  payResponseCounter,
} from './messages';
import { decodeGrant, MAX_GRANT_BYTES, type Grant } from './purpose';
import { required, decodeUint, encodeUint, TlvError, type FieldRule } from './tlv';
import { MAX_TRANSIT_LOG_BYTES } from './transit-log';
import { decodeEnvelope, encodeEnvelope, envelopePick, pickEnvelope } from './envelope';

export const RECEIPT_VERSION = 1;
// certificate, request and response (~570 bytes at most), a grant and a transit log (222)
export const MAX_RECEIPT_BYTES = 1200;
/** The journal record type of a receipt. */
export const RECORD_RECEIPT = 1;

const T = { certificate: 0x82, request: 0x83, response: 0x84, flags: 0x85, grant: 0x86, transitLog: 0x88, fareRulesVersion: 0x89 } as const;

const RULES: Record<number, FieldRule> = {
  [T.certificate]: { min: 1, max: MAX_CERTIFICATE_BYTES },
  [T.request]: { min: 1, max: MAX_REQUEST_BYTES },
  [T.response]: { min: 1, max: MAX_RESPONSE_BYTES },
  [T.flags]: { min: 1, max: 1 },
  [T.grant]: { min: 1, max: MAX_GRANT_BYTES, optional: true },
  [T.transitLog]: { min: 1, max: MAX_TRANSIT_LOG_BYTES, optional: true },
  [T.fareRulesVersion]: { min: 4, max: 4, optional: true },
};

const FLAG_DEFERRED = 1;
/** What a boot picks of each receipt (receiptFacts) and of each to close its intent (receiptSeq). */
const FACTS = envelopePick(RULES, [T.certificate, T.request, T.response, T.flags]);
const SEQ = envelopePick(RULES, []);

export interface Receipt {
  /** The terminal's sequence number for the payment (also inside the request). */
  terminalSeq: number;
  /** The wallet's certificate, PAY request and PAY response, byte for byte. */
  certificate: Uint8Array;
  request: Uint8Array;
  response: Uint8Array;
  /** Approved before the wallet's signatures were verified (transit, low amount). */
  deferred: boolean;
  /** The grant of the bound balance that paid (protocol/purpose.ts); absent: free money. */
  grant?: Uint8Array;
  /** Transit with fare rules: the wallet's log as read, which the request names by digest (signed). */
  transitLog?: Uint8Array;
  /**
   * Transit: the version of the operator's signed fare rules (update kind 6) the tap was priced with,
   * so settlement prices it again by the same rules after a newer version came out.
   */
  fareRulesVersion?: number;
}

export function encodeReceipt(r: Receipt): Uint8Array {
  return encodeEnvelope(RECEIPT_VERSION, r.terminalSeq, [
    { tag: T.certificate, value: r.certificate },
    { tag: T.request, value: r.request },
    { tag: T.response, value: r.response },
    { tag: T.flags, value: encodeUint(r.deferred ? FLAG_DEFERRED : 0, 1) },
    ...(r.grant ? [{ tag: T.grant, value: r.grant }] : []),
    ...(r.transitLog ? [{ tag: T.transitLog, value: r.transitLog }] : []),
    ...(r.fareRulesVersion !== undefined ? [{ tag: T.fareRulesVersion, value: encodeUint(r.fareRulesVersion, 4) }] : []),
  ]);
}

/** Parses a receipt's envelope (untrusted bytes). Throws TlvError. The inner messages are not parsed. */
export function decodeReceipt(bytes: Uint8Array): Receipt {
  const { terminalSeq, fields: f } = decodeEnvelope(bytes, 'receipt', RECEIPT_VERSION, RULES, MAX_RECEIPT_BYTES);
  const flags = decodeUint(required(f, T.flags));
  const grant = f.get(T.grant);
  if (flags & ~FLAG_DEFERRED) throw new TlvError(`unknown receipt flags ${flags}`);
  return {
    terminalSeq,
    certificate: required(f, T.certificate).slice(),
    request: required(f, T.request).slice(),
    response: required(f, T.response).slice(),
    deferred: (flags & FLAG_DEFERRED) !== 0,
    ...(grant ? { grant: grant.slice() } : {}),
    ...(f.has(T.transitLog) ? { transitLog: required(f, T.transitLog).slice() } : {}),
    ...(f.has(T.fareRulesVersion) ? { fareRulesVersion: decodeUint(required(f, T.fareRulesVersion)) } : {}),
  };
}

/** A receipt's messages, parsed. */
export interface ReceiptContent {
  certificate: Certificate;
  request: PayRequest;
  response: PayResponse;
  grant?: Grant;
}

/**
 * Parses the messages inside a receipt. Throws TlvError. A caller that already decoded the same
 * certificate bytes (the service remembers its wallets') passes that decoding in.
 */
export function openReceipt(r: Receipt, certificate: Certificate = decodeCertificate(r.certificate)): ReceiptContent {
  const content = {
    certificate,
    request: decodePayRequest(r.request),
    response: decodePayResponse(r.response),
  };
  if (content.request.terminalSeq !== r.terminalSeq) {
    throw new TlvError(`receipt ${r.terminalSeq} holds a request for ${content.request.terminalSeq}`);
  }
  // A bound payment carries its grant, and the grant is the purse the wallet signed for.
  const grant = r.grant ? decodeGrant(r.grant) : undefined;
  if ((grant === undefined) !== (content.request.bound === undefined) || (grant && grant.purse !== content.request.bound!.purse)) {
    throw new TlvError(`receipt ${r.terminalSeq}: its grant and its request disagree on the purse`);
  }
  return grant ? { ...content, grant } : content;
}

/** A journaled receipt's terminal sequence, the rest left undecoded (pickEnvelope). Throws TlvError. */
export function receiptSeq(bytes: Uint8Array): number {
  return pickEnvelope(bytes, 'receipt', RECEIPT_VERSION, SEQ).terminalSeq;
}

/** What a boot's replay applies of a receipt: the payment's facts for the risk state. */
export interface ReceiptFacts {
  terminalSeq: number;
  walletId: string;
  counter: number;
  amount: number;
  /** Unix seconds, 0 when the terminal did not know the time. */
  terminalTime: number;
  deferred: boolean;
}

/**
 * The facts of a receipt this terminal journaled, picked field by field (pickFields) without decoding
 * the certificate, request and response whole: a boot restores every receipt after the checkpoint,
 * and a whole decode cost ~25,000 computrons each (docs/JOURNAL.md, boot). The journal's CRC-32 and
 * hash chain vouch for the bytes; the service decodes and verifies each receipt whole. Throws TlvError.
 */
export function receiptFacts(bytes: Uint8Array): ReceiptFacts {
  const { terminalSeq, fields } = pickEnvelope(bytes, 'receipt', RECEIPT_VERSION, FACTS);
  const flags = decodeUint(fields[5]!);
  if (flags & ~FLAG_DEFERRED) throw new TlvError(`unknown receipt flags ${flags}`);
  const request = payRequestFacts(fields[3]!);
  if (request.terminalSeq !== terminalSeq) throw new TlvError(`receipt ${terminalSeq} holds a request for ${request.terminalSeq}`);
  return {
    terminalSeq,
    walletId: certificateWalletId(fields[2]!),
    counter: payResponseCounter(fields[4]!),
    amount: request.amount,
    terminalTime: request.terminalTime,
    deferred: (flags & FLAG_DEFERRED) !== 0,
  };
}

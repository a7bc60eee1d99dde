// In-doubt payments (docs/PROTOCOL.md, "A power cut after PAY"). Before PAY the terminal journals an
// intent: once the wallet may have signed, a power cut can no longer lose the payment or reuse its
// terminal sequence. The intent closes with the receipt (same terminal sequence), or with a release
// once the wallet says it never signed. RECALL asks the wallet for what it signed, by challenge.
import { decodeFields, required, decodeUint, encodeTlv, encodeUint, TlvError, type FieldRule } from './tlv';
import { decodePayRequest, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, type PayRequest } from './messages';
import { fromHex, toHex } from '../../base/bytes';
import { decodeEnvelope, encodeEnvelope } from './envelope';
import { decodeGrant, MAX_GRANT_BYTES } from './purpose';
import { MAX_TRANSIT_LOG_BYTES } from './transit-log';
import type { Receipt } from './receipt';

/** Journal record types: the intent before PAY, and its release (the wallet never signed). */
export const RECORD_INTENT = 3;
export const RECORD_RELEASE = 4;

const INTENT_VERSION = 1;
const I = { walletId: 0x82, counterFloor: 0x83, request: 0x84, grant: 0x85, transitLog: 0x86, fareRulesVersion: 0x87 } as const;
const INTENT_RULES: Record<number, FieldRule> = {
  [I.walletId]: { min: 8, max: 8 },
  [I.counterFloor]: { min: 4, max: 4 },
  [I.request]: { min: 1, max: MAX_REQUEST_BYTES },
  [I.grant]: { min: 1, max: MAX_GRANT_BYTES, optional: true },
  [I.transitLog]: { min: 1, max: MAX_TRANSIT_LOG_BYTES, optional: true },
  [I.fareRulesVersion]: { min: 4, max: 4, optional: true },
};
export const MAX_INTENT_BYTES = 3 + 6 * 4 + 8 + MAX_REQUEST_BYTES + 3 + MAX_GRANT_BYTES + 3 + MAX_TRANSIT_LOG_BYTES + 3 + 4;

export interface Intent {
  terminalSeq: number;
  /** 16 hex digits, the certificate's wallet id. */
  walletId: string;
  /**
   * The highest wallet counter this terminal had seen for the wallet when it made the intent (0: none).
   * A payment signed for this request has a higher counter, so a wallet that holds every response
   * above it and not this one never signed it.
   */
  counterFloor: number;
  /** The PAY request bytes sent (challenge, amount, terminal sequence inside). */
  request: Uint8Array;
  /**
   * A bound payment: the grant of the purse the request names, byte for byte as READ PURSE gave it, so
   * the receipt recovered later is the one the tap would have journaled (receipt tag 86). An intent
   * journaled without it (firmware before it was kept) is left to the service.
   */
  grant?: Uint8Array;
  /**
   * A transit tap priced by fare rules: the wallet's transit log as READ TRANSIT LOG gave it, and the
   * version of the rules that priced it, so the recovered receipt carries what the uncut tap's would
   * (receipt tags 88 and 89) and settlement prices it again. An intent without them (firmware before
   * they were kept) gives a receipt settlement credits without pricing.
   */
  transitLog?: Uint8Array;
  fareRulesVersion?: number;
}

export function encodeIntent(i: Intent): Uint8Array {
  return encodeEnvelope(INTENT_VERSION, i.terminalSeq, [
    { tag: I.walletId, value: fromHex(i.walletId) },
    { tag: I.counterFloor, value: encodeUint(i.counterFloor, 4) },
    { tag: I.request, value: i.request },
    ...(i.grant ? [{ tag: I.grant, value: i.grant }] : []),
    ...(i.transitLog ? [{ tag: I.transitLog, value: i.transitLog }] : []),
    ...(i.fareRulesVersion !== undefined ? [{ tag: I.fareRulesVersion, value: encodeUint(i.fareRulesVersion, 4) }] : []),
  ]);
}

/** Parses an intent record (untrusted bytes). Throws TlvError. */
export function decodeIntent(bytes: Uint8Array): Intent & { parsed: PayRequest } {
  const { terminalSeq, fields: f } = decodeEnvelope(bytes, 'intent', INTENT_VERSION, INTENT_RULES, MAX_INTENT_BYTES);
  const request = required(f, I.request).slice();
  const parsed = decodePayRequest(request);
  if (parsed.terminalSeq !== terminalSeq) throw new TlvError(`intent ${terminalSeq} holds a request for ${parsed.terminalSeq}`);
  const walletId = toHex(required(f, I.walletId));
  const grant = f.get(I.grant)?.slice();
  if (grant) {
    // The grant is the purse the request names, of the wallet the intent names (as openReceipt asks of a receipt).
    const g = decodeGrant(grant);
    if (!parsed.bound || g.purse !== parsed.bound.purse || g.walletId !== walletId) throw new TlvError(`intent ${terminalSeq}: its grant and its request disagree on the purse`);
  }
  const transitLog = f.get(I.transitLog)?.slice();
  const fareRulesVersion = f.has(I.fareRulesVersion) ? decodeUint(required(f, I.fareRulesVersion)) : undefined;
  if (fareRulesVersion !== undefined && !transitLog) throw new TlvError(`intent ${terminalSeq}: a fare-rules version without a transit log`);
  return {
    terminalSeq, walletId, counterFloor: decodeUint(required(f, I.counterFloor)), request,
    ...(grant ? { grant } : {}), ...(transitLog ? { transitLog } : {}), ...(fareRulesVersion !== undefined ? { fareRulesVersion } : {}), parsed,
  };
}

/**
 * What a receipt recovered from the intent carries besides the exchange, as the uncut tap's would: a
 * bound payment's grant, a priced transit tap's transit log and fare-rules version.
 */
export function intentReceiptFields(i: Intent): Pick<Receipt, 'grant' | 'transitLog' | 'fareRulesVersion'> {
  return {
    ...(i.grant ? { grant: i.grant } : {}),
    ...(i.transitLog ? { transitLog: i.transitLog } : {}),
    ...(i.fareRulesVersion !== undefined ? { fareRulesVersion: i.fareRulesVersion } : {}),
  };
}

export function encodeRelease(terminalSeq: number): Uint8Array {
  return encodeUint(terminalSeq, 4);
}

export function decodeRelease(bytes: Uint8Array): number {
  if (bytes.length !== 4) throw new TlvError(`release of ${bytes.length} bytes`);
  return decodeUint(bytes);
}

// ---- RECALL response ----

const C = { signed: 0x80, heldFrom: 0x81, response: 0x82 } as const;
const RECALL_RULES: Record<number, FieldRule> = {
  [C.signed]: { min: 1, max: 1 },
  [C.heldFrom]: { min: 4, max: 4 },
  [C.response]: { min: 1, max: MAX_RESPONSE_BYTES, optional: true },
};
export const MAX_RECALL_BYTES = 3 + 6 + 3 + MAX_RESPONSE_BYTES;

export interface RecallResponse {
  /** The wallet holds every response it signed with a counter at or above this one. */
  heldFrom: number;
  /** The PAY response it signed for the challenge, byte for byte; undefined: not among those held. */
  response?: Uint8Array;
}

export function encodeRecallResponse(r: RecallResponse): Uint8Array {
  return encodeTlv([
    { tag: C.signed, value: encodeUint(r.response ? 1 : 0, 1) },
    { tag: C.heldFrom, value: encodeUint(r.heldFrom, 4) },
    ...(r.response ? [{ tag: C.response, value: r.response }] : []),
  ]);
}

/** Parses a RECALL answer (untrusted bytes). Throws TlvError. */
export function decodeRecallResponse(bytes: Uint8Array): RecallResponse {
  const f = decodeFields(bytes, RECALL_RULES, MAX_RECALL_BYTES);
  const signed = decodeUint(required(f, C.signed));
  if (signed > 1) throw new TlvError('signed must be 0 or 1');
  const response = f.get(C.response);
  if ((signed === 1) !== (response !== undefined)) throw new TlvError('a signed recall carries the response, an unsigned one none');
  const heldFrom = decodeUint(required(f, C.heldFrom));
  return response ? { heldFrom, response: response.slice() } : { heldFrom };
}

/** The wallet's answer settles the intent: it signed (recover), it never did (release), or it cannot tell. */
export function judgeRecall(intent: Intent, r: RecallResponse): 'signed' | 'unsigned' | 'unknown' {
  if (r.response) return 'signed';
  return r.heldFrom <= intent.counterFloor + 1 ? 'unsigned' : 'unknown';
}

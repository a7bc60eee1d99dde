// The upload wire format: a batch of receipts the terminal signs with its P-256 device key, and the
// service's response (acknowledgement, per-receipt results, signed updates) signed with the provisioning
// root key. Canonical BER-TLV (protocol/tlv.ts). Receipts are opaque here: the bytes the journal holds
// (protocol/receipt.ts encodeReceipt), each with its terminal sequence number (its journal sequence).
//
// Batch    = 80 version | 81 terminal id | 82 nonce(16) | 83 wall time? | 84 deny-list version
//            | 85 keyring version | 86 config version | 87 firmware version? | 88 receipts left after
//            this batch? | 89 offline amount? | 8A offline count? | 8C fare rules version? (a validator)
//            | A7 { A1 { 80 seq | 81 receipt } ... } | A9 { 81 intent ... }? | DE signature
// Response = 80 version | 81 terminal id | 82 batch nonce | 83 acked-up-to
//            | A5 { A1 { 80 seq | 81 status | 82 reason? } ... } | A6 { 81 update ... }
//            | A9 { A1 { 80 terminal seq | 81 outcome } ... }? | DE signature
// A9 is the in-doubt reconciliation (docs/PROTOCOL.md, "Open intents at upload"): in a batch, every intent
// the terminal still holds open (absent: the terminal says nothing about them); in a response, the ones
// the service settled from the wallet's own log.
// The signature covers a domain string then the message's own bytes up to (not including) field DE.
// (decodeFields orders tags numerically, so the signature tag DE sorts last.)
import { TaplineError } from '../../base/errors';
import { concatBytes, utf8Decode, utf8Encode } from '../../base/bytes';
import { ALG_P256, type Alg, verifySignature, type VerifyFn } from '../crypto/verify';
import { decodeFields, required, decodeTlv, decodeUint, encodeTlv, encodeUint, TlvError, type Tlv } from '../protocol/tlv';
import { signMessage } from './sign';
import { assert } from '../../base/assert';
import { MAX_INTENT_BYTES } from '../protocol/intent';

export const WIRE_VERSION = 1;
export const NONCE_LENGTH = 16;
/** Largest receipt (one journal record's payload). */
export const MAX_RECEIPT_BYTES = 4096;
export const MAX_BATCH_RECEIPTS = 128;
/** The receipts container is one TLV value, so at most 65535 bytes; the uplink fills batches to this. */
export const MAX_RECEIPTS_FIELD_BYTES = 0xffff;
/** Open intents a batch carries at most (the terminal holds at most 16: firmware/core/terminal/in-doubt.ts). */
export const MAX_BATCH_INTENTS = 16;
export const MAX_INTENTS_FIELD_BYTES = MAX_BATCH_INTENTS * (MAX_INTENT_BYTES + 4);
export const MAX_BATCH_BYTES = MAX_RECEIPTS_FIELD_BYTES + MAX_INTENTS_FIELD_BYTES + 512;
export const MAX_UPDATES = 16;
export const MAX_RESPONSE_BYTES = 0xffff * 2 + 512;
/** Every message ends with its signature: DE 40 and the 64 bytes of r || s (P-256) or R || S (Ed25519). */
export const SIGNATURE_FIELD_BYTES = 2 + 64;

/** A receipt item's TLV around the receipt: A1 82 LL LL { 80 04 seq(4) | 81 82 LL LL receipt }. */
export const MAX_ITEM_OVERHEAD_BYTES = 4 + 6 + 4;
/** The largest header fields of a batch: 80..8C (version, id, nonce, wall time, three versions, the status, the fare rules version). */
const MAX_BATCH_HEAD_BYTES = 3 + (2 + 32) + (2 + NONCE_LENGTH) + 7 + 3 * 6 + (2 + 32) + 6 + 8 + 6 + 6;
/** The largest header fields of a response: 80..83 (version, id, nonce, acked-up-to). */
const MAX_RESPONSE_HEAD_BYTES = 3 + (2 + 32) + (2 + NONCE_LENGTH) + 6;

assert(MAX_RECEIPTS_FIELD_BYTES <= 0xffff, 'the receipts field is one TLV value (a 2-byte length)');
// the uplink always takes a batch's first receipt, even alone past the byte budget: the largest must fit
assert(MAX_RECEIPT_BYTES + MAX_ITEM_OVERHEAD_BYTES <= MAX_RECEIPTS_FIELD_BYTES, 'the largest receipt fits one batch');
assert(MAX_BATCH_BYTES >= MAX_BATCH_HEAD_BYTES + 4 + MAX_RECEIPTS_FIELD_BYTES + 4 + MAX_INTENTS_FIELD_BYTES + SIGNATURE_FIELD_BYTES, 'a batch of full receipts and intents fields fits MAX_BATCH_BYTES');
assert(MAX_RESPONSE_BYTES >= MAX_RESPONSE_HEAD_BYTES + 2 * (4 + 0xffff) + 2 + MAX_BATCH_INTENTS * 11 + SIGNATURE_FIELD_BYTES, 'a response of full results, updates and intent outcomes fits MAX_RESPONSE_BYTES');

const BATCH_DOMAIN = utf8Encode('tapline/batch/v1');
const RESPONSE_DOMAIN = utf8Encode('tapline/batch-response/v1');

export class WireError extends TaplineError {
  override readonly name: string = 'WireError';
}

export interface BatchItem {
  seq: number;
  receipt: Uint8Array;
}

export interface Batch {
  terminalId: string;
  /** Fresh per batch: binds the service's time update to this batch. A retry resends the same batch. */
  nonce: Uint8Array;
  /** The terminal's wall time (unix seconds) when it built the batch, if it knows it. */
  wallTime?: number;
  /** Versions of the state the terminal holds, so the service sends only what is newer. */
  denyListVersion: number;
  keyringVersion: number;
  configVersion: number;
  /** A validator's fare rules version (absent: the terminal takes no fare rules). */
  fareRulesVersion?: number;
  /** What the terminal reports about itself, for the operators' view (optional, signed with the rest). */
  status?: TerminalStatus;
  /** Ascending, unique sequence numbers. */
  items: BatchItem[];
  /**
   * Every intent the terminal holds open (protocol/intent.ts encodeIntent, as journaled), for the service
   * to reconcile against the wallet's own log; undefined: the batch says nothing about intents.
   */
  intents?: Uint8Array[];
}

export interface TerminalStatus {
  /** The firmware's version string (1..32 bytes). */
  firmware: string;
  /** Unacknowledged receipts still in the journal after this batch's (the next batches carry them). */
  backlog: number;
  /** The risk engine's totals since the last settlement (minor units, and payments). */
  offlineAmount: number;
  offlineCount: number;
}

export interface SignedBatch extends Batch {
  signature: Uint8Array;
  /** The received bytes the signature covers (after the domain string). */
  signedBytes: Uint8Array;
}

/** What the service did with one receipt. Every status counts as acknowledged: the terminal never resends it. */
export const RESULT_ACCEPTED = 0;
/** Already recorded by an earlier upload (a retry): not settled again. */
export const RESULT_DUPLICATE = 1;
/** Recorded as invalid (bad signature, double spend, ...); the reason says why. */
export const RESULT_REJECTED = 2;
export type ResultStatus = typeof RESULT_ACCEPTED | typeof RESULT_DUPLICATE | typeof RESULT_REJECTED;

export interface ReceiptResult {
  seq: number;
  status: ResultStatus;
  reason?: string;
}

/** The service settled an open intent from the wallet's log: it credited the payment itself. */
export const INTENT_RECOVERED = 1;
/** The wallet's log shows it never signed the intent's request: nothing was paid. */
export const INTENT_RELEASED = 2;
export type IntentOutcomeKind = typeof INTENT_RECOVERED | typeof INTENT_RELEASED;

export interface IntentOutcome {
  terminalSeq: number;
  outcome: IntentOutcomeKind;
}

export interface BatchResponse {
  terminalId: string;
  /** The nonce of the batch this answers. */
  nonce: Uint8Array;
  /**
   * Every receipt of this terminal with a sequence number up to this one is durably recorded by the
   * service: the terminal may reclaim them. Never more than the batch's highest sequence number.
   */
  ackedUpTo: number;
  results: ReceiptResult[];
  /** Signed updates (uplink/updates.ts encodeUpdate), verified one by one by the terminal. */
  updates: Uint8Array[];
  /** Open intents of the batch the service has settled (ascending terminal sequence); the terminal closes them. */
  intents?: IntentOutcome[];
}

export interface SignedBatchResponse extends BatchResponse {
  signature: Uint8Array;
  /** The received bytes the signature covers (after the domain string). */
  signedBytes: Uint8Array;
}

const TERMINAL_ID = /^[A-Za-z0-9._-]{1,32}$/;

function checkTerminalId(id: string): void {
  if (!TERMINAL_ID.test(id)) throw new WireError(`bad terminal id "${id.slice(0, 40)}"`);
}

function checkSeqs(seqs: number[], what: string): void {
  for (let i = 0; i < seqs.length; i++) {
    const s = seqs[i]!;
    if (!Number.isSafeInteger(s) || s < 0 || s > 0xffffffff) throw new WireError(`${what}: bad sequence number ${s}`);
    if (i > 0 && s <= seqs[i - 1]!) throw new WireError(`${what}: sequence numbers not ascending at ${s}`);
  }
}

function u(value: number, bytes = 4): Uint8Array {
  return encodeUint(value, bytes);
}

function batchBody(b: Batch): Tlv[] {
  checkTerminalId(b.terminalId);
  if (b.nonce.length !== NONCE_LENGTH) throw new WireError('nonce must be 16 bytes');
  if (b.items.length > MAX_BATCH_RECEIPTS) throw new WireError(`more than ${MAX_BATCH_RECEIPTS} receipts`);
  checkSeqs(b.items.map((i) => i.seq), 'batch');
  const items = b.items.map(({ seq, receipt }) => {
    if (receipt.length < 1 || receipt.length > MAX_RECEIPT_BYTES) throw new WireError(`receipt ${seq} has ${receipt.length} bytes`);
    return { tag: 0xa1, value: encodeTlv([{ tag: 0x80, value: u(seq) }, { tag: 0x81, value: receipt }]) };
  });
  const receipts = encodeTlv(items);
  if (receipts.length > MAX_RECEIPTS_FIELD_BYTES) throw new WireError(`receipts take ${receipts.length} bytes, more than one batch holds`);
  const fields: Tlv[] = [
    { tag: 0x80, value: u(WIRE_VERSION, 1) },
    { tag: 0x81, value: utf8Encode(b.terminalId) },
    { tag: 0x82, value: b.nonce },
  ];
  if (b.wallTime !== undefined) fields.push({ tag: 0x83, value: u(b.wallTime, 5) });
  fields.push(
    { tag: 0x84, value: u(b.denyListVersion) },
    { tag: 0x85, value: u(b.keyringVersion) },
    { tag: 0x86, value: u(b.configVersion) },
  );
  if (b.status) {
    const firmware = utf8Encode(b.status.firmware);
    if (firmware.length < 1 || firmware.length > 32) throw new WireError('firmware version must be 1..32 bytes');
    fields.push(
      { tag: 0x87, value: firmware },
      { tag: 0x88, value: u(b.status.backlog) },
      { tag: 0x89, value: u(b.status.offlineAmount, 6) },
      { tag: 0x8a, value: u(b.status.offlineCount) },
    );
  }
  if (b.fareRulesVersion !== undefined) fields.push({ tag: 0x8c, value: u(b.fareRulesVersion) });
  fields.push({ tag: 0xa7, value: receipts });
  if (b.intents) {
    if (b.intents.length > MAX_BATCH_INTENTS) throw new WireError(`more than ${MAX_BATCH_INTENTS} open intents`);
    for (const i of b.intents) if (i.length < 1 || i.length > MAX_INTENT_BYTES) throw new WireError(`an intent of ${i.length} bytes`);
    fields.push({ tag: 0xa9, value: encodeTlv(b.intents.map((value) => ({ tag: 0x81, value }))) });
  }
  return fields;
}

/** Bytes the batch signature covers. */
export function batchSignedPayload(b: Batch): Uint8Array {
  return concatBytes(BATCH_DOMAIN, encodeTlv(batchBody(b)));
}

/** Encodes and signs a batch with the terminal's device key (P-256). */
export function encodeBatch(b: Batch, deviceSecretKey: Uint8Array): Uint8Array {
  const body = batchBody(b);
  const signature = signMessage(ALG_P256, deviceSecretKey, concatBytes(BATCH_DOMAIN, encodeTlv(body)));
  return encodeTlv([...body, { tag: 0xde, value: signature }]);
}

/** Size a batch of these items would have on the wire (for filling batches without overflowing). */
export function receiptItemBytes(seq: number, receipt: Uint8Array): number {
  return encodeTlv([{ tag: 0xa1, value: encodeTlv([{ tag: 0x80, value: u(seq) }, { tag: 0x81, value: receipt }]) }]).length;
}

function wrap<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof WireError) throw e;
    if (e instanceof TlvError) throw new WireError(`${what}: ${e.message}`);
    throw e;
  }
}

/** A decoded message ends with its signature field: the rest is what was signed. */
export function withoutSignature(bytes: Uint8Array): Uint8Array {
  return bytes.subarray(0, bytes.length - SIGNATURE_FIELD_BYTES);
}

function version(v: Uint8Array): void {
  if (decodeUint(v) !== WIRE_VERSION) throw new WireError(`unsupported wire version ${decodeUint(v)}`);
}

function terminalId(v: Uint8Array): string {
  const id = utf8Decode(v);
  checkTerminalId(id);
  return id;
}

/** Decodes a batch (it does not check the signature: see verifyBatch). Throws WireError. */
export function decodeBatch(bytes: Uint8Array): SignedBatch {
  return wrap('batch', () => {
    const f = decodeFields(
      bytes,
      {
        0x80: { min: 1, max: 1 },
        0x81: { min: 1, max: 32 },
        0x82: { min: NONCE_LENGTH, max: NONCE_LENGTH },
        0x83: { min: 5, max: 5, optional: true },
        0x84: { min: 4, max: 4 },
        0x85: { min: 4, max: 4 },
        0x86: { min: 4, max: 4 },
        0x87: { min: 1, max: 32, optional: true },
        0x88: { min: 4, max: 4, optional: true },
        0x89: { min: 6, max: 6, optional: true },
        0x8a: { min: 4, max: 4, optional: true },
        0x8c: { min: 4, max: 4, optional: true },
        0xa7: { min: 0, max: MAX_RECEIPTS_FIELD_BYTES },
        0xa9: { min: 0, max: MAX_INTENTS_FIELD_BYTES, optional: true },
        0xde: { min: 64, max: 64 },
      },
      MAX_BATCH_BYTES,
    );
    version(required(f, 0x80));
    const items = decodeTlv(required(f, 0xa7), { maxBytes: MAX_RECEIPTS_FIELD_BYTES, maxFields: MAX_BATCH_RECEIPTS }).map((t) => {
      if (t.tag !== 0xa1) throw new WireError(`unexpected tag ${t.tag.toString(16)} among receipts`);
      const item = decodeFields(t.value, { 0x80: { min: 4, max: 4 }, 0x81: { min: 1, max: MAX_RECEIPT_BYTES } }, MAX_RECEIPT_BYTES + 16);
      return { seq: decodeUint(required(item, 0x80)), receipt: required(item, 0x81) };
    });
    checkSeqs(items.map((i) => i.seq), 'batch');
    const wall = f.get(0x83);
    const batch: SignedBatch = {
      terminalId: terminalId(required(f, 0x81)),
      nonce: required(f, 0x82),
      denyListVersion: decodeUint(required(f, 0x84)),
      keyringVersion: decodeUint(required(f, 0x85)),
      configVersion: decodeUint(required(f, 0x86)),
      items,
      signature: required(f, 0xde),
      signedBytes: withoutSignature(bytes),
    };
    if (wall) batch.wallTime = decodeUint(wall);
    const fareRules = f.get(0x8c);
    if (fareRules) batch.fareRulesVersion = decodeUint(fareRules);
    const intents = f.get(0xa9);
    if (intents) {
      batch.intents = decodeTlv(intents, { maxBytes: MAX_INTENTS_FIELD_BYTES, maxFields: MAX_BATCH_INTENTS }).map((t) => {
        if (t.tag !== 0x81 || t.value.length === 0 || t.value.length > MAX_INTENT_BYTES) throw new WireError('bad intent entry');
        return t.value;
      });
    }
    const firmware = f.get(0x87);
    const backlog = f.get(0x88);
    const amount = f.get(0x89);
    const count = f.get(0x8a);
    if (firmware || backlog || amount || count) {
      // all four or none: a half status is a malformed batch, not a guess
      if (!firmware || !backlog || !amount || !count) throw new WireError('batch status needs all of 87, 88, 89 and 8A');
      batch.status = { firmware: utf8Decode(firmware), backlog: decodeUint(backlog), offlineAmount: decodeUint(amount), offlineCount: decodeUint(count) };
    }
    return batch;
  });
}

/** True when the batch carries a valid signature by the terminal's device key (P-256, SEC1). */
export function verifyBatch(batch: SignedBatch, devicePublicKey: Uint8Array): boolean {
  return verifySignature(ALG_P256, devicePublicKey, concatBytes(BATCH_DOMAIN, batch.signedBytes), batch.signature);
}

function responseBody(r: BatchResponse): Tlv[] {
  checkTerminalId(r.terminalId);
  if (r.nonce.length !== NONCE_LENGTH) throw new WireError('nonce must be 16 bytes');
  checkSeqs([r.ackedUpTo], 'response');
  if (r.results.length > MAX_BATCH_RECEIPTS) throw new WireError(`more than ${MAX_BATCH_RECEIPTS} results`);
  if (r.updates.length > MAX_UPDATES) throw new WireError(`more than ${MAX_UPDATES} updates`);
  checkSeqs(r.results.map((x) => x.seq), 'response');
  const results = r.results.map(({ seq, status, reason }) => {
    if (status !== RESULT_ACCEPTED && status !== RESULT_DUPLICATE && status !== RESULT_REJECTED) throw new WireError(`bad status ${status}`);
    const fields: Tlv[] = [{ tag: 0x80, value: u(seq) }, { tag: 0x81, value: u(status, 1) }];
    if (reason !== undefined) fields.push({ tag: 0x82, value: utf8Encode(reason.slice(0, 200)) });
    return { tag: 0xa1, value: encodeTlv(fields) };
  });
  const fields: Tlv[] = [
    { tag: 0x80, value: u(WIRE_VERSION, 1) },
    { tag: 0x81, value: utf8Encode(r.terminalId) },
    { tag: 0x82, value: r.nonce },
    { tag: 0x83, value: u(r.ackedUpTo) },
    { tag: 0xa5, value: encodeTlv(results) },
    { tag: 0xa6, value: encodeTlv(r.updates.map((value) => ({ tag: 0x81, value }))) },
  ];
  // Absent when there is nothing to say, so a response without intents is what it always was.
  if (r.intents && r.intents.length > 0) {
    if (r.intents.length > MAX_BATCH_INTENTS) throw new WireError(`more than ${MAX_BATCH_INTENTS} intent outcomes`);
    checkSeqs(r.intents.map((x) => x.terminalSeq), 'response intents');
    fields.push({
      tag: 0xa9,
      value: encodeTlv(
        r.intents.map(({ terminalSeq, outcome }) => {
          if (outcome !== INTENT_RECOVERED && outcome !== INTENT_RELEASED) throw new WireError(`bad intent outcome ${outcome}`);
          return { tag: 0xa1, value: encodeTlv([{ tag: 0x80, value: u(terminalSeq) }, { tag: 0x81, value: u(outcome, 1) }]) };
        }),
      ),
    });
  }
  return fields;
}

export function responseSignedPayload(r: BatchResponse): Uint8Array {
  return concatBytes(RESPONSE_DOMAIN, encodeTlv(responseBody(r)));
}

/**
 * Encodes and signs a batch response with the provisioning root key (the service's side); `sign` may
 * stand in for the pure-JS signer with a faster one of the same algorithm.
 */
export function encodeBatchResponse(
  r: BatchResponse,
  rootAlg: Alg,
  rootSecretKey: Uint8Array,
  sign: (message: Uint8Array) => Uint8Array = (m) => signMessage(rootAlg, rootSecretKey, m),
): Uint8Array {
  const body = responseBody(r);
  const signature = sign(concatBytes(RESPONSE_DOMAIN, encodeTlv(body)));
  return encodeTlv([...body, { tag: 0xde, value: signature }]);
}

/** Decodes a batch response (no signature check: see verifyBatchResponse). Throws WireError. */
export function decodeBatchResponse(bytes: Uint8Array): SignedBatchResponse {
  return wrap('batch response', () => {
    const f = decodeFields(
      bytes,
      {
        0x80: { min: 1, max: 1 },
        0x81: { min: 1, max: 32 },
        0x82: { min: NONCE_LENGTH, max: NONCE_LENGTH },
        0x83: { min: 4, max: 4 },
        0xa5: { min: 0, max: 0xffff },
        0xa6: { min: 0, max: 0xffff },
        0xa9: { min: 1, max: MAX_BATCH_INTENTS * 12, optional: true },
        0xde: { min: 64, max: 64 },
      },
      MAX_RESPONSE_BYTES,
    );
    version(required(f, 0x80));
    const results = decodeTlv(required(f, 0xa5), { maxBytes: 0xffff, maxFields: MAX_BATCH_RECEIPTS }).map((t) => {
      if (t.tag !== 0xa1) throw new WireError(`unexpected tag ${t.tag.toString(16)} among results`);
      const x = decodeFields(t.value, { 0x80: { min: 4, max: 4 }, 0x81: { min: 1, max: 1 }, 0x82: { min: 0, max: 800, optional: true } }, 1024);
      const status = decodeUint(required(x, 0x81));
      if (status > RESULT_REJECTED) throw new WireError(`unknown result status ${status}`);
      const result: ReceiptResult = { seq: decodeUint(required(x, 0x80)), status: status as ResultStatus };
      const reason = x.get(0x82);
      if (reason) result.reason = utf8Decode(reason);
      return result;
    });
    checkSeqs(results.map((x) => x.seq), 'response');
    const updates = decodeTlv(required(f, 0xa6), { maxBytes: 0xffff, maxFields: MAX_UPDATES }).map((t) => {
      if (t.tag !== 0x81 || t.value.length === 0) throw new WireError('bad update entry');
      return t.value;
    });
    const response: SignedBatchResponse = {
      terminalId: terminalId(required(f, 0x81)),
      nonce: required(f, 0x82),
      ackedUpTo: decodeUint(required(f, 0x83)),
      results,
      updates,
      signature: required(f, 0xde),
      signedBytes: withoutSignature(bytes),
    };
    const intents = f.get(0xa9);
    if (intents) {
      response.intents = decodeTlv(intents, { maxBytes: MAX_BATCH_INTENTS * 12, maxFields: MAX_BATCH_INTENTS }).map((t) => {
        if (t.tag !== 0xa1) throw new WireError(`unexpected tag ${t.tag.toString(16)} among intent outcomes`);
        const x = decodeFields(t.value, { 0x80: { min: 4, max: 4 }, 0x81: { min: 1, max: 1 } }, 16);
        const outcome = decodeUint(required(x, 0x81));
        if (outcome !== INTENT_RECOVERED && outcome !== INTENT_RELEASED) throw new WireError(`unknown intent outcome ${outcome}`);
        return { terminalSeq: decodeUint(required(x, 0x80)), outcome: outcome as IntentOutcomeKind };
      });
      checkSeqs(response.intents.map((x) => x.terminalSeq), 'response intents');
    }
    return response;
  });
}

export function verifyBatchResponse(r: SignedBatchResponse, rootAlg: Alg, rootPublicKey: Uint8Array, verify: VerifyFn = verifySignature): boolean {
  return verify(rootAlg, rootPublicKey, concatBytes(RESPONSE_DOMAIN, r.signedBytes), r.signature);
}

// In-doubt payments at the service (docs/SETTLEMENT.md, "In-doubt payments"). A terminal that lost power
// between PAY and its receipt keeps an open intent; every batch carries the ones it still holds. The
// wallet's own log of signed exchanges reaches the service in a wallet sync (host/wallet/sync.ts). Where
// the two meet, the intent is settled here:
//  - the wallet signed the intent's request: the exchange becomes a receipt of that terminal, credited
//    once and through the same decisions as any receipt (host/settlement/batch.ts), stored under
//    RECOVERED_SEQ_BASE + the intent's terminal sequence (journal sequences are 32-bit, so that range is
//    free, and the terminal's own recovered receipt of the same exchange later counts as a duplicate);
//  - a sync made after the intent reached the service shows every counter the wallet signed above the
//    intent's floor, none for it: the wallet never signed it, the intent is released;
//  - open longer than the bound: an `intent-unresolved` finding for the operator.
// The terminal learns recovered and released ones in its next upload's answer, and closes them.
import { createHmac } from 'node:crypto';
import { TaplineError } from '../../firmware/base/errors';
import { concatBytes, equalBytes, readU32, toHex } from '../../firmware/base/bytes';
import type { ReceiptCheck } from '../../firmware/core/crypto/receipt';
import { checkCertificateSignature, checkPaymentSignature, issuerKeyFor, type KeyLookup } from '../../firmware/core/crypto/certificate';
import { DeclineError } from '../../firmware/base/reasons';
import { decodeIntent, intentReceiptFields, type Intent } from '../../firmware/core/protocol/intent';
import { decodeCertificate, decodePayRequest, decodePayResponse, type Certificate, type PayRequest } from '../../firmware/core/protocol/messages';
import { decodeReceipt, encodeReceipt } from '../../firmware/core/protocol/receipt';
import { TlvError } from '../../firmware/core/protocol/tlv';
import { INTENT_RECOVERED, INTENT_RELEASED, type IntentOutcome, type SignedBatch } from '../../firmware/core/uplink/wire';
import { decodeWalletSync, SYNC_NONCE_BYTES, WALLET_SYNC_DOMAIN, type SignedWalletSync } from '../wallet/sync';
import { BatchSettler, denyWallet, RECOVERED_SEQ_BASE, type SettlerOptions, type TerminalRow } from './batch';
import type { Tx } from './db';

export { RECOVERED_SEQ_BASE };
/** How long a wallet has to sign a sync after asking for its nonce (seconds). */
export const SYNC_NONCE_TTL_SECONDS = 600;
/** An intent open this long (seconds) is a finding (the default: 14 days). */
export const DEFAULT_INTENT_BOUND_SECONDS = 14 * 86400;

export type IntentStatus = 'open' | 'recovered' | 'released' | 'closed';

/** A wallet sync the service will not take: `status` and `code` go to the HTTP answer. */
export class SyncRefused extends TaplineError {
  override readonly name: string = 'SyncRefused';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface IntentDeps {
  /** Re-verifies receipts (the service's pooled verifier, at the service's time). */
  verify(receipts: Uint8Array[]): Promise<ReceiptCheck[]>;
  settler: SettlerOptions;
  boundSeconds: number;
}

interface IntentRow {
  id: number;
  terminal_id: string;
  terminal_seq: number;
  wallet_id: string;
  counter_floor: number;
  amount: number;
  intent: Uint8Array;
  status: IntentStatus;
  received_at: number;
}

interface LogRow {
  counter: number;
  certificate: Uint8Array;
  request: Uint8Array;
  response: Uint8Array;
}

/** A batch's open intents, parsed before anything is written. Throws TlvError for one that does not parse. */
export function parseUploadIntents(batch: SignedBatch): (Intent & { parsed: PayRequest })[] | undefined {
  if (!batch.intents) return undefined;
  return batch.intents.map((bytes) => {
    const intent = decodeIntent(bytes);
    if (intent.parsed.terminalId !== batch.terminalId) throw new TlvError(`intent ${intent.terminalSeq} names terminal ${intent.parsed.terminalId}`);
    return intent;
  });
}

/**
 * Inside a batch's transaction, after its receipts are settled: the open intents the batch lists (stored
 * once; those the terminal no longer lists it closed itself, by a receipt or a release), those a stored
 * wallet log already settles, and what the answer tells the terminal. A batch without the list (older
 * firmware) changes nothing.
 */
export async function reconcileUpload(
  tx: Tx,
  terminal: TerminalRow,
  batch: SignedBatch,
  intents: (Intent & { parsed: PayRequest })[] | undefined,
  now: number,
  deps: IntentDeps,
): Promise<IntentOutcome[]> {
  if (!intents) return [];
  const t = terminal.terminal_id;
  const listed = new Set(intents.map((i) => i.terminalSeq));
  const open = await tx.all<IntentRow>(`SELECT * FROM intents WHERE terminal_id = $1 AND status = 'open'`, [t]);
  if (intents.length === 0 && open.length === 0) return [];
  for (const row of open) {
    // A terminal's batches are settled in the order it built them: one it no longer lists, it closed.
    if (!listed.has(Number(row.terminal_seq))) await tx.run(`UPDATE intents SET status = 'closed', resolved_at = $1 WHERE id = $2`, [now, row.id]);
  }
  for (const [k, i] of intents.entries()) {
    await tx.run(
      `INSERT INTO intents (terminal_id, terminal_seq, wallet_id, counter_floor, amount, intent, status, received_at)
       VALUES ($1, $2, $3, $4, $5, $6, 'open', $7) ON CONFLICT (terminal_id, terminal_seq) DO NOTHING`,
      [t, i.terminalSeq, i.walletId, i.counterFloor, i.parsed.amount, batch.intents![k]!, now],
    );
  }
  const rows = intents.length
    ? await tx.all<IntentRow>(`SELECT * FROM intents WHERE terminal_id = $1 AND terminal_seq IN (${intents.map((_, i) => `$${i + 2}`).join(', ')}) ORDER BY terminal_seq`, [t, ...intents.map((i) => i.terminalSeq)])
    : [];
  for (const row of rows) {
    if (row.status !== 'open') continue;
    const entry = (await logAbove(tx, row.wallet_id, Number(row.counter_floor))).find((e) => equalBytes(e.request, decodeIntent(row.intent).request));
    if (entry) row.status = await recover(tx, terminal, row, entry, now, deps);
  }
  await overdue(tx, `terminal_id = $1`, [t], now, deps.boundSeconds);
  return rows.flatMap((r): IntentOutcome[] =>
    r.status === 'recovered' ? [{ terminalSeq: Number(r.terminal_seq), outcome: INTENT_RECOVERED }] : r.status === 'released' ? [{ terminalSeq: Number(r.terminal_seq), outcome: INTENT_RELEASED }] : [],
  );
}

async function logAbove(tx: Tx, walletId: string, counter: number): Promise<LogRow[]> {
  return tx.all<LogRow>('SELECT counter, certificate, request, response FROM wallet_log WHERE wallet_id = $1 AND counter > $2 ORDER BY counter', [walletId, counter]);
}

/** The wallet signed the intent's request: its exchange is settled as this terminal's receipt. */
async function recover(tx: Tx, terminal: TerminalRow, row: IntentRow, entry: LogRow, now: number, deps: IntentDeps): Promise<IntentStatus> {
  const terminalSeq = Number(row.terminal_seq);
  // The intent keeps a bound payment's grant and a priced tap's transit log and fare-rules version: the
  // receipt is the one the terminal would have uploaded (and is priced again as it would be).
  const bytes = encodeReceipt({
    terminalSeq, certificate: entry.certificate, request: entry.request, response: entry.response, deferred: false,
    ...intentReceiptFields(decodeIntent(row.intent)),
  });
  const [check] = await deps.verify([bytes]);
  // Every stored exchange verified when its sync came; a key revoked since leaves the intent to the operator.
  if (!check || !check.ok) return 'open';
  const seq = RECOVERED_SEQ_BASE + terminalSeq;
  await new BatchSettler(tx, terminal, now, deps.settler).settle([{ seq, bytes, check }]);
  const receipt = await tx.get<{ id: number }>('SELECT id FROM receipts WHERE terminal_id = $1 AND terminal_seq = $2', [terminal.terminal_id, seq]);
  await tx.run(`UPDATE intents SET status = 'recovered', resolved_at = $1, receipt_id = $2 WHERE id = $3`, [now, receipt ? Number(receipt.id) : null, row.id]);
  return 'recovered';
}

/** Open intents past the bound become a finding, once each. */
async function overdue(tx: Tx, where: string, params: (string | number)[], now: number, boundSeconds: number): Promise<void> {
  const at = params.length + 1;
  const rows = await tx.all<IntentRow>(`SELECT * FROM intents WHERE ${where} AND status = 'open' AND overdue_at IS NULL AND received_at < $${at}`, [...params, now - boundSeconds]);
  for (const r of rows) {
    const evidence = {
      reason: `terminal ${r.terminal_id} payment ${r.terminal_seq} of ${r.amount} by wallet ${r.wallet_id} in doubt since ${Number(r.received_at)}: no wallet log has settled it`,
      terminalId: r.terminal_id,
      terminalSeq: Number(r.terminal_seq),
      walletId: r.wallet_id,
      amount: Number(r.amount),
      counterFloor: Number(r.counter_floor),
      receivedAt: Number(r.received_at),
      intent: toHex(r.intent),
    };
    await tx.run('INSERT INTO findings (kind, wallet_id, receipt_id, other_receipt_id, evidence, created_at) VALUES ($1, $2, $3, $4, $5, $6)', [
      'intent-unresolved',
      r.wallet_id,
      null,
      null,
      JSON.stringify(evidence),
      now,
    ]);
    await tx.run('UPDATE intents SET overdue_at = $1 WHERE id = $2', [now, r.id]);
  }
}

// ---- the wallet's sync ----

/**
 * A fresh nonce for a wallet sync: the time it was issued and a MAC over it under a key only the service
 * holds, so any of its processes can check it without storing it.
 */
export function syncNonce(macKey: Uint8Array, now: number): Uint8Array {
  const nonce = new Uint8Array(SYNC_NONCE_BYTES);
  new DataView(nonce.buffer).setUint32(0, Math.floor(now / 2 ** 32));
  new DataView(nonce.buffer).setUint32(4, now >>> 0);
  nonce.set(nonceMac(macKey, nonce.subarray(0, 8)), 8);
  return nonce;
}

function nonceMac(macKey: Uint8Array, issued: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac('sha256', macKey).update('tapline/wallet-sync-nonce').update(issued).digest().subarray(0, 8));
}

/** When the service issued `nonce`; throws SyncRefused for one it did not issue or that is too old. */
function nonceTime(macKey: Uint8Array, nonce: Uint8Array, now: number): number {
  if (!equalBytes(nonceMac(macKey, nonce.subarray(0, 8)), nonce.subarray(8))) throw new SyncRefused(401, 'bad-nonce', 'the sync nonce was not issued by this service');
  const issued = readU32(nonce, 0) * 2 ** 32 + readU32(nonce, 4);
  if (issued > now + 5 || now - issued > SYNC_NONCE_TTL_SECONDS) throw new SyncRefused(409, 'stale-sync', `the sync nonce was issued ${now - issued} s ago (at most ${SYNC_NONCE_TTL_SECONDS}): ask for a new one`);
  return issued;
}

export interface SyncResult {
  walletId: string;
  counter: number;
  /** Exchanges this sync added to the wallet's stored log. */
  stored: number;
  recovered: { terminalId: string; terminalSeq: number; amount: number }[];
  released: { terminalId: string; terminalSeq: number; amount: number }[];
}

export interface SyncDeps extends IntentDeps {
  db: { transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>; read<T>(fn: (tx: Tx) => Promise<T>): Promise<T> };
  macKey: Uint8Array;
  keys: KeyLookup;
  /** The signature primitive (node:crypto). */
  verifySignature(alg: number, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
}

/** Checks a wallet sync end to end before anything is written. Throws SyncRefused. */
async function checkSync(body: Uint8Array, now: number, deps: SyncDeps): Promise<{ sync: SignedWalletSync; cert: Certificate; nonceAt: number }> {
  let sync: SignedWalletSync;
  let cert: Certificate;
  try {
    sync = decodeWalletSync(body);
    cert = decodeCertificate(sync.certificate);
  } catch (e) {
    if (e instanceof TlvError) throw new SyncRefused(400, 'malformed-sync', e.message);
    throw e;
  }
  const nonceAt = nonceTime(deps.macKey, sync.nonce, now);
  try {
    checkCertificateSignature(cert, issuerKeyFor(cert, deps.keys), (a, k, m, s) => deps.verifySignature(a, k, m, s));
  } catch (e) {
    if (e instanceof DeclineError) throw new SyncRefused(401, 'bad-certificate', `the wallet's certificate: ${e.decline.code}`);
    throw e;
  }
  if (!deps.verifySignature(cert.alg, cert.publicKey, concatBytes(WALLET_SYNC_DOMAIN, sync.signedBytes), sync.signature)) {
    throw new SyncRefused(401, 'bad-signature', `the sync is not signed by wallet ${cert.walletId}'s key`);
  }
  // What the wallet says it holds must be what it sends: every counter from heldFrom to its counter now,
  // each an exchange its key signed under this certificate (a bound payment's grant is not needed for that).
  const verify = (a: number, k: Uint8Array, m: Uint8Array, sig: Uint8Array) => deps.verifySignature(a, k, m, sig);
  const counters = sync.entries.map((e, i) => {
    let response;
    try {
      decodePayRequest(e.request);
      response = decodePayResponse(e.response);
    } catch (err) {
      if (err instanceof TlvError) throw new SyncRefused(400, 'malformed-sync', `exchange ${i}: ${err.message}`);
      throw err;
    }
    try {
      checkPaymentSignature(cert, e.request, response, verify);
    } catch (err) {
      if (err instanceof DeclineError) throw new SyncRefused(400, 'bad-exchange', `exchange at counter ${response.counter} does not verify: ${err.decline.code}`);
      throw err;
    }
    return response.counter;
  });
  if (counters.length !== sync.counter - sync.heldFrom + 1 || counters.some((c, i) => c !== sync.heldFrom + i)) {
    throw new SyncRefused(400, 'incomplete-sync', `the sync holds counters ${counters.join(', ') || 'none'}, not every one from ${sync.heldFrom} to ${sync.counter}`);
  }
  return { sync, cert, nonceAt };
}

/**
 * One key, one exchange per counter: an exchange of the sync that differs from what the service already
 * holds for that counter (an earlier sync, or a receipt some terminal uploaded) means two elements sign
 * with the wallet's key. A clone finding with both exchanges, and the wallet on the deny list.
 */
async function cloneCheck(tx: Tx, walletId: string, sync: SignedWalletSync, now: number): Promise<void> {
  if (sync.entries.length === 0) return;
  const range = [walletId, sync.heldFrom, sync.counter];
  const held = new Map<number, { request: Uint8Array; response: Uint8Array; where: Record<string, unknown> }>();
  for (const r of await tx.all<LogRow>('SELECT counter, certificate, request, response FROM wallet_log WHERE wallet_id = $1 AND counter BETWEEN $2 AND $3', range)) {
    held.set(Number(r.counter), { request: r.request, response: r.response, where: { walletSync: true } });
  }
  for (const r of await tx.all<{ id: number; terminal_id: string; terminal_seq: number; counter: number; receipt: Uint8Array }>(
    `SELECT id, terminal_id, terminal_seq, counter, receipt FROM receipts WHERE wallet_id = $1 AND counter BETWEEN $2 AND $3 AND outcome <> 'invalid'`,
    range,
  )) {
    const receipt = decodeReceipt(r.receipt);
    held.set(Number(r.counter), { request: receipt.request, response: receipt.response, where: { receiptId: Number(r.id), terminalId: r.terminal_id, seq: Number(r.terminal_seq) } });
  }
  for (const [i, e] of sync.entries.entries()) {
    const counter = sync.heldFrom + i;
    const other = held.get(counter);
    if (!other || (equalBytes(other.request, e.request) && equalBytes(other.response, e.response))) continue;
    const evidence = {
      reason: `wallet ${walletId} signed two exchanges with counter ${counter}: its sync and ${other.where.terminalId ? `${String(other.where.terminalId)}#${String(other.where.seq)}` : 'an earlier sync'}`,
      walletId,
      counter,
      sync: { request: toHex(e.request), response: toHex(e.response) },
      other: { ...other.where, request: toHex(other.request), response: toHex(other.response) },
    };
    await tx.run('INSERT INTO findings (kind, wallet_id, receipt_id, other_receipt_id, evidence, created_at) VALUES ($1, $2, $3, $4, $5, $6)', [
      'clone',
      walletId,
      (other.where.receiptId as number | undefined) ?? null,
      null,
      JSON.stringify(evidence),
      now,
    ]);
    await denyWallet(tx, walletId, 'clone', now);
  }
}

/** Takes a wallet's sync: stores its exchanges and settles every open intent of the wallet they decide. */
export async function walletSync(body: Uint8Array, now: number, deps: SyncDeps): Promise<SyncResult> {
  const { sync, cert, nonceAt } = await checkSync(body, now, deps);
  const walletId = cert.walletId;
  // The terminals whose intents this may settle are locked before the wallet, as a batch does.
  const candidates = await deps.db.read((tx) => tx.all<{ terminal_id: string }>(`SELECT DISTINCT terminal_id FROM intents WHERE wallet_id = $1 AND status = 'open'`, [walletId]));
  const terminals = candidates.map((c) => c.terminal_id).sort();
  return deps.db.transaction(async (tx) => {
    await tx.lock(terminals.map((t) => `terminal:${t}`));
    await tx.lock([`wallet:${walletId}`]);
    const used = await tx.get('SELECT id FROM wallet_syncs WHERE wallet_id = $1 AND nonce = $2', [walletId, sync.nonce]);
    if (used) throw new SyncRefused(409, 'replayed-sync', `wallet ${walletId} already synced with this nonce: ask for a new one`);
    await tx.run('INSERT INTO wallet_syncs (wallet_id, nonce, nonce_at, counter, held_from, entries, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
      walletId,
      sync.nonce,
      nonceAt,
      sync.counter,
      sync.heldFrom,
      sync.entries.length,
      now,
    ]);
    await cloneCheck(tx, walletId, sync, now);
    let stored = 0;
    for (const [i, e] of sync.entries.entries()) {
      stored += await tx.run('INSERT INTO wallet_log (wallet_id, counter, certificate, request, response, received_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (wallet_id, counter) DO NOTHING', [
        walletId,
        sync.heldFrom + i,
        sync.certificate,
        e.request,
        e.response,
        now,
      ]);
    }
    const result: SyncResult = { walletId, counter: sync.counter, stored, recovered: [], released: [] };
    const open = await tx.all<IntentRow>(`SELECT * FROM intents WHERE wallet_id = $1 AND status = 'open' ORDER BY id`, [walletId]);
    for (const row of open) {
      // An intent of a terminal not locked above came in meanwhile: its terminal's next upload settles it.
      if (!terminals.includes(row.terminal_id)) continue;
      const floor = Number(row.counter_floor);
      const request = decodeIntent(row.intent).request;
      const log = await logAbove(tx, walletId, floor);
      const entry = log.find((e) => equalBytes(e.request, request));
      const item = { terminalId: row.terminal_id, terminalSeq: Number(row.terminal_seq), amount: Number(row.amount) };
      if (entry) {
        const terminal = await tx.get<TerminalRow>('SELECT * FROM terminals WHERE terminal_id = $1', [row.terminal_id]);
        if (terminal && (await recover(tx, terminal, row, entry, now, deps)) === 'recovered') result.recovered.push(item);
        continue;
      }
      // Never signed: only a sync signed after the intent reached the service can say so (the tap came
      // before its upload), and only if the log is whole from the floor up to the wallet's counter then.
      const whole = log.filter((e) => Number(e.counter) <= sync.counter).length === Math.max(0, sync.counter - floor);
      if (nonceAt > Number(row.received_at) && whole) {
        await tx.run(`UPDATE intents SET status = 'released', resolved_at = $1 WHERE id = $2`, [now, row.id]);
        result.released.push(item);
      }
    }
    await overdue(tx, 'wallet_id = $1', [walletId], now, deps.boundSeconds);
    return result;
  });
}

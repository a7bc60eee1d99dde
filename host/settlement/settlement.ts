// The settlement logic, independent of HTTP: authenticate a terminal's batch, re-verify every receipt,
// settle each exactly once, find double spends, clones, overspends and spends of lost wallets, keep the
// advance / recovery accounts, and answer with a signed response carrying the deny-list delta and the
// other signed updates the terminal lacks. Expensive checks (signatures) run before the database
// transaction; everything a batch writes is written in one transaction, or nothing is.
import { createHash } from 'node:crypto';
import { concatBytes, fromHex, toHex } from '../../firmware/core/bytes';
import type { IssuerKey } from '../../firmware/core/crypto/keyring';
import { ALG_P256, type Alg } from '../../firmware/core/crypto/verify';
import { decodeReceipt, type ReceiptCheck } from '../../firmware/core/protocol/receipt';
import { TlvError } from '../../firmware/core/protocol/tlv';
import {
  encodeUpdate,
  UPDATE_CONFIG,
  UPDATE_DENY_LIST,
  UPDATE_KEYRING,
  UPDATE_TIME,
  UpdateError,
  verifyUpdate,
  MAX_DENY_DELTA,
} from '../../firmware/core/uplink/updates';
import {
  batchSignedPayload,
  decodeBatch,
  encodeBatchResponse,
  RESULT_ACCEPTED,
  RESULT_DUPLICATE,
  RESULT_REJECTED,
  WireError,
  type ReceiptResult,
  type SignedBatch,
} from '../../firmware/core/uplink/wire';
import { publicKeyOf } from '../../firmware/core/uplink/sign';
import type { Database, Tx } from './db';
import { NodeVerifier, verifyReceiptFast } from './verify';

/** A refusal the HTTP layer turns into `{ error: code, message }` with this status. */
export class SettlementError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'SettlementError';
  }
}

export interface RootKey {
  alg: Alg;
  secretKey: Uint8Array;
}

export interface SettlementOptions {
  db: Database;
  /** The provisioning root key: signs batch responses and updates. */
  root: RootKey;
  /**
   * The issuer keys receipts are verified against, and the keyring version terminals are brought to;
   * a function is asked again for every batch (the key folder may have rotated a key in).
   */
  keyring: KeyringState | (() => KeyringState);
  /** Unix seconds (default: the system clock). */
  clock?: () => number;
  /** Fault injection for crash tests: runs inside each batch's transaction just before it commits. */
  beforeCommit?: () => Promise<void>;
}

export interface KeyringState {
  version: number;
  keys: IssuerKey[];
}

export interface TerminalRegistration {
  terminalId: string;
  /** P-256 SEC1 public key (33 or 65 bytes). */
  publicKey: Uint8Array;
  merchantId: string;
  /** The per-payment cap in force at this terminal: receipts above it are not credited. */
  maxTransaction: number;
}

/** How one receipt was settled (stored with the receipt). */
export type Outcome =
  | 'settled' // verified, credited, wallet debited
  | 'double-spend' // same wallet counter as another receipt from the same terminal
  | 'clone' // same wallet counter as another receipt from another terminal
  | 'overspend' // beyond the wallet's known balance
  | 'lost' // a wallet reported lost, spent after the report
  | 'denied' // a wallet already on the deny list
  | 'over-cap' // above the caps in force: not credited
  | 'ignored-deny' // the terminal already held a deny list naming the wallet: not credited
  | 'replayed' // the very same payment again under another sequence number: not credited
  | 'invalid'; // failed verification: not credited

export const CREDITED_OUTCOMES: Outcome[] = ['settled', 'double-spend', 'clone', 'overspend', 'lost', 'denied'];

interface Checked {
  seq: number;
  bytes: Uint8Array;
  check: ReceiptCheck;
}

interface Posting {
  account: string;
  amount: number;
  receiptId: number | null;
  memo: string;
}

interface TerminalRow {
  terminal_id: string;
  public_key: Uint8Array;
  merchant_id: string;
  max_transaction: number;
  status: string;
  acked_seq: number;
  deny_version: number;
  deny_since_seq: number;
}

interface ReceiptRow {
  id: number;
  terminal_id: string;
  terminal_seq: number;
  counter: number | null;
  amount: number;
  outcome: Outcome;
  reason: string;
  credited: number;
  receipt: Uint8Array;
}

export interface Finding {
  id: number;
  kind: string;
  walletId: string;
  receiptId: number | null;
  otherReceiptId: number | null;
  evidence: Record<string, unknown>;
  createdAt: number;
}

const ID = /^[A-Za-z0-9._-]{1,32}$/;
const WALLET_ID = /^[0-9a-f]{16}$/;

export class Settlement {
  readonly db: Database;
  #root: RootKey;
  #rootPublicKey: Uint8Array;
  #keyringSource: () => KeyringState;
  #keyring: KeyringState = { version: -1, keys: [] };
  #keys = new Map<number, IssuerKey>();
  #clock: () => number;
  #verifier = new NodeVerifier();
  #beforeCommit: (() => Promise<void>) | undefined;

  constructor(options: SettlementOptions) {
    this.db = options.db;
    this.#root = options.root;
    this.#rootPublicKey = publicKeyOf(options.root.alg, options.root.secretKey);
    const keyring = options.keyring;
    this.#keyringSource = typeof keyring === 'function' ? keyring : () => keyring;
    this.#refreshKeyring();
    this.#clock = options.clock ?? (() => Math.floor(Date.now() / 1000));
    this.#beforeCommit = options.beforeCommit;
  }

  get rootPublicKey(): Uint8Array {
    return this.#rootPublicKey;
  }

  now(): number {
    return this.#clock();
  }

  // ---- batches ----

  /** Settles one uploaded batch; resolves with the signed response bytes. Throws SettlementError. */
  async ingest(body: Uint8Array): Promise<Uint8Array> {
    let batch: SignedBatch;
    try {
      batch = decodeBatch(body);
    } catch (e) {
      if (e instanceof WireError || e instanceof TlvError) throw new SettlementError(400, 'malformed-batch', e.message);
      throw e;
    }
    const digest = sha256(body);
    const terminal = await this.db.read((tx) => this.#terminal(tx, batch.terminalId));
    let payload: Uint8Array;
    try {
      payload = batchSignedPayload(batch);
    } catch (e) {
      if (e instanceof WireError || e instanceof TlvError) throw new SettlementError(400, 'malformed-batch', e.message);
      throw e;
    }
    if (!this.#verifier.verify(ALG_P256, terminal.public_key, payload, batch.signature)) {
      throw new SettlementError(401, 'bad-signature', `batch is not signed by terminal ${batch.terminalId}'s device key`);
    }
    // A retry of a batch already answered skips verification; the transaction below decides for good.
    const earlier = await this.db.read((tx) => this.#earlierAnswer(tx, batch, digest));
    if (earlier) return earlier;

    const now = this.#clock();
    this.#refreshKeyring();
    const checked: Checked[] = batch.items.map(({ seq, receipt }) => ({
      seq,
      bytes: receipt,
      check: verifyReceiptFast(this.#verifier, receipt, this.#keys, now),
    }));

    return this.db.transaction(async (tx) => {
      const again = await this.#earlierAnswer(tx, batch, digest);
      if (again) return again;
      const current = await this.#terminal(tx, batch.terminalId);
      const results: ReceiptResult[] = [];
      const existing = new Map<number, ReceiptRow>();
      if (checked.length) {
        const rows = await tx.all<ReceiptRow>('SELECT * FROM receipts WHERE terminal_id = $1 AND terminal_seq BETWEEN $2 AND $3', [
          current.terminal_id,
          checked[0]!.seq,
          checked[checked.length - 1]!.seq,
        ]);
        for (const r of rows) existing.set(Number(r.terminal_seq), r);
      }
      const ledger: Posting[] = [];
      const batchSpent = new Map<string, number>();
      for (const item of checked) results.push(await this.#settle(tx, current, item, now, existing.get(item.seq), ledger, batchSpent));
      await this.#post(tx, ledger, now);
      for (const [walletId, spent] of batchSpent) {
        await tx.run('UPDATE wallets SET spent = spent + $1, updated_at = $2 WHERE wallet_id = $3', [spent, now, walletId]);
      }
      const highest = batch.items.length ? batch.items[batch.items.length - 1]!.seq : current.acked_seq;
      const acked = batch.items.length ? highest : Math.min(current.acked_seq, highest);
      if (highest > current.acked_seq) {
        await tx.run('UPDATE terminals SET acked_seq = $1 WHERE terminal_id = $2', [highest, current.terminal_id]);
      }
      if (batch.denyListVersion > current.deny_version) {
        // It held this version when it built the batch: every later payment was made knowing it.
        await tx.run('UPDATE terminals SET deny_version = $1, deny_since_seq = $2 WHERE terminal_id = $3', [
          batch.denyListVersion,
          Math.max(highest, current.acked_seq),
          current.terminal_id,
        ]);
      }
      const updates = await this.#updatesFor(tx, batch, now);
      const response = encodeBatchResponse(
        { terminalId: batch.terminalId, nonce: batch.nonce, ackedUpTo: acked, results, updates },
        this.#root.alg,
        this.#root.secretKey,
      );
      await tx.run('INSERT INTO batches (terminal_id, nonce, digest, response, created_at) VALUES ($1, $2, $3, $4, $5)', [
        batch.terminalId,
        batch.nonce,
        digest,
        response,
        now,
      ]);
      if (this.#beforeCommit) await this.#beforeCommit();
      return response;
    });
  }

  #refreshKeyring(): void {
    const next = this.#keyringSource();
    if (next === this.#keyring) return;
    this.#keyring = next;
    this.#keys = new Map(next.keys.map((k) => [k.keyId, k]));
  }

  async #earlierAnswer(tx: Tx, batch: SignedBatch, digest: Uint8Array): Promise<Uint8Array | undefined> {
    const row = await tx.get<{ digest: Uint8Array; response: Uint8Array }>(
      'SELECT digest, response FROM batches WHERE terminal_id = $1 AND nonce = $2',
      [batch.terminalId, batch.nonce],
    );
    if (!row) return undefined;
    if (toHex(row.digest) !== toHex(digest)) {
      throw new SettlementError(409, 'replayed-batch', `batch nonce ${toHex(batch.nonce)} was already used for a different batch`);
    }
    return row.response;
  }

  async #terminal(tx: Tx, terminalId: string): Promise<TerminalRow> {
    const row = await tx.get<TerminalRow>('SELECT * FROM terminals WHERE terminal_id = $1', [terminalId]);
    if (!row) throw new SettlementError(403, 'unknown-terminal', `terminal ${terminalId} is not registered`);
    if (row.status !== 'active') throw new SettlementError(403, 'terminal-revoked', `terminal ${terminalId} is ${row.status}`);
    return row;
  }

  /** `ledger` and `batchSpent` collect the batch's postings and wallet spending, written after the loop. */
  async #settle(
    tx: Tx,
    terminal: TerminalRow,
    item: Checked,
    now: number,
    existing: ReceiptRow | undefined,
    ledger: Posting[],
    batchSpent: Map<string, number>,
  ): Promise<ReceiptResult> {
    if (existing) {
      if (toHex(existing.receipt) === toHex(item.bytes)) {
        return { seq: item.seq, status: RESULT_DUPLICATE, reason: `already settled: ${existing.outcome}` };
      }
      // The first receipt under this number stands; the terminal reused a sequence number.
      return { seq: item.seq, status: RESULT_REJECTED, reason: `sequence ${item.seq} already holds a different receipt` };
    }
    const check = item.check;
    if (!check.ok) {
      const reason = `${check.reason.code}${check.reason.detail ? `: ${check.reason.detail}` : ''}`;
      await this.#insertReceipt(tx, terminal, item, { outcome: 'invalid', reason, credited: false }, now);
      return { seq: item.seq, status: RESULT_REJECTED, reason: `invalid: ${reason}` };
    }
    const { certificate, request, response } = check;
    const walletId = certificate.walletId;
    const base = { walletId, counter: response.counter, amount: request.amount, issuerKeyId: certificate.issuerKeyId, balanceAfter: response.balanceAfter };
    if (request.terminalId !== terminal.terminal_id || request.merchantId !== terminal.merchant_id) {
      const reason = `receipt names terminal ${request.terminalId} of merchant ${request.merchantId}`;
      await this.#insertReceipt(tx, terminal, item, { ...base, outcome: 'invalid', reason, credited: false }, now);
      return { seq: item.seq, status: RESULT_REJECTED, reason: `invalid: ${reason}` };
    }
    if (request.amount > terminal.max_transaction || request.amount > certificate.singleLimit) {
      const cap = Math.min(terminal.max_transaction, certificate.singleLimit);
      const reason = `amount ${request.amount} above the cap in force (${cap})`;
      await this.#insertReceipt(tx, terminal, item, { ...base, outcome: 'over-cap', reason, credited: false }, now);
      return { seq: item.seq, status: RESULT_REJECTED, reason };
    }

    if (item.seq > terminal.deny_since_seq && terminal.deny_version > 0) {
      const listed = await tx.get<{ version: number }>('SELECT version FROM deny_list WHERE wallet_id = $1', [walletId]);
      if (listed && Number(listed.version) <= terminal.deny_version) {
        const reason = `wallet ${walletId} was on the deny list (version ${listed.version}) the terminal held since #${terminal.deny_since_seq}`;
        await this.#insertReceipt(tx, terminal, item, { ...base, outcome: 'ignored-deny', reason, credited: false }, now);
        return { seq: item.seq, status: RESULT_REJECTED, reason };
      }
    }
    const wallet = (await tx.get<{ funded: number | null; spent: number; status: string; lost_at: number | null }>(
      `INSERT INTO wallets (wallet_id, issuer_key_id, updated_at) VALUES ($1, $2, $3)
       ON CONFLICT (wallet_id) DO UPDATE SET updated_at = wallets.updated_at RETURNING funded, spent, status, lost_at`,
      [walletId, certificate.issuerKeyId, now],
    ))!;
    // One round trip for the wallet's receipts that matter: any under this counter, and the nearest
    // earlier and later ones with a signed balance (for the balance check).
    const near = await tx.all<ReceiptRow & { which: string; balance_after: number | null }>(
      `SELECT * FROM (SELECT 'same' AS which, r.* FROM receipts r WHERE wallet_id = $1 AND counter = $2) AS s
       UNION ALL SELECT * FROM (SELECT 'before' AS which, r.* FROM receipts r WHERE wallet_id = $1 AND counter < $2 AND balance_after IS NOT NULL ORDER BY counter DESC LIMIT 1) AS b
       UNION ALL SELECT * FROM (SELECT 'after' AS which, r.* FROM receipts r WHERE wallet_id = $1 AND counter > $2 AND balance_after IS NOT NULL ORDER BY counter ASC LIMIT 1) AS a`,
      [walletId, response.counter],
    );
    const same = near.filter((r) => r.which === 'same').sort((a, b) => Number(a.id) - Number(b.id));
    wallet.spent += batchSpent.get(walletId) ?? 0;
    const paymentTime = request.terminalTime || now;

    let outcome: Outcome = 'settled';
    let reason = 'settled';
    let other: ReceiptRow | undefined;
    if (same.some((r) => sameExchange(r.receipt, item.bytes))) {
      const first = same.find((r) => sameExchange(r.receipt, item.bytes))!;
      reason = `the same payment as ${first.terminal_id}#${first.terminal_seq}`;
      await this.#insertReceipt(tx, terminal, item, { ...base, outcome: 'replayed', reason, credited: false }, now);
      return { seq: item.seq, status: RESULT_REJECTED, reason: `replayed: ${reason}` };
    } else if (same.length > 0) {
      other = same[0]!;
      outcome = other.terminal_id === terminal.terminal_id ? 'double-spend' : 'clone';
      reason = `wallet ${walletId} counter ${response.counter} also spent at ${other.terminal_id}#${other.terminal_seq}`;
    } else if (wallet.status === 'lost' && (wallet.lost_at === null || paymentTime >= wallet.lost_at)) {
      outcome = 'lost';
      reason = `wallet ${walletId} was reported lost`;
    } else if (wallet.status === 'denied') {
      outcome = 'denied';
      reason = `wallet ${walletId} is on the deny list`;
    } else if (wallet.funded !== null && wallet.spent + request.amount > wallet.funded) {
      outcome = 'overspend';
      reason = `wallet ${walletId} spent ${wallet.spent + request.amount} of a known balance of ${wallet.funded}`;
    } else {
      const conflict = balanceConflict(
        near.find((r) => r.which === 'before'),
        near.find((r) => r.which === 'after'),
        walletId,
        response.counter,
        request.amount,
        response.balanceAfter,
      );
      if (conflict) {
        outcome = 'overspend';
        reason = conflict.reason;
        other = conflict.other;
      }
    }

    const id = await this.#insertReceipt(tx, terminal, item, { ...base, outcome, reason, credited: true }, now);
    // Credited first: the merchant is paid from the advance account for every receipt within the caps.
    this.#book(ledger, `merchant:${terminal.merchant_id}`, request.amount, id, 'credit for receipt');
    this.#book(ledger, 'advance', -request.amount, id, 'advance to merchant');
    batchSpent.set(walletId, (batchSpent.get(walletId) ?? 0) + request.amount);
    if (outcome === 'settled') {
      // ...deducted when verified: the wallet's owner repays the advance.
      this.#book(ledger, `wallet:${walletId}`, -request.amount, id, 'debit for receipt');
      this.#book(ledger, 'advance', request.amount, id, 'recovered from wallet');
      return { seq: item.seq, status: RESULT_ACCEPTED };
    }
    // A loss: the advance is closed against the issuer and a claim on the wallet is recorded.
    this.#book(ledger, `loss:issuer:${certificate.issuerKeyId}`, -request.amount, id, `${outcome} loss`);
    this.#book(ledger, 'advance', request.amount, id, `${outcome} loss booked`);
    await tx.run(
      'INSERT INTO losses (receipt_id, wallet_id, issuer_key_id, amount, kind, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
      [id, walletId, certificate.issuerKeyId, request.amount, outcome, now],
    );
    const evidence: Record<string, unknown> = {
      reason,
      walletId,
      counter: response.counter,
      amount: request.amount,
      receipt: { terminalId: terminal.terminal_id, seq: item.seq, bytes: toHex(item.bytes) },
    };
    if (other) evidence.other = { terminalId: other.terminal_id, seq: other.terminal_seq, bytes: toHex(other.receipt) };
    await tx.run(
      'INSERT INTO findings (kind, wallet_id, receipt_id, other_receipt_id, evidence, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
      [outcome, walletId, id, other?.id ?? null, JSON.stringify(evidence), now],
    );
    await this.#deny(tx, walletId, outcome, now);
    return { seq: item.seq, status: RESULT_ACCEPTED, reason: `${outcome}: credited, loss booked, wallet denied` };
  }

  async #insertReceipt(
    tx: Tx,
    terminal: TerminalRow,
    item: Checked,
    r: { walletId?: string; counter?: number; amount?: number; issuerKeyId?: number; balanceAfter?: number; outcome: Outcome; reason: string; credited: boolean },
    now: number,
  ): Promise<number> {
    const row = await tx.get<{ id: number }>(
      `INSERT INTO receipts (terminal_id, terminal_seq, wallet_id, counter, amount, merchant_id, issuer_key_id, outcome, reason, credited, receipt, received_at, balance_after)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id`,
      [
        terminal.terminal_id,
        item.seq,
        r.walletId ?? null,
        r.counter ?? null,
        r.amount ?? 0,
        terminal.merchant_id,
        r.issuerKeyId ?? null,
        r.outcome,
        r.reason.slice(0, 500),
        r.credited ? 1 : 0,
        item.bytes,
        now,
        // Only credited receipts' balances are trusted as neighbours for the balance check.
        r.credited ? (r.balanceAfter ?? null) : null,
      ],
    );
    return Number(row!.id);
  }

  #book(ledger: Posting[], account: string, amount: number, receiptId: number | null, memo: string): void {
    ledger.push({ account, amount, receiptId, memo });
  }

  /** Writes the batch's postings, many rows per statement (one round trip per chunk, not per posting). */
  async #post(tx: Tx, ledger: Posting[], now: number): Promise<void> {
    for (let i = 0; i < ledger.length; i += 200) {
      const chunk = ledger.slice(i, i + 200);
      const params: (string | number | null)[] = [];
      const rows = chunk.map((p) => {
        const n = params.length;
        params.push(p.account, p.amount, p.receiptId, p.memo, now);
        return `($${n + 1}, $${n + 2}, $${n + 3}, $${n + 4}, $${n + 5})`;
      });
      await tx.run(`INSERT INTO ledger (account, amount, receipt_id, memo, created_at) VALUES ${rows.join(', ')}`, params);
    }
  }

  /** Puts a wallet on the deny list (once); the next version number is one more than the last. */
  async #deny(tx: Tx, walletId: string, reason: string, now: number): Promise<number> {
    const listed = await tx.get<{ version: number }>('SELECT version FROM deny_list WHERE wallet_id = $1', [walletId]);
    if (listed) return Number(listed.version);
    const row = await tx.get<{ v: number | null }>('SELECT MAX(version) AS v FROM deny_list');
    const version = Number(row?.v ?? 0) + 1;
    await tx.run('INSERT INTO deny_list (version, wallet_id, reason, added_at) VALUES ($1, $2, $3, $4)', [version, walletId, reason, now]);
    await tx.run(
      `INSERT INTO wallets (wallet_id, status, updated_at) VALUES ($1, 'denied', $2)
       ON CONFLICT (wallet_id) DO UPDATE SET status = CASE WHEN wallets.status = 'lost' THEN 'lost' ELSE 'denied' END, updated_at = $2`,
      [walletId, now],
    );
    return version;
  }

  async #updatesFor(tx: Tx, batch: SignedBatch, now: number): Promise<Uint8Array[]> {
    const updates: Uint8Array[] = [];
    const delta = await this.#denyDelta(tx, batch.denyListVersion);
    if (delta) updates.push(delta);
    if (this.#keyring.version > batch.keyringVersion) {
      updates.push(encodeUpdate({ kind: UPDATE_KEYRING, version: this.#keyring.version, keys: this.#keyring.keys }, this.#root.alg, this.#root.secretKey));
    }
    const config = await tx.get<{ bytes: Uint8Array }>(
      `SELECT bytes FROM updates WHERE kind = $1 AND (terminal_id = $2 OR terminal_id = '*') AND version > $3 ORDER BY version DESC LIMIT 1`,
      [UPDATE_CONFIG, batch.terminalId, batch.configVersion],
    );
    if (config) updates.push(config.bytes);
    updates.push(encodeUpdate({ kind: UPDATE_TIME, version: 0, unixSeconds: now, nonce: batch.nonce }, this.#root.alg, this.#root.secretKey));
    return updates;
  }

  async #denyDelta(tx: Tx, fromVersion: number): Promise<Uint8Array | undefined> {
    const rows = await tx.all<{ version: number; wallet_id: string }>(
      'SELECT version, wallet_id FROM deny_list WHERE version > $1 ORDER BY version LIMIT $2',
      [fromVersion, MAX_DENY_DELTA],
    );
    if (rows.length === 0) return undefined;
    const version = Number(rows[rows.length - 1]!.version);
    return encodeUpdate(
      { kind: UPDATE_DENY_LIST, fromVersion, version, add: rows.map((r) => walletIdBytes(r.wallet_id)), remove: [] },
      this.#root.alg,
      this.#root.secretKey,
    );
  }

  // ---- administration ----

  async registerTerminal(t: TerminalRegistration): Promise<{ created: boolean }> {
    if (!ID.test(t.terminalId) || t.terminalId.length > 16) throw new SettlementError(400, 'bad-terminal-id', 'terminal id must be 1..16 of A-Z a-z 0-9 . _ -');
    if (!ID.test(t.merchantId) || t.merchantId.length > 16) throw new SettlementError(400, 'bad-merchant-id', 'merchant id must be 1..16 of A-Z a-z 0-9 . _ -');
    if (t.publicKey.length !== 33 && t.publicKey.length !== 65) throw new SettlementError(400, 'bad-public-key', 'device key must be a P-256 SEC1 public key');
    if (!Number.isSafeInteger(t.maxTransaction) || t.maxTransaction < 0) throw new SettlementError(400, 'bad-cap', 'maxTransaction must be a non-negative integer');
    const now = this.#clock();
    return this.db.transaction(async (tx) => {
      const existing = await tx.get<TerminalRow>('SELECT * FROM terminals WHERE terminal_id = $1', [t.terminalId]);
      if (existing) {
        if (toHex(existing.public_key) !== toHex(t.publicKey)) {
          throw new SettlementError(409, 'terminal-exists', `terminal ${t.terminalId} is registered with another device key`);
        }
        await tx.run('UPDATE terminals SET merchant_id = $1, max_transaction = $2 WHERE terminal_id = $3', [t.merchantId, t.maxTransaction, t.terminalId]);
        return { created: false };
      }
      await tx.run(
        'INSERT INTO terminals (terminal_id, public_key, merchant_id, max_transaction, registered_at) VALUES ($1, $2, $3, $4, $5)',
        [t.terminalId, t.publicKey, t.merchantId, t.maxTransaction, now],
      );
      return { created: true };
    });
  }

  async revokeTerminal(terminalId: string): Promise<void> {
    const changed = await this.db.transaction((tx) => tx.run(`UPDATE terminals SET status = 'revoked' WHERE terminal_id = $1`, [terminalId]));
    if (changed === 0) throw new SettlementError(404, 'unknown-terminal', `terminal ${terminalId} is not registered`);
  }

  /** Records what the issuer loaded onto a wallet: spending beyond it is an overspend. */
  async registerWallet(walletId: string, funded: number, issuerKeyId?: number): Promise<void> {
    checkWalletId(walletId);
    if (!Number.isSafeInteger(funded) || funded < 0) throw new SettlementError(400, 'bad-amount', 'balance must be a non-negative integer');
    const now = this.#clock();
    await this.db.transaction((tx) =>
      tx.run(
        `INSERT INTO wallets (wallet_id, issuer_key_id, funded, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (wallet_id) DO UPDATE SET funded = $3, issuer_key_id = COALESCE($2, wallets.issuer_key_id), updated_at = $4`,
        [walletId, issuerKeyId ?? null, funded, now],
      ),
    );
  }

  /** The holder reports the wallet lost: deny-listed now; spends after `at` (default now) are losses. */
  async reportLost(walletId: string, at?: number): Promise<{ denyListVersion: number }> {
    checkWalletId(walletId);
    const now = this.#clock();
    const lostAt = at ?? now;
    return this.db.transaction(async (tx) => {
      await tx.run(
        `INSERT INTO wallets (wallet_id, status, lost_at, updated_at) VALUES ($1, 'lost', $2, $3)
         ON CONFLICT (wallet_id) DO UPDATE SET status = 'lost', lost_at = $2, updated_at = $3`,
        [walletId, lostAt, now],
      );
      await tx.run(
        'INSERT INTO findings (kind, wallet_id, receipt_id, other_receipt_id, evidence, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
        ['reported-lost', walletId, null, null, JSON.stringify({ reason: 'reported lost by the holder', lostAt }), now],
      );
      return { denyListVersion: await this.#deny(tx, walletId, 'lost', now) };
    });
  }

  /** Stores a root-signed keyring or configuration update for delivery (`terminalId` or '*' for all). */
  async addUpdate(bytes: Uint8Array, terminalId = '*'): Promise<{ kind: number; version: number }> {
    let update;
    try {
      update = verifyUpdate(bytes, this.#root.alg, this.#rootPublicKey);
    } catch (e) {
      if (e instanceof UpdateError) throw new SettlementError(400, 'bad-update', e.message);
      throw e;
    }
    if (update.kind !== UPDATE_CONFIG) {
      throw new SettlementError(400, 'bad-update', 'only configuration updates are stored; the keyring and deny list are the service\'s own');
    }
    const now = this.#clock();
    await this.db.transaction((tx) =>
      tx.run('INSERT INTO updates (kind, terminal_id, version, bytes, created_at) VALUES ($1, $2, $3, $4, $5)', [
        update.kind,
        terminalId,
        update.version,
        bytes,
        now,
      ]),
    );
    return { kind: update.kind, version: update.version };
  }

  async denyList(since: number): Promise<{ version: number; entries: { version: number; walletId: string; reason: string; addedAt: number }[]; update?: Uint8Array }> {
    return this.db.read(async (tx) => {
      const rows = await tx.all<{ version: number; wallet_id: string; reason: string; added_at: number }>(
        'SELECT * FROM deny_list WHERE version > $1 ORDER BY version LIMIT $2',
        [since, MAX_DENY_DELTA],
      );
      const last = await tx.get<{ v: number | null }>('SELECT MAX(version) AS v FROM deny_list');
      const update = await this.#denyDelta(tx, since);
      const result = {
        version: Number(last?.v ?? 0),
        entries: rows.map((r) => ({ version: Number(r.version), walletId: r.wallet_id, reason: r.reason, addedAt: Number(r.added_at) })),
      };
      return update ? { ...result, update } : result;
    });
  }

  async balance(account: string): Promise<number> {
    return this.db.read(async (tx) => Number((await tx.get<{ s: number | null }>('SELECT SUM(amount) AS s FROM ledger WHERE account = $1', [account]))?.s ?? 0));
  }

  async findings(walletId?: string): Promise<Finding[]> {
    return this.db.read(async (tx) => {
      const rows = await tx.all<{ id: number; kind: string; wallet_id: string; receipt_id: number | null; other_receipt_id: number | null; evidence: string; created_at: number }>(
        walletId ? 'SELECT * FROM findings WHERE wallet_id = $1 ORDER BY id' : 'SELECT * FROM findings ORDER BY id',
        walletId ? [walletId] : [],
      );
      return rows.map((r) => ({
        id: Number(r.id),
        kind: r.kind,
        walletId: r.wallet_id,
        receiptId: r.receipt_id === null ? null : Number(r.receipt_id),
        otherReceiptId: r.other_receipt_id === null ? null : Number(r.other_receipt_id),
        evidence: JSON.parse(r.evidence) as Record<string, unknown>,
        createdAt: Number(r.created_at),
      }));
    });
  }

  /** Counts for health and tests: receipts by outcome. */
  async stats(): Promise<Record<string, number>> {
    return this.db.read(async (tx) => {
      const rows = await tx.all<{ outcome: string; n: number }>('SELECT outcome, COUNT(*) AS n FROM receipts GROUP BY outcome');
      return Object.fromEntries(rows.map((r) => [r.outcome, Number(r.n)]));
    });
  }
}


function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}

function walletIdBytes(walletId: string): Uint8Array {
  return fromHex(walletId);
}

function checkWalletId(walletId: string): void {
  if (!WALLET_ID.test(walletId)) throw new SettlementError(400, 'bad-wallet-id', 'wallet id must be 16 lowercase hex digits');
}

/**
 * The wallet signs its balance after each payment and there are no top-ups: along its counter the
 * balance only goes down, by at least each payment. A receipt that breaks this against its nearest
 * neighbours is a tampered or cloned element spending value it does not have.
 */
function balanceConflict(
  before: (ReceiptRow & { balance_after: number | null }) | undefined,
  after: (ReceiptRow & { balance_after: number | null }) | undefined,
  walletId: string,
  counter: number,
  amount: number,
  balanceAfter: number,
): { reason: string; other: ReceiptRow } | undefined {
  if (before && before.balance_after !== null && balanceAfter + amount > Number(before.balance_after)) {
    return { reason: `wallet ${walletId} counter ${counter} spent ${amount} leaving ${balanceAfter}, but counter ${before.counter} had left ${before.balance_after}`, other: before };
  }
  if (after && after.balance_after !== null && Number(after.balance_after) + Number(after.amount) > balanceAfter) {
    return { reason: `wallet ${walletId} counter ${counter} left ${balanceAfter}, but counter ${after.counter} later spent ${after.amount} leaving ${after.balance_after}`, other: after };
  }
  return undefined;
}

/** Two receipts record the same exchange when the wallet's signed response is the same. */
function sameExchange(a: Uint8Array, b: Uint8Array): boolean {
  try {
    const x = decodeReceipt(a);
    const y = decodeReceipt(b);
    return toHex(concatBytes(x.request, x.response)) === toHex(concatBytes(y.request, y.response));
  } catch {
    return false;
  }
}

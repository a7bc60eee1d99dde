// The settlement logic, independent of HTTP: authenticate a terminal's batch, re-verify every receipt,
// settle each exactly once, find double spends, clones, overspends and spends of lost wallets, keep the
// advance / recovery accounts, and answer with a signed response carrying the deny-list delta and the
// other signed updates the terminal lacks. Expensive checks (signatures) run before the database
// transaction; everything a batch writes is written in one transaction, or nothing is.
import { TaplineError } from '../../firmware/base/errors';
import { createHash } from 'node:crypto';
import { concatBytes, fromHex, toHex } from '../../firmware/base/bytes';
import type { IssuerKey } from '../../firmware/core/crypto/keyring';
import { ALG_P256, type Alg } from '../../firmware/core/crypto/verify';
import { TlvError } from '../../firmware/core/protocol/tlv';
import { DEFAULT_RISK_CONFIG } from '../../firmware/core/risk/config';
import {
  encodeUpdate,
  UPDATE_CONFIG,
  UPDATE_DENY_LIST,
  UPDATE_KEYRING,
  UPDATE_FARE_RULES,
  UPDATE_TIME,
  UpdateError,
  verifyUpdate,
  MAX_DENY_DELTA,
} from '../../firmware/core/uplink/updates';
import { FareRulesError, parseFareRules } from '../../firmware/core/fares/rules';
import {
  batchSignedPayload,
  decodeBatch,
  encodeBatchResponse,
  WireError,
  type SignedBatch,
} from '../../firmware/core/uplink/wire';
import { publicKeyOf } from '../../firmware/core/uplink/sign';
import type { Database, Tx } from './db';
import { NodeVerifier, ReceiptVerifier, InlineVerifier, type ReceiptChecker } from './verify';
import { ReceiptPool } from './verify-pool';
import { nodeSigner, type Signer } from './sign';
import { BatchSettler, denyWallet, type TerminalRow } from './batch';
import { isRefundItem, RefundSettler, settleInOrder } from './refunds';
import { present } from '../../firmware/base/assert';
import { newerFareRules } from './fares';
import { recordReport } from './office/reports';
import { DEFAULT_INTENT_BOUND_SECONDS, parseUploadIntents, reconcileUpload, syncNonce, SyncRefused, walletSync, type IntentDeps, type SyncResult } from './intents';

/** A refusal the HTTP layer turns into `{ error: code, message }` with this status. */
export class SettlementError extends TaplineError {
  override readonly name: string = 'SettlementError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
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
  /** Worker threads parsing and verifying receipts (default: one per core; 0 verifies in this thread). */
  verifyThreads?: number;
  /**
   * The daily limit per wallet class the terminals enforce (default: the default risk configuration's
   * class table): a wallet's credited spending per day across all terminals is held to it.
   */
  dailyLimits?: Record<number, number>;
  /** An uploaded intent no wallet log has settled after this long (seconds) is a finding (default 14 days). */
  intentBoundSeconds?: number;
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
  /** Where it is, for purpose-bound funds: ISO 18245 merchant category and region code (both or neither). */
  merchantCategory?: number;
  region?: number;
}

export type { Outcome } from './batch';

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
  #receipts: ReceiptChecker;
  #sign: Signer;
  #dailyLimits: Record<number, number>;
  #beforeCommit: (() => Promise<void>) | undefined;
  #intentBoundSeconds: number;
  /** Authenticates the service's wallet-sync nonces (derived from the root key: every process has it). */
  #syncKey: Uint8Array;

  constructor(options: SettlementOptions) {
    this.db = options.db;
    this.#root = options.root;
    this.#rootPublicKey = publicKeyOf(options.root.alg, options.root.secretKey);
    this.#sign = nodeSigner(options.root.alg, options.root.secretKey);
    const threads = options.verifyThreads;
    this.#receipts = threads === 0 ? new ReceiptVerifier(new InlineVerifier(this.#verifier)) : new ReceiptPool({ threads });
    const keyring = options.keyring;
    this.#keyringSource = typeof keyring === 'function' ? keyring : () => keyring;
    this.#refreshKeyring();
    this.#clock = options.clock ?? (() => Math.floor(Date.now() / 1000));
    this.#beforeCommit = options.beforeCommit;
    this.#intentBoundSeconds = options.intentBoundSeconds ?? DEFAULT_INTENT_BOUND_SECONDS;
    this.#syncKey = sha256(concatBytes(new TextEncoder().encode('tapline/wallet-sync-nonce-key'), options.root.secretKey));
    this.#dailyLimits = options.dailyLimits ?? Object.fromEntries(Object.entries(DEFAULT_RISK_CONFIG.walletClasses).map(([c, l]) => [c, l.daily]));
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
    let intents: ReturnType<typeof parseUploadIntents>;
    try {
      payload = batchSignedPayload(batch);
      intents = parseUploadIntents(batch);
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
    // Refund records are verified as they settle (host/settlement/refunds.ts); receipts here, in the pool.
    const receiptItems = batch.items.filter((i) => !isRefundItem(i));
    const checks = await this.#receipts.verify(receiptItems.map((i) => i.receipt), this.#keys, now);
    const checkOf = new Map(receiptItems.map(({ seq }, i) => [seq, checks[i]!]));

    return this.db.transaction(async (tx) => {
      // One batch of a terminal at a time (its sequence numbers, its acknowledgements, its deny-list state).
      await tx.lock([`terminal:${batch.terminalId}`]);
      const again = await this.#earlierAnswer(tx, batch, digest);
      if (again) return again;
      let current = await this.#terminal(tx, batch.terminalId);
      const highest = batch.items.length ? batch.items[batch.items.length - 1]!.seq : current.acked_seq;
      const acked = batch.items.length ? highest : Math.min(current.acked_seq, highest);
      if (batch.denyListVersion > current.deny_version) {
        // The terminal now holds this version. It could know it only from the last response that offered
        // it: payments numbered up to what it had uploaded then, or paid before then, were made without it.
        const offered = current.deny_offered_version >= batch.denyListVersion;
        const sinceSeq = offered ? current.deny_offered_seq : Math.max(highest, current.acked_seq);
        const sinceAt = offered ? current.deny_offered_at : now;
        current = { ...current, deny_version: batch.denyListVersion, deny_since_seq: sinceSeq, deny_since_at: sinceAt };
        await tx.run('UPDATE terminals SET deny_version = $1, deny_since_seq = $2, deny_since_at = $3 WHERE terminal_id = $4', [
          batch.denyListVersion,
          sinceSeq,
          sinceAt,
          current.terminal_id,
        ]);
      }
      const results = await settleInOrder(
        batch.items,
        (seq) => present(checkOf.get(seq), `check of ${seq}`),
        (run) => new BatchSettler(tx, current, now, { dailyLimits: this.#dailyLimits }).settle(run),
        new RefundSettler(tx, current, now, (...a) => this.#verifier.verify(...a)),
      );
      const intentOutcomes = await reconcileUpload(tx, current, batch, intents, now, this.#intentDeps(now));
      if (highest > current.acked_seq) {
        await tx.run('UPDATE terminals SET acked_seq = $1 WHERE terminal_id = $2', [highest, current.terminal_id]);
      }
      const { updates, denyVersion } = await this.#updatesFor(tx, batch, now, current.merchant_id);
      if (denyVersion !== undefined) {
        await tx.run('UPDATE terminals SET deny_offered_version = $1, deny_offered_seq = $2, deny_offered_at = $3 WHERE terminal_id = $4', [
          denyVersion,
          Math.max(highest, current.acked_seq),
          now,
          current.terminal_id,
        ]);
      }
      await recordReport(tx, batch, now);
      const response = encodeBatchResponse(
        { terminalId: batch.terminalId, nonce: batch.nonce, ackedUpTo: acked, results, updates, intents: intentOutcomes },
        this.#root.alg,
        this.#root.secretKey,
        this.#sign,
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

  #intentDeps(now: number): IntentDeps {
    return {
      verify: (receipts) => this.#receipts.verify(receipts, this.#keys, now),
      settler: { dailyLimits: this.#dailyLimits },
      boundSeconds: this.#intentBoundSeconds,
    };
  }

  // ---- wallets' syncs (host/settlement/intents.ts) ----

  /** A fresh nonce the wallet signs its sync over. */
  walletSyncNonce(): Uint8Array {
    return syncNonce(this.#syncKey, this.#clock());
  }

  /** Takes a wallet's log of signed exchanges and settles the open intents it decides. Throws SettlementError. */
  async walletSync(body: Uint8Array): Promise<SyncResult> {
    const now = this.#clock();
    this.#refreshKeyring();
    try {
      return await walletSync(body, now, {
        ...this.#intentDeps(now),
        db: this.db,
        macKey: this.#syncKey,
        keys: this.#keys,
        verifySignature: (alg, key, message, signature) => this.#verifier.verify(alg as Alg, key, message, signature),
      });
    } catch (e) {
      if (e instanceof SyncRefused) throw new SettlementError(e.status, e.code, e.message);
      throw e;
    }
  }

  #refreshKeyring(): void {
    const next = this.#keyringSource();
    if (next === this.#keyring) return;
    this.#keyring = next;
    this.#keys = new Map(next.keys.map((k) => [k.keyId, k]));
    this.#receipts.forgetCertificates();
  }

  /** Stops the verify workers (the database is the caller's). */
  async close(): Promise<void> {
    await this.#receipts.close();
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

  async #updatesFor(tx: Tx, batch: SignedBatch, now: number, merchantId: string): Promise<{ updates: Uint8Array[]; denyVersion?: number }> {
    const updates: Uint8Array[] = [];
    const delta = await this.#denyDelta(tx, batch.denyListVersion);
    if (delta) updates.push(delta.bytes);
    if (this.#keyring.version > batch.keyringVersion) {
      updates.push(encodeUpdate({ kind: UPDATE_KEYRING, version: this.#keyring.version, keys: this.#keyring.keys }, this.#root.alg, this.#root.secretKey, this.#sign));
    }
    const config = await tx.get<{ bytes: Uint8Array }>(
      `SELECT bytes FROM updates WHERE kind = $1 AND (terminal_id = $2 OR terminal_id = '*') AND version > $3 ORDER BY version DESC LIMIT 1`,
      [UPDATE_CONFIG, batch.terminalId, batch.configVersion],
    );
    if (config) updates.push(config.bytes);
    // a validator (it reports its fare rules version) gets its operator's newer rules
    const fares = batch.fareRulesVersion === undefined ? undefined : await newerFareRules(tx, merchantId, batch.fareRulesVersion);
    if (fares) updates.push(fares);
    updates.push(encodeUpdate({ kind: UPDATE_TIME, version: 0, unixSeconds: now, nonce: batch.nonce }, this.#root.alg, this.#root.secretKey, this.#sign));
    return { updates, denyVersion: delta?.version };
  }

  async #denyDelta(tx: Tx, fromVersion: number): Promise<{ bytes: Uint8Array; version: number } | undefined> {
    const rows = await tx.all<{ version: number; wallet_id: string }>(
      'SELECT version, wallet_id FROM deny_list WHERE version > $1 ORDER BY version LIMIT $2',
      [fromVersion, MAX_DENY_DELTA],
    );
    if (rows.length === 0) return undefined;
    const version = Number(rows[rows.length - 1]!.version);
    const bytes = encodeUpdate(
      { kind: UPDATE_DENY_LIST, fromVersion, version, add: rows.map((r) => walletIdBytes(r.wallet_id)), remove: [] },
      this.#root.alg,
      this.#root.secretKey,
      this.#sign,
    );
    return { bytes, version };
  }

  // ---- administration ----

  async registerTerminal(t: TerminalRegistration): Promise<{ created: boolean }> {
    if (!ID.test(t.terminalId) || t.terminalId.length > 16) throw new SettlementError(400, 'bad-terminal-id', 'terminal id must be 1..16 of A-Z a-z 0-9 . _ -');
    if (!ID.test(t.merchantId) || t.merchantId.length > 16) throw new SettlementError(400, 'bad-merchant-id', 'merchant id must be 1..16 of A-Z a-z 0-9 . _ -');
    if (t.publicKey.length !== 33 && t.publicKey.length !== 65) throw new SettlementError(400, 'bad-public-key', 'device key must be a P-256 SEC1 public key');
    if (!Number.isSafeInteger(t.maxTransaction) || t.maxTransaction < 0) throw new SettlementError(400, 'bad-cap', 'maxTransaction must be a non-negative integer');
    if ((t.merchantCategory === undefined) !== (t.region === undefined)) throw new SettlementError(400, 'bad-place', 'merchantCategory and region come together');
    if (t.merchantCategory !== undefined && !(Number.isInteger(t.merchantCategory) && t.merchantCategory >= 0 && t.merchantCategory <= 9999 && Number.isInteger(t.region) && t.region! >= 0 && t.region! <= 0xffff)) {
      throw new SettlementError(400, 'bad-place', 'merchantCategory is 0..9999, region 0..65535');
    }
    const category = t.merchantCategory ?? null;
    const region = t.region ?? null;
    const now = this.#clock();
    return this.db.transaction(async (tx) => {
      await tx.lock([`terminal:${t.terminalId}`]);
      const existing = await tx.get<TerminalRow>('SELECT * FROM terminals WHERE terminal_id = $1', [t.terminalId]);
      if (existing) {
        if (toHex(existing.public_key) !== toHex(t.publicKey)) {
          throw new SettlementError(409, 'terminal-exists', `terminal ${t.terminalId} is registered with another device key`);
        }
        await tx.run('UPDATE terminals SET merchant_id = $1, max_transaction = $2, merchant_category = $3, region = $4 WHERE terminal_id = $5', [t.merchantId, t.maxTransaction, category, region, t.terminalId]);
        return { created: false };
      }
      await tx.run(
        'INSERT INTO terminals (terminal_id, public_key, merchant_id, max_transaction, registered_at, merchant_category, region) VALUES ($1, $2, $3, $4, $5, $6, $7)',
        [t.terminalId, t.publicKey, t.merchantId, t.maxTransaction, now, category, region],
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
    await this.db.transaction(async (tx) => {
      await tx.lock([`wallet:${walletId}`]);
      await tx.run(
        `INSERT INTO wallets (wallet_id, issuer_key_id, funded, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (wallet_id) DO UPDATE SET funded = $3, issuer_key_id = COALESCE($2, wallets.issuer_key_id), updated_at = $4`,
        [walletId, issuerKeyId ?? null, funded, now],
      );
    });
  }

  /** The holder reports the wallet lost: deny-listed now; spends after `at` (default now) are losses. */
  async reportLost(walletId: string, at?: number): Promise<{ denyListVersion: number }> {
    checkWalletId(walletId);
    const now = this.#clock();
    const lostAt = at ?? now;
    return this.db.transaction(async (tx) => {
      await tx.lock([`wallet:${walletId}`]);
      await tx.run(
        `INSERT INTO wallets (wallet_id, status, lost_at, updated_at) VALUES ($1, 'lost', $2, $3)
         ON CONFLICT (wallet_id) DO UPDATE SET status = 'lost', lost_at = $2, updated_at = $3`,
        [walletId, lostAt, now],
      );
      await tx.run(
        'INSERT INTO findings (kind, wallet_id, receipt_id, other_receipt_id, evidence, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
        ['reported-lost', walletId, null, null, JSON.stringify({ reason: 'reported lost by the holder', lostAt }), now],
      );
      return { denyListVersion: await denyWallet(tx, walletId, 'lost', now) };
    });
  }

  /**
   * Stores a root-signed configuration update for delivery to the terminal its signed bytes name
   * (`terminalId`, when given, must be that one).
   */
  async addUpdate(bytes: Uint8Array, terminalId?: string): Promise<{ kind: number; version: number; terminalId: string }> {
    let update;
    try {
      update = verifyUpdate(bytes, this.#root.alg, this.#rootPublicKey);
    } catch (e) {
      if (e instanceof UpdateError) throw new SettlementError(400, 'bad-update', e.message);
      throw e;
    }
    if (update.kind === UPDATE_FARE_RULES) {
      // An operator's fare rules: kept for its merchant id, the rules settlement prices its transit taps by.
      try {
        parseFareRules(update.rules);
      } catch (e) {
        if (e instanceof FareRulesError) throw new SettlementError(400, 'bad-update', e.message);
        throw e;
      }
    } else if (update.kind !== UPDATE_CONFIG) {
      throw new SettlementError(400, 'bad-update', 'only configuration and fare-rules updates are stored; the keyring and deny list are the service\'s own');
    }
    const target = update.kind === UPDATE_FARE_RULES ? update.operatorId : update.terminalId;
    if (terminalId !== undefined && terminalId !== target) {
      throw new SettlementError(400, 'bad-update', `the update is signed for ${update.kind === UPDATE_FARE_RULES ? 'operator' : 'terminal'} ${target}, not ${terminalId}`);
    }
    const now = this.#clock();
    await this.db.transaction((tx) =>
      tx.run('INSERT INTO updates (kind, terminal_id, version, bytes, created_at) VALUES ($1, $2, $3, $4, $5)', [
        update.kind,
        target,
        update.version,
        bytes,
        now,
      ]),
    );
    return { kind: update.kind, version: update.version, terminalId: target };
  }

  async denyList(since: number): Promise<{ version: number; entries: { version: number; walletId: string; reason: string; addedAt: number }[]; update?: Uint8Array }> {
    return this.db.read(async (tx) => {
      const rows = await tx.all<{ version: number; wallet_id: string; reason: string; added_at: number }>(
        'SELECT * FROM deny_list WHERE version > $1 ORDER BY version LIMIT $2',
        [since, MAX_DENY_DELTA],
      );
      const last = await tx.get<{ v: number | null }>('SELECT MAX(version) AS v FROM deny_list');
      const update = (await this.#denyDelta(tx, since))?.bytes;
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

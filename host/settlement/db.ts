// One storage interface, two backends: a SQLite file (better-sqlite3, zero setup) and PostgreSQL (pg,
// given a URL). The settlement logic is written once against `Tx`; SQL is the common subset of both
// (ON CONFLICT, RETURNING, multi-row VALUES), written with $1..$n placeholders. Every write goes through
// transaction(). SQLite has one writer (an in-process queue and BEGIN IMMEDIATE). PostgreSQL runs
// transactions side by side, from any number of service processes: a transaction takes `lock` on what
// it decides about (a terminal, the wallets of its receipts, the deny list's version counter), always in
// that order and each set sorted, so two batches wait for each other only when they share a wallet or a
// terminal; a deadlock that slips through anyway is retried.
import { TaplineError } from '../../firmware/base/errors';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { open, type FileHandle } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

export type Row = Record<string, unknown>;
export type Param = string | number | bigint | Uint8Array | null;

export interface Tx {
  /** Which database runs it, for the few statements each planner needs written its own way. */
  readonly kind: Database['kind'];
  all<T = Row>(sql: string, params?: Param[]): Promise<T[]>;
  get<T = Row>(sql: string, params?: Param[]): Promise<T | undefined>;
  /** Runs a statement; resolves with the number of rows it changed. */
  run(sql: string, params?: Param[]): Promise<number>;
  /** Holds these names until the transaction ends (no-op where writers are serialised anyway). */
  lock(names: string[]): Promise<void>;
}

export interface Database {
  readonly kind: 'sqlite' | 'postgres';
  /** Runs `fn` in one transaction, alone among writers; commits if it resolves, rolls back if it throws. */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** Runs read-only queries outside the writers' queue. */
  read<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export class DatabaseError extends TaplineError {
  override readonly name: string = 'DatabaseError';
}

/** `postgres://...` opens PostgreSQL; anything else is a SQLite file path (or ':memory:'). */
export async function openDatabase(location: string): Promise<Database> {
  const db = /^postgres(ql)?:\/\//.test(location) ? new PostgresDatabase(location) : new SqliteDatabase(location);
  try {
    await migrate(db);
  } catch (e) {
    await db.close();
    throw e;
  }
  return db;
}

// ---- SQLite ----

class SqliteDatabase implements Database {
  readonly kind = 'sqlite' as const;
  #db: BetterSqlite3.Database;
  #queue: Promise<unknown> = Promise.resolve();
  #tx: Tx;
  #wal: string | undefined;
  #walFile: Promise<FileHandle> | undefined;
  /** The sync under way, and the one the commits since it started wait for. */
  #syncing: Promise<void> | undefined;
  #nextSync: Promise<void> | undefined;
  #checkpointer: Worker | undefined;
  #commits = 0;
  /** The group new writers join, until it starts. */
  #open: { members: Member[] } | undefined;

  constructor(file: string) {
    this.#db = new BetterSqlite3(file);
    this.#db.pragma('journal_mode = WAL');
    // Money: a committed batch must survive a power cut, not only a process kill, before its answer
    // leaves. SQLite does not sync at COMMIT (NORMAL); transaction() syncs the write-ahead log itself,
    // once for every commit made while the previous sync ran (a group commit), and only then resolves.
    // The log is appended in commit order, so a sync covers every commit before it.
    this.#db.pragma('synchronous = NORMAL');
    this.#wal = file === ':memory:' || file === '' ? undefined : `${file}-wal`;
    // Copying the log into the database file (a checkpoint, with its two syncs) happens in a thread of
    // its own, not inside a batch's COMMIT on the thread that serves. Past MAX_WAL_BYTES the log is
    // checkpointed here, once, so it cannot grow without bound if the thread falls behind.
    if (this.#wal) {
      this.#db.pragma('wal_autocheckpoint = 0');
      this.#checkpointer = new Worker(CHECKPOINTER, { eval: true, workerData: { module: require.resolve('better-sqlite3'), file, everyMs: CHECKPOINT_EVERY_MS } });
      this.#checkpointer.unref();
      this.#checkpointer.on('error', () => this.#db.pragma('wal_autocheckpoint = 1000'));
    }
    this.#db.pragma('foreign_keys = ON');
    // The wallet indexes are probed and grown at random places (wallet ids are random): with SQLite's
    // default 2 MiB page cache most probes of a large table read a page from the operating system again.
    this.#db.pragma(`cache_size = -${CACHE_KIB}`);
    const statements = new Map<string, { stmt: BetterSqlite3.Statement; order: number[] }>();
    const prepare = (sql: string) => {
      let entry = statements.get(sql);
      if (!entry) {
        const order: number[] = [];
        const text = sql.replace(/\$(\d+)/g, (_, n: string) => {
          order.push(Number(n) - 1);
          return '?';
        });
        entry = { stmt: this.#db.prepare(text), order };
        statements.set(sql, entry);
      }
      return entry;
    };
    const bind = (order: number[], params: Param[]) => order.map((i) => toSqlite(params[i]));
    this.#tx = {
      kind: 'sqlite',
      all: async <T>(sql: string, params: Param[] = []) => {
        const { stmt, order } = prepare(sql);
        return (stmt.all(...bind(order, params)) as Row[]).map(fromSqlite) as T[];
      },
      get: async <T>(sql: string, params: Param[] = []) => {
        const { stmt, order } = prepare(sql);
        const row = stmt.get(...bind(order, params)) as Row | undefined;
        return (row ? fromSqlite(row) : undefined) as T | undefined;
      },
      run: async (sql: string, params: Param[] = []) => {
        const { stmt, order } = prepare(sql);
        if (!stmt.reader) return stmt.run(...bind(order, params)).changes;
        stmt.all(...bind(order, params));
        return 0;
      },
      lock: async () => undefined,
    };
  }

  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    // Writers arriving together share one BEGIN ... COMMIT (a group): one commit's fixed cost and one
    // copy of the pages they all touch (the tables' tails, the index roots) instead of one per batch.
    // Each runs inside a savepoint of its own, so one that throws is rolled back alone; all are answered
    // once the group is durable.
    let group = this.#open;
    if (!group || group.members.length >= MAX_GROUP) {
      const members: Member[] = [];
      group = { members };
      this.#open = group;
      const opened = group;
      // Started after the event loop's pending callbacks: the batches whose checks came back meanwhile
      // join it (better-sqlite3 runs synchronously, so without the wait every group would be one).
      const committed = this.#queue
        .then(() => new Promise((started) => setImmediate(started)))
        .then(() => {
          if (this.#open === opened) this.#open = undefined;
          return this.#commitGroup(members);
        });
      this.#queue = committed.catch(() => undefined);
    }
    return new Promise<T>((resolve, reject) => group.members.push({ fn, resolve: resolve as (v: unknown) => void, reject }));
  }

  /** Runs a group's transactions in one SQLite transaction; each member settles once it is durable. */
  async #commitGroup(members: Member[]): Promise<void> {
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      this.#db.exec('BEGIN IMMEDIATE');
      for (const member of members) {
        this.#db.exec('SAVEPOINT member');
        try {
          const value = await member.fn(this.#tx);
          this.#db.exec('RELEASE member');
          outcomes.push({ ok: true, value });
        } catch (error) {
          // An error SQLite answers by rolling the whole transaction back takes the group with it.
          if (!this.#db.inTransaction) throw error;
          this.#db.exec('ROLLBACK TO member; RELEASE member');
          outcomes.push({ ok: false, error });
        }
      }
      this.#db.exec('COMMIT');
    } catch (e) {
      if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
      for (const m of members) m.reject(e);
      return;
    }
    // TRUNCATE, not RESTART: the file shrinks back, so its size says again how far the thread is behind
    // (a RESTART left it at its largest, and every 64th commit then checkpointed here, measured: 37
    // times, 1.4 s of the serving thread, in 600,000 receipts).
    if (this.#wal && ++this.#commits % 64 === 0 && walBytes(this.#wal) > MAX_WAL_BYTES) this.#db.pragma('wal_checkpoint(TRUNCATE)');
    // The next group starts while this one's log is being synced.
    void this.#durable().then(
      () => members.forEach((m, i) => {
        const o = outcomes[i]!;
        if (o.ok) m.resolve(o.value);
        else m.reject(o.error);
      }),
      (e: unknown) => members.forEach((m) => m.reject(e)),
    );
  }

  /** Resolves once everything committed so far is on disk. */
  #durable(): Promise<void> {
    const wal = this.#wal;
    if (!wal) return Promise.resolve();
    // A sync already under way may have started before this commit: wait for the next one.
    this.#nextSync ??= (this.#syncing ?? Promise.resolve()).then(async () => {
      this.#nextSync = undefined;
      this.#walFile ??= open(wal, 'r');
      this.#syncing = (await this.#walFile).datasync();
      try {
        await this.#syncing;
      } finally {
        this.#syncing = undefined;
      }
    });
    return this.#nextSync;
  }

  read<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    // better-sqlite3 is synchronous: queueing behind writers keeps a read from landing inside a write.
    const result = this.#queue.then(() => fn(this.#tx));
    this.#queue = result.catch(() => undefined);
    return result;
  }

  async close(): Promise<void> {
    await this.#queue;
    await this.#nextSync?.catch(() => undefined);
    await (await this.#walFile?.catch(() => undefined))?.close();
    await this.#checkpointer?.terminate();
    if (this.#db.open) this.#db.close();
  }
}

/** A transaction waiting in a group. */
interface Member {
  fn: (tx: Tx) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** Transactions per group at most: the first one's answer waits for the last one's work. */
const MAX_GROUP = 16;
const CHECKPOINT_EVERY_MS = 200;
/**
 * The page cache of the serving connection, in KiB (a bound: the service's memory stays flat). The
 * pages a batch touches at random (the wallet indexes of receipts, the wallets, their postings) are
 * read from it: between 200,000 and 700,000 receipts 256 MiB settled 5 to 14 % more a second than
 * 64 MiB did (docs/SCALING.md, the scale curve).
 */
const CACHE_KIB = 256 * 1024;
const MAX_WAL_BYTES = 64 * 1024 * 1024;
const require = createRequire(import.meta.url);
// A second connection that checkpoints without blocking the writer (PASSIVE: it copies what no reader
// still needs and waits for no one).
const CHECKPOINTER = `
const { workerData } = require('node:worker_threads');
const db = new (require(workerData.module))(workerData.file);
db.pragma('busy_timeout = 100');
setInterval(() => { try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {} }, workerData.everyMs);
`;

function walBytes(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function toSqlite(value: Param | undefined): unknown {
  if (value instanceof Uint8Array && !Buffer.isBuffer(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return value ?? null;
}

function fromSqlite(row: Row): Row {
  for (const key of Object.keys(row)) {
    const v = row[key];
    if (Buffer.isBuffer(v)) row[key] = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  }
  return row;
}

// ---- PostgreSQL ----

/** PostgreSQL's codes for a deadlock and a serialization failure: the transaction may simply run again. */
const RETRYABLE = new Set(['40P01', '40001']);
const MAX_ATTEMPTS = 5;

const pgTypes = {
  getTypeParser(oid: number, format?: string) {
    // int8 and numeric as JS numbers: amounts stay far below 2^53 (checked at the boundary).
    if (oid === 20 || oid === 1700) return (text: string) => Number(text);
    return (pg.types.getTypeParser as (oid: number, format?: string) => unknown)(oid, format);
  },
} as unknown as pg.CustomTypesConfig;

class PostgresDatabase implements Database {
  readonly kind = 'postgres' as const;
  #pool: pg.Pool;

  constructor(url: string) {
    this.#pool = new pg.Pool({ connectionString: url, max: 8, types: pgTypes });
    // An idle client's error (the server restarted) must not crash the service.
    this.#pool.on('error', () => undefined);
  }

  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.#pool.connect();
      try {
        await client.query('BEGIN');
        const value = await fn(pgTx(client));
        await client.query('COMMIT');
        return value;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        if (attempt < MAX_ATTEMPTS && RETRYABLE.has((e as { code?: string }).code ?? '')) continue;
        throw e;
      } finally {
        client.release();
      }
    }
  }

  async read<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    try {
      return await fn(pgTx(client));
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}

/**
 * Statements are prepared once per connection under a name (the batch's statements are the same text
 * for every batch of one size): PostgreSQL then parses and plans each only once, not every batch.
 * Bounded: past MAX_NAMED distinct texts a statement runs unnamed, as pg's own cache never forgets one.
 */
const statementNames = new Map<string, string>();
const MAX_NAMED = 2000;

function statementName(sql: string): string | undefined {
  let name = statementNames.get(sql);
  if (name === undefined && statementNames.size < MAX_NAMED) statementNames.set(sql, (name = `t${statementNames.size}`));
  return name;
}

function pgTx(client: pg.PoolClient): Tx {
  const query = (sql: string, params: Param[]) => client.query({ name: statementName(sql), text: sql, values: params.map(toPg) });
  return {
    kind: 'postgres',
    all: async <T>(sql: string, params: Param[] = []) => (await query(sql, params)).rows.map(fromPg) as T[],
    get: async <T>(sql: string, params: Param[] = []) => {
      const row = (await query(sql, params)).rows[0] as Row | undefined;
      return (row ? fromPg(row) : undefined) as T | undefined;
    },
    run: async (sql: string, params: Param[] = []) => (await query(sql, params)).rowCount ?? 0,
    // Sorted by the lock key itself, so that two transactions never take the same two in opposite order.
    lock: async (names: string[]) => {
      if (names.length === 0) return;
      await query('SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtextextended(n, 0) AS k FROM unnest($1::text[]) AS n ORDER BY k) AS s', [names as unknown as Param]);
    },
  };
}

function toPg(value: Param): unknown {
  if (value instanceof Uint8Array && !Buffer.isBuffer(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (typeof value === 'bigint') return value.toString();
  return value;
}

const fromPg = fromSqlite;

// ---- schema ----

interface Migration {
  version: number;
  /** SQL for both backends, or `{ postgres }` / `{ sqlite }` for one. */
  statements: (string | { postgres: string } | { sqlite: string })[];
}

// {id}, {int} and {blob} are the two dialects' spellings of an auto-numbered key, a 64-bit integer and bytes.
const MIGRATIONS: Migration[] = [
  {
    version: 1,
    statements: [
      `CREATE TABLE terminals (
        terminal_id TEXT PRIMARY KEY,
        public_key {blob} NOT NULL,
        merchant_id TEXT NOT NULL,
        max_transaction {int} NOT NULL,
        status TEXT NOT NULL DEFAULT 'active',
        acked_seq {int} NOT NULL DEFAULT 0,
        registered_at {int} NOT NULL
      )`,
      `CREATE TABLE receipts (
        id {id},
        terminal_id TEXT NOT NULL REFERENCES terminals (terminal_id),
        terminal_seq {int} NOT NULL,
        wallet_id TEXT,
        counter {int},
        amount {int} NOT NULL,
        merchant_id TEXT NOT NULL,
        issuer_key_id {int},
        outcome TEXT NOT NULL,
        reason TEXT NOT NULL,
        credited {int} NOT NULL,
        receipt {blob} NOT NULL,
        received_at {int} NOT NULL,
        UNIQUE (terminal_id, terminal_seq)
      )`,
      `CREATE INDEX receipts_wallet_counter ON receipts (wallet_id, counter)`,
      `CREATE TABLE wallets (
        wallet_id TEXT PRIMARY KEY,
        issuer_key_id {int},
        funded {int},
        spent {int} NOT NULL DEFAULT 0,
        status TEXT NOT NULL DEFAULT 'active',
        lost_at {int},
        updated_at {int} NOT NULL
      )`,
      `CREATE TABLE findings (
        id {id},
        kind TEXT NOT NULL,
        wallet_id TEXT NOT NULL,
        receipt_id {int},
        other_receipt_id {int},
        evidence TEXT NOT NULL,
        created_at {int} NOT NULL
      )`,
      `CREATE INDEX findings_wallet ON findings (wallet_id)`,
      `CREATE TABLE deny_list (
        version {int} PRIMARY KEY,
        wallet_id TEXT NOT NULL UNIQUE,
        reason TEXT NOT NULL,
        added_at {int} NOT NULL
      )`,
      `CREATE TABLE ledger (
        id {id},
        account TEXT NOT NULL,
        amount {int} NOT NULL,
        receipt_id {int},
        memo TEXT NOT NULL,
        created_at {int} NOT NULL
      )`,
      `CREATE INDEX ledger_account ON ledger (account)`,
      `CREATE TABLE losses (
        id {id},
        receipt_id {int} NOT NULL,
        wallet_id TEXT NOT NULL,
        issuer_key_id {int},
        amount {int} NOT NULL,
        kind TEXT NOT NULL,
        created_at {int} NOT NULL
      )`,
      `CREATE TABLE batches (
        terminal_id TEXT NOT NULL,
        nonce {blob} NOT NULL,
        digest {blob} NOT NULL,
        response {blob} NOT NULL,
        created_at {int} NOT NULL,
        PRIMARY KEY (terminal_id, nonce)
      )`,
      `CREATE TABLE updates (
        id {id},
        kind INTEGER NOT NULL,
        terminal_id TEXT NOT NULL,
        version {int} NOT NULL,
        bytes {blob} NOT NULL,
        created_at {int} NOT NULL
      )`,
    ],
  },
  {
    version: 2,
    statements: [
      // The newest deny-list version the terminal has reported, and its highest sequence number then:
      // a payment after that from a wallet already on that list is the terminal's fault.
      `ALTER TABLE terminals ADD COLUMN deny_version {int} NOT NULL DEFAULT 0`,
      `ALTER TABLE terminals ADD COLUMN deny_since_seq {int} NOT NULL DEFAULT 0`,
    ],
  },
  {
    version: 3,
    statements: [
      // The balance the wallet signed after each payment: balances only go down along its counter.
      `ALTER TABLE receipts ADD COLUMN balance_after {int}`,
    ],
  },
  {
    version: 4,
    statements: [
      // What each terminal said about itself in its newest batch (the back office's terminals page).
      `CREATE TABLE terminal_reports (
        terminal_id TEXT PRIMARY KEY REFERENCES terminals (terminal_id),
        reported_at {int} NOT NULL,
        wall_time {int},
        firmware TEXT,
        deny_version {int} NOT NULL,
        keyring_version {int} NOT NULL,
        config_version {int} NOT NULL,
        backlog {int},
        offline_amount {int},
        offline_count {int}
      )`,
    ],
  },
  {
    version: 5,
    statements: [
      // When the wallet paid (the terminal's time, else the service's when it arrived): daily totals
      // across terminals, and counters that must rise with time.
      `ALTER TABLE receipts ADD COLUMN paid_at {int}`,
      `CREATE INDEX receipts_wallet_paid ON receipts (wallet_id, paid_at)`,
      // The last deny-list version offered to the terminal in a response, with the service's time then
      // and the highest sequence number it had uploaded: nothing it approved before could have known.
      `ALTER TABLE terminals ADD COLUMN deny_offered_version {int} NOT NULL DEFAULT 0`,
      `ALTER TABLE terminals ADD COLUMN deny_offered_seq {int} NOT NULL DEFAULT 0`,
      `ALTER TABLE terminals ADD COLUMN deny_offered_at {int} NOT NULL DEFAULT 0`,
      `ALTER TABLE terminals ADD COLUMN deny_since_at {int} NOT NULL DEFAULT 0`,
    ],
  },
  {
    version: 6,
    statements: [
      // Where the terminal is, for purpose-bound funds (host/settlement/purposes.ts); null: not said.
      `ALTER TABLE terminals ADD COLUMN merchant_category {int}`,
      `ALTER TABLE terminals ADD COLUMN region {int}`,
    ],
  },
  {
    version: 7,
    statements: [
      // In-doubt payments (host/settlement/intents.ts): the open intents terminals upload, and the
      // wallets' own logs of signed exchanges that settle them.
      `CREATE TABLE intents (
        id {id},
        terminal_id TEXT NOT NULL,
        terminal_seq {int} NOT NULL,
        wallet_id TEXT NOT NULL,
        counter_floor {int} NOT NULL,
        amount {int} NOT NULL,
        intent {blob} NOT NULL,
        status TEXT NOT NULL,
        received_at {int} NOT NULL,
        resolved_at {int},
        receipt_id {int},
        overdue_at {int},
        UNIQUE (terminal_id, terminal_seq)
      )`,
      `CREATE INDEX intents_wallet ON intents (wallet_id, status)`,
      `CREATE INDEX intents_open ON intents (terminal_id, status)`,
      `CREATE TABLE wallet_log (
        wallet_id TEXT NOT NULL,
        counter {int} NOT NULL,
        certificate {blob} NOT NULL,
        request {blob} NOT NULL,
        response {blob} NOT NULL,
        received_at {int} NOT NULL,
        PRIMARY KEY (wallet_id, counter)
      )`,
      `CREATE TABLE wallet_syncs (
        id {id},
        wallet_id TEXT NOT NULL,
        nonce {blob} NOT NULL,
        nonce_at {int} NOT NULL,
        counter {int} NOT NULL,
        held_from {int} NOT NULL,
        entries {int} NOT NULL,
        received_at {int} NOT NULL,
        UNIQUE (wallet_id, nonce)
      )`,
    ],
  },
  {
    version: 8,
    statements: [
      // Offline refunds (host/settlement/refunds.ts): every refund record and intent a terminal uploads,
      // by its journal sequence; a credited one also has a receipts row (its negative amount).
      `CREATE TABLE refunds (
        id {id},
        terminal_id TEXT NOT NULL REFERENCES terminals (terminal_id),
        terminal_seq {int} NOT NULL,
        refund_seq {int},
        original_seq {int},
        wallet_id TEXT,
        amount {int} NOT NULL,
        outcome TEXT NOT NULL,
        reason TEXT NOT NULL,
        record {blob} NOT NULL,
        received_at {int} NOT NULL,
        UNIQUE (terminal_id, terminal_seq)
      )`,
      `CREATE INDEX refunds_original ON refunds (terminal_id, original_seq)`,
      `CREATE INDEX refunds_refund ON refunds (terminal_id, refund_seq)`,
    ],
  },
  {
    version: 9,
    statements: [
      // The Citus-style layout (docs/SCALING.md): receipts live with their wallet (distributed by
      // wallet_id, beside wallets, findings and losses), and a terminal's sequence numbers with the
      // terminal. This table on the terminal's side carries exactly-once: its key is the terminal's
      // (terminal_id, terminal_seq), and a retried or re-batched upload is found here, under the
      // terminal's lock, without touching a wallet's shard. wallet_id is null for a receipt that failed
      // verification (no wallet id to trust).
      `CREATE TABLE terminal_receipts (
        terminal_id TEXT NOT NULL,
        terminal_seq {int} NOT NULL,
        wallet_id TEXT,
        receipt_id {int} NOT NULL,
        outcome TEXT NOT NULL,
        PRIMARY KEY (terminal_id, terminal_seq)
      )`,
      `INSERT INTO terminal_receipts (terminal_id, terminal_seq, wallet_id, receipt_id, outcome)
       SELECT terminal_id, terminal_seq, wallet_id, id, outcome FROM receipts`,
      // A table distributed by wallet_id cannot hold a unique key without it: on PostgreSQL the
      // receipts' own (terminal_id, terminal_seq) key becomes a plain index (the back office's per
      // terminal queries). SQLite, one file on one node, keeps it (dropping it there means rebuilding
      // the table) as a second guard.
      { postgres: `ALTER TABLE receipts DROP CONSTRAINT receipts_terminal_id_terminal_seq_key` },
      { postgres: `CREATE INDEX receipts_terminal ON receipts (terminal_id, terminal_seq)` },
    ],
  },
];

function dialect(sql: string, kind: Database['kind']): string {
  const words =
    kind === 'sqlite'
      ? { id: 'INTEGER PRIMARY KEY AUTOINCREMENT', int: 'INTEGER', blob: 'BLOB' }
      : { id: 'BIGSERIAL PRIMARY KEY', int: 'BIGINT', blob: 'BYTEA' };
  return sql.replace(/\{(id|int|blob)\}/g, (_, w: 'id' | 'int' | 'blob') => words[w]);
}

async function migrate(db: Database): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.lock(['schema']);
    await tx.run('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)');
    const row = await tx.get<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_version');
    const current = Number(row?.v ?? 0);
    const latest = MIGRATIONS[MIGRATIONS.length - 1]!.version;
    if (current > latest) throw new DatabaseError(`database schema ${current} is newer than this service (${latest})`);
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      for (const statement of m.statements) {
        const sql = typeof statement === 'string' ? statement : db.kind === 'postgres' ? (statement as { postgres?: string }).postgres : (statement as { sqlite?: string }).sqlite;
        if (sql !== undefined) await tx.run(dialect(sql, db.kind));
      }
      await tx.run('INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)', [m.version, Math.floor(Date.now() / 1000)]);
    }
  });
}

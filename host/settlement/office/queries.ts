// The back office's read-only questions to the settlement database. Each answer is bounded (explicit
// LIMITs), so a page never grows with the size of the database.
import type { Database, Param, Tx } from '../db';
import type { Finding } from '../settlement';

export const PAGE_ROWS = 100;
/** Most rows one CSV export holds; narrow the filters for more. */
export const MAX_EXPORT_ROWS = 100_000;

export interface TerminalView {
  terminalId: string;
  merchantId: string;
  status: string;
  maxTransaction: number;
  registeredAt: number;
  ackedSeq: number;
  receipts: number;
  credited: number;
  lastUpload: number | null;
  firmware: string | null;
  denyVersion: number | null;
  keyringVersion: number | null;
  configVersion: number | null;
  backlog: number | null;
  offlineAmount: number | null;
  offlineCount: number | null;
}

export interface ReceiptFilter {
  terminal?: string;
  wallet?: string;
  merchant?: string;
  outcome?: string;
  /** Unix seconds, received at or after / before. */
  from?: number;
  to?: number;
}

export interface ReceiptView {
  id: number;
  terminalId: string;
  terminalSeq: number;
  walletId: string | null;
  counter: number | null;
  amount: number;
  merchantId: string;
  outcome: string;
  reason: string;
  credited: boolean;
  receivedAt: number;
}

/** A finding as the service's JSON route gives it. */
export type FindingView = Finding;

export interface DenyView {
  version: number;
  walletId: string;
  reason: string;
  addedAt: number;
  walletStatus: string | null;
  funded: number | null;
  spent: number | null;
  findings: number;
}

export interface AccountView {
  account: string;
  balance: number;
  postings: number;
}

export interface PostingView {
  id: number;
  account: string;
  amount: number;
  receiptId: number | null;
  memo: string;
  createdAt: number;
}

export interface Totals {
  terminals: number;
  receipts: number;
  settledAmount: number;
  findings: number;
  denied: number;
  advance: number;
}

const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));

export class OfficeQueries {
  constructor(private readonly db: Database) {}

  totals(): Promise<Totals> {
    return this.db.read(async (tx) => {
      const one = async (sql: string) => Number((await tx.get<{ v: number | null }>(sql))?.v ?? 0);
      return {
        terminals: await one('SELECT COUNT(*) AS v FROM terminals'),
        receipts: await one('SELECT COUNT(*) AS v FROM receipts'),
        settledAmount: await one('SELECT SUM(amount) AS v FROM receipts WHERE credited = 1'),
        findings: await one(`SELECT COUNT(*) AS v FROM findings`),
        denied: await one('SELECT COUNT(*) AS v FROM deny_list'),
        advance: await one(`SELECT SUM(amount) AS v FROM ledger WHERE account = 'advance'`),
      };
    });
  }

  terminals(): Promise<TerminalView[]> {
    return this.db.read(async (tx) => {
      const rows = await tx.all<Record<string, unknown>>(
        `SELECT t.terminal_id, t.merchant_id, t.status, t.max_transaction, t.registered_at, t.acked_seq,
           (SELECT COUNT(*) FROM receipts r WHERE r.terminal_id = t.terminal_id) AS receipts,
           (SELECT SUM(amount) FROM receipts r WHERE r.terminal_id = t.terminal_id AND r.credited = 1) AS credited,
           p.reported_at, p.firmware, p.deny_version AS reported_deny, p.keyring_version, p.config_version,
           p.backlog, p.offline_amount, p.offline_count
         FROM terminals t LEFT JOIN terminal_reports p ON p.terminal_id = t.terminal_id
         ORDER BY t.terminal_id LIMIT 1000`,
      );
      return rows.map((r) => ({
        terminalId: String(r.terminal_id),
        merchantId: String(r.merchant_id),
        status: String(r.status),
        maxTransaction: Number(r.max_transaction),
        registeredAt: Number(r.registered_at),
        ackedSeq: Number(r.acked_seq),
        receipts: Number(r.receipts),
        credited: Number(r.credited ?? 0),
        lastUpload: n(r.reported_at),
        firmware: r.firmware === null || r.firmware === undefined ? null : String(r.firmware),
        denyVersion: n(r.reported_deny),
        keyringVersion: n(r.keyring_version),
        configVersion: n(r.config_version),
        backlog: n(r.backlog),
        offlineAmount: n(r.offline_amount),
        offlineCount: n(r.offline_count),
      }));
    });
  }

  /** Newest first; `before` pages on by receipt id. */
  receipts(filter: ReceiptFilter, limit = PAGE_ROWS, before?: number): Promise<ReceiptView[]> {
    return this.db.read(async (tx) => {
      const params: Param[] = [];
      const where = receiptWhere(filter, params);
      if (before !== undefined) {
        params.push(before);
        where.push(`id < $${params.length}`);
      }
      params.push(limit);
      const rows = await tx.all<Record<string, unknown>>(
        `SELECT ${RECEIPT_COLUMNS} FROM receipts ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT $${params.length}`,
        params,
      );
      return rows.map(receiptView);
    });
  }

  outcomes(): Promise<string[]> {
    return this.db.read(async (tx) => (await tx.all<{ outcome: string }>('SELECT DISTINCT outcome FROM receipts ORDER BY outcome LIMIT 50')).map((r) => r.outcome));
  }

  findings(kind?: string, limit = PAGE_ROWS): Promise<FindingView[]> {
    return this.db.read(async (tx) => {
      const rows = await tx.all<Record<string, unknown>>(
        kind ? 'SELECT * FROM findings WHERE kind = $1 ORDER BY id DESC LIMIT $2' : 'SELECT * FROM findings ORDER BY id DESC LIMIT $1',
        kind ? [kind, limit] : [limit],
      );
      return rows.map((r) => ({
        id: Number(r.id),
        kind: String(r.kind),
        walletId: String(r.wallet_id),
        receiptId: n(r.receipt_id),
        otherReceiptId: n(r.other_receipt_id),
        evidence: parseEvidence(String(r.evidence)),
        createdAt: Number(r.created_at),
      }));
    });
  }

  denyList(limit = 1000): Promise<DenyView[]> {
    return this.db.read(async (tx) => {
      const rows = await tx.all<Record<string, unknown>>(
        `SELECT d.version, d.wallet_id, d.reason, d.added_at, w.status, w.funded, w.spent,
           (SELECT COUNT(*) FROM findings f WHERE f.wallet_id = d.wallet_id) AS findings
         FROM deny_list d LEFT JOIN wallets w ON w.wallet_id = d.wallet_id ORDER BY d.version DESC LIMIT $1`,
        [limit],
      );
      return rows.map((r) => ({
        version: Number(r.version),
        walletId: String(r.wallet_id),
        reason: String(r.reason),
        addedAt: Number(r.added_at),
        walletStatus: r.status === null || r.status === undefined ? null : String(r.status),
        funded: n(r.funded),
        spent: n(r.spent),
        findings: Number(r.findings),
      }));
    });
  }

  accounts(): Promise<AccountView[]> {
    return this.db.read(async (tx) =>
      (
        await tx.all<{ account: string; balance: number; postings: number }>(
          'SELECT account, SUM(amount) AS balance, COUNT(*) AS postings FROM ledger GROUP BY account ORDER BY account LIMIT 5000',
        )
      ).map((r) => ({ account: r.account, balance: Number(r.balance), postings: Number(r.postings) })),
    );
  }

  postings(account?: string, limit = PAGE_ROWS): Promise<PostingView[]> {
    return this.db.read(async (tx) => {
      const rows = await tx.all<Record<string, unknown>>(
        account ? 'SELECT * FROM ledger WHERE account = $1 ORDER BY id DESC LIMIT $2' : 'SELECT * FROM ledger ORDER BY id DESC LIMIT $1',
        account ? [account, limit] : [limit],
      );
      return rows.map((r) => ({
        id: Number(r.id),
        account: String(r.account),
        amount: Number(r.amount),
        receiptId: n(r.receipt_id),
        memo: String(r.memo),
        createdAt: Number(r.created_at),
      }));
    });
  }

  /**
   * Receipts received per time bucket, credited and not: the series the overview plots. The bucket is
   * chosen so the span since the first receipt fits in at most `buckets` bars.
   */
  settledSeries(now: number, buckets = 48): Promise<{ bucketSeconds: number; start: number; points: { at: number; settled: number; findings: number; rejected: number; amount: number }[] }> {
    return this.db.read(async (tx) => {
      const first = Number((await tx.get<{ v: number | null }>('SELECT MIN(received_at) AS v FROM receipts'))?.v ?? now);
      const span = Math.max(1, now - first + 1);
      const bucketSeconds = [60, 300, 900, 3600, 6 * 3600, 86_400, 7 * 86_400].find((b) => span / b <= buckets) ?? 30 * 86_400;
      // always a full window of buckets ending now, so a young service still reads as a time line
      const start = (Math.floor(now / bucketSeconds) - buckets + 1) * bucketSeconds;
      const rows = await tx.all<{ b: number; outcome: string; credited: number; c: number; a: number }>(
        `SELECT (received_at - $1) / $2 AS b, outcome, credited, COUNT(*) AS c, SUM(amount) AS a FROM receipts
         WHERE received_at >= $1 GROUP BY b, outcome, credited`,
        [start, bucketSeconds],
      );
      const count = Math.floor((now - start) / bucketSeconds) + 1;
      const points = Array.from({ length: count }, (_, i) => ({ at: start + i * bucketSeconds, settled: 0, findings: 0, rejected: 0, amount: 0 }));
      for (const r of rows) {
        const p = points[Math.floor(Number(r.b))];
        if (!p) continue;
        const c = Number(r.c);
        if (r.outcome === 'settled') p.settled += c;
        else if (Number(r.credited) === 1) p.findings += c;
        else p.rejected += c;
        if (Number(r.credited) === 1) p.amount += Number(r.a);
      }
      return { bucketSeconds, start, points };
    });
  }

  /** Rows for a CSV export, oldest first, in chunks so a large export never sits in memory at once. */
  async *exportReceipts(filter: ReceiptFilter, chunk = 1000): AsyncGenerator<ReceiptView[]> {
    let after = 0;
    let total = 0;
    while (total < MAX_EXPORT_ROWS) {
      const rows = await this.db.read((tx) => exportChunk(tx, filter, after, Math.min(chunk, MAX_EXPORT_ROWS - total)));
      if (rows.length === 0) return;
      yield rows;
      total += rows.length;
      after = rows[rows.length - 1]!.id;
    }
  }
}

async function exportChunk(tx: Tx, filter: ReceiptFilter, after: number, limit: number): Promise<ReceiptView[]> {
  const params: Param[] = [];
  const where = receiptWhere(filter, params);
  params.push(after);
  where.push(`id > $${params.length}`);
  params.push(limit);
  const rows = await tx.all<Record<string, unknown>>(
    `SELECT ${RECEIPT_COLUMNS} FROM receipts WHERE ${where.join(' AND ')} ORDER BY id LIMIT $${params.length}`,
    params,
  );
  return rows.map(receiptView);
}

const RECEIPT_COLUMNS = 'id, terminal_id, terminal_seq, wallet_id, counter, amount, merchant_id, outcome, reason, credited, received_at';

function receiptView(r: Record<string, unknown>): ReceiptView {
  return {
    id: Number(r.id),
    terminalId: String(r.terminal_id),
    terminalSeq: Number(r.terminal_seq),
    walletId: r.wallet_id === null ? null : String(r.wallet_id),
    counter: n(r.counter),
    amount: Number(r.amount),
    merchantId: String(r.merchant_id),
    outcome: String(r.outcome),
    reason: String(r.reason),
    credited: Number(r.credited) === 1,
    receivedAt: Number(r.received_at),
  };
}

function receiptWhere(f: ReceiptFilter, params: Param[]): string[] {
  const where: string[] = [];
  const add = (sql: string, value: Param) => {
    params.push(value);
    where.push(sql.replace('?', `$${params.length}`));
  };
  if (f.terminal) add('terminal_id = ?', f.terminal);
  if (f.wallet) add('wallet_id = ?', f.wallet);
  if (f.merchant) add('merchant_id = ?', f.merchant);
  if (f.outcome) add('outcome = ?', f.outcome);
  if (f.from !== undefined) add('received_at >= ?', f.from);
  if (f.to !== undefined) add('received_at < ?', f.to);
  return where;
}

function parseEvidence(text: string): Record<string, unknown> {
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : { value: v };
  } catch {
    return { unreadable: text.slice(0, 200) };
  }
}

// The statements a batch reads with must probe the wallet indexes, whatever the planner knows: a plan
// that scans `receipts` makes every batch cost more as the table grows. PostgreSQL plans a prepared
// statement generically after five runs, and its statistics lag behind a table that is filling (no
// ANALYZE has run here, as in a service's first minute): both plans are checked. A plain join in the
// neighbours statement once let it hash-join the whole table, 79 ms a batch at 30,000 receipts.
import { expect } from 'chai';
import { openDatabase, type Database, type Param, type Tx } from '../host/settlement/db';
import { dailyTotalsSql, int, neighboursSql, place } from '../host/settlement/batch';
import { BACKENDS, type Backend } from './settlement-fixtures';

const WALLETS = 2000;
const PER_WALLET = 10;
const DAY = 86400;

/** 20,000 receipts of 2,000 wallets, counters 1..10, one terminal. */
async function fill(db: Database): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.run(`INSERT INTO terminals (terminal_id, public_key, merchant_id, max_transaction, registered_at) VALUES ('T1', $1, 'M1', 5000, 0)`, [new Uint8Array(33)]);
    const rows: string[] = [];
    let params: Param[] = [];
    let seq = 0;
    const flush = async () => {
      await tx.run(
        `INSERT INTO receipts (terminal_id, terminal_seq, wallet_id, counter, amount, merchant_id, issuer_key_id, outcome, reason, credited, receipt, received_at, balance_after, paid_at) VALUES ${rows.join(', ')}`,
        params,
      );
      rows.length = 0;
      params = [];
    };
    for (let w = 0; w < WALLETS; w++) {
      for (let c = 1; c <= PER_WALLET; c++) {
        rows.push(`('T1', ${place(params, ++seq, walletId(w), c)}, 100, 'M1', 7, 'settled', 'settled', 1, ${place(params, new Uint8Array(8), 1, 10_000 - c * 100, 20 * DAY + c)})`);
        if (rows.length === 500) await flush();
      }
    }
    if (rows.length) await flush();
  });
}

function walletId(n: number): string {
  return n.toString(16).padStart(16, '0');
}

/** The plan as text: SQLite's EXPLAIN QUERY PLAN, PostgreSQL's plan of the statement prepared, generic or custom. */
async function plan(tx: Tx, sql: string, params: Param[], mode: 'generic' | 'custom'): Promise<string> {
  if (tx.kind === 'sqlite') return (await tx.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`, params)).map((r) => r.detail).join('\n');
  await tx.run(`SET LOCAL plan_cache_mode = force_${mode}_plan`);
  await tx.run(`PREPARE plan_check AS ${sql}`);
  try {
    const literals = params.map((p) => (typeof p === 'number' ? String(p) : `'${String(p)}'`)).join(', ');
    return (await tx.all<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE plan_check (${literals})`)).map((r) => r['QUERY PLAN']).join('\n');
  } finally {
    await tx.run('DEALLOCATE plan_check');
  }
}

/** A batch's 64 wallets as the two statements' VALUES rows. */
function batchRows(): { ranges: string; rangeParams: Param[]; days: string; dayParams: Param[] } {
  const rangeParams: Param[] = [];
  const dayParams: Param[] = [];
  const ranges: string[] = [];
  const days: string[] = [];
  for (let i = 0; i < 64; i++) {
    const id = walletId((i * 31) % WALLETS);
    ranges.push(`(${place(rangeParams, id)}, ${int(rangeParams, 4)}, ${int(rangeParams, 6)})`);
    days.push(`(${place(dayParams, id)}, ${int(dayParams, 20 * DAY)}, ${int(dayParams, 21 * DAY - 1)}, ${int(dayParams, 20)})`);
  }
  return { ranges: ranges.join(', '), rangeParams, days: days.join(', '), dayParams };
}

/** A scan of the receipts table itself, in either planner's words. */
const TABLE_SCAN = /Seq Scan on receipts|^SCAN (r|x|receipts)\b/m;

describe('settlement: the batch statements probe indexes, not the receipts table', function () {
  this.timeout(120_000);
  for (const { name, start } of BACKENDS) {
    describe(name, () => {
      let backend: Backend;
      let db: Database;
      before(async () => {
        backend = await start();
        db = await openDatabase(await backend.fresh());
        await fill(db);
      });
      after(async () => {
        await db?.close();
        await backend?.stop();
      });

      for (const mode of name === 'postgres' ? (['generic', 'custom'] as const) : (['custom'] as const)) {
        it(`the neighbours of a batch's counters${name === 'postgres' ? ` (${mode} plan)` : ''}`, async () => {
          const { ranges, rangeParams } = batchRows();
          const sql = neighboursSql(name, ranges);
          const text = await db.transaction((tx) => plan(tx, sql, rangeParams, mode));
          expect(text).to.match(/receipts_wallet_counter/);
          expect(text).not.to.match(TABLE_SCAN);
          // and the statement answers: counters 4..6 and the neighbours 3 and 7 of each wallet
          const rows = await db.read((tx) => tx.all<{ counter: number }>(sql, rangeParams));
          expect(rows.length).to.equal(64 * 5);
          expect(new Set(rows.map((r) => Number(r.counter)))).to.deep.equal(new Set([3, 4, 5, 6, 7]));
        });

        it(`a batch's wallets' credited totals per day${name === 'postgres' ? ` (${mode} plan)` : ''}`, async () => {
          const { days, dayParams } = batchRows();
          const sql = dailyTotalsSql(days);
          const text = await db.transaction((tx) => plan(tx, sql, dayParams, mode));
          expect(text).to.match(/receipts_wallet_paid/);
          expect(text).not.to.match(TABLE_SCAN);
          const rows = await db.read((tx) => tx.all<{ total: number }>(sql, dayParams));
          expect(rows.map((r) => Number(r.total))).to.deep.equal(rows.map(() => 100 * PER_WALLET));
        });
      }
    });
  }
});

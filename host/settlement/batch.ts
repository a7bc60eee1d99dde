// Settling the receipts of one batch inside its transaction. What the decisions need (the wallets, their
// deny-list entries, their receipts around the batch's counters) is read up front in a few queries; the
// decisions then run in memory, receipt after receipt, seeing the ones before them; the rows are written
// at the end, many per statement. Round trips per batch, not per receipt: on PostgreSQL they are the cost.
import { toHex } from '../../firmware/base/bytes';
import type { ReceiptCheck } from '../../firmware/core/crypto/receipt';
import { decodeReceipt } from '../../firmware/core/protocol/receipt';
import { RESULT_ACCEPTED, RESULT_DUPLICATE, RESULT_REJECTED, type ReceiptResult } from '../../firmware/core/uplink/wire';
import type { Param, Tx } from './db';

/** How one receipt was settled (stored with the receipt). */
export type Outcome =
  | 'settled' // verified, credited, wallet debited
  | 'double-spend' // same wallet counter as another receipt from the same terminal
  | 'clone' // same wallet counter as another receipt from another terminal
  | 'overspend' // beyond the wallet's known balance, or its signed balance rising along the counter
  | 'lost' // a wallet reported lost, spent after the report
  | 'denied' // a wallet already on the deny list
  | 'over-cap' // above the caps in force: not credited
  | 'ignored-deny' // the terminal already held a deny list naming the wallet: not credited
  | 'replayed' // the very same payment again under another sequence number: not credited
  | 'invalid'; // failed verification: not credited

export interface Checked {
  seq: number;
  bytes: Uint8Array;
  check: ReceiptCheck;
}

export interface TerminalRow {
  terminal_id: string;
  public_key: Uint8Array;
  merchant_id: string;
  max_transaction: number;
  status: string;
  acked_seq: number;
  deny_version: number;
  deny_since_seq: number;
}

export interface ReceiptRow {
  id: number;
  terminal_id: string;
  terminal_seq: number;
  wallet_id: string | null;
  counter: number | null;
  amount: number;
  balance_after: number | null;
  outcome: Outcome;
  reason: string;
  credited: number;
  receipt: Uint8Array;
}

interface WalletRow {
  wallet_id: string;
  funded: number | null;
  spent: number;
  status: string;
  lost_at: number | null;
}

/** A receipt the decisions can see: stored, or recorded earlier in this batch (then `id` comes later). */
interface Known {
  id: number | undefined;
  terminalId: string;
  seq: number;
  counter: number;
  amount: number;
  /** Only credited receipts' signed balances serve as neighbours for the balance check. */
  balanceAfter: number | null;
  receipt: Uint8Array;
}

interface PendingReceipt {
  seq: number;
  walletId: string | null;
  counter: number | null;
  amount: number;
  issuerKeyId: number | null;
  balanceAfter: number | null;
  outcome: Outcome;
  reason: string;
  credited: boolean;
  bytes: Uint8Array;
}

interface Posting {
  account: string;
  amount: number;
  /** This batch's receipt, by sequence number (its id exists only once it is written). */
  seq: number;
  memo: string;
}

interface PendingFinding {
  kind: Outcome;
  walletId: string;
  seq: number;
  issuerKeyId: number;
  amount: number;
  other: Known | undefined;
  evidence: Record<string, unknown>;
}

const CHUNK = 100;

export class BatchSettler {
  readonly #tx: Tx;
  readonly #terminal: TerminalRow;
  readonly #now: number;
  #wallets = new Map<string, WalletRow>();
  #denied = new Map<string, number>();
  #known = new Map<string, Known[]>();
  #spent = new Map<string, number>();
  #receipts: PendingReceipt[] = [];
  #postings: Posting[] = [];
  #findings: PendingFinding[] = [];

  constructor(tx: Tx, terminal: TerminalRow, now: number) {
    this.#tx = tx;
    this.#terminal = terminal;
    this.#now = now;
  }

  /** Settles the batch's receipts in order; resolves with one result per receipt. */
  async settle(items: Checked[]): Promise<ReceiptResult[]> {
    const existing = await this.#existing(items);
    await this.#load(items.filter((i) => i.check.ok && !existing.has(i.seq)));
    const results: ReceiptResult[] = [];
    for (const item of items) results.push(await this.#decide(item, existing.get(item.seq)));
    await this.#write();
    return results;
  }

  async #existing(items: Checked[]): Promise<Map<number, ReceiptRow>> {
    const map = new Map<number, ReceiptRow>();
    if (!items.length) return map;
    const rows = await this.#tx.all<ReceiptRow>('SELECT * FROM receipts WHERE terminal_id = $1 AND terminal_seq BETWEEN $2 AND $3', [
      this.#terminal.terminal_id,
      items[0]!.seq,
      items[items.length - 1]!.seq,
    ]);
    for (const r of rows) map.set(Number(r.terminal_seq), r);
    return map;
  }

  async #load(items: Checked[]): Promise<void> {
    const counters = new Map<string, { min: number; max: number; issuerKeyId: number }>();
    for (const { check } of items) {
      if (!check.ok) continue;
      const id = check.certificate.walletId;
      const c = check.response.counter;
      const r = counters.get(id);
      if (r) counters.set(id, { min: Math.min(r.min, c), max: Math.max(r.max, c), issuerKeyId: r.issuerKeyId });
      else counters.set(id, { min: c, max: c, issuerKeyId: check.certificate.issuerKeyId });
    }
    const ids = [...counters.keys()];
    for (let i = 0; i < ids.length; i += CHUNK) {
      const chunk = ids.slice(i, i + CHUNK);
      const params: Param[] = [];
      const rows = chunk.map((id) => `(${place(params, id, counters.get(id)!.issuerKeyId, this.#now)})`);
      await this.#tx.run(`INSERT INTO wallets (wallet_id, issuer_key_id, updated_at) VALUES ${rows.join(', ')} ON CONFLICT (wallet_id) DO NOTHING`, params);
      const idParams: Param[] = [];
      const list = `(${place(idParams, ...chunk)})`;
      for (const w of await this.#tx.all<WalletRow>(`SELECT wallet_id, funded, spent, status, lost_at FROM wallets WHERE wallet_id IN ${list}`, idParams)) {
        this.#wallets.set(w.wallet_id, { ...w, spent: Number(w.spent) });
      }
      for (const d of await this.#tx.all<{ wallet_id: string; version: number }>(`SELECT wallet_id, version FROM deny_list WHERE wallet_id IN ${list}`, idParams)) {
        this.#denied.set(d.wallet_id, Number(d.version));
      }
    }
    for (const [id, { min, max }] of counters) {
      // The receipts under the batch's counters, and the nearest signed balances on either side.
      const rows = await this.#tx.all<ReceiptRow>(
        `SELECT * FROM (SELECT r.* FROM receipts r WHERE wallet_id = $1 AND counter BETWEEN $2 AND $3) AS s
         UNION ALL SELECT * FROM (SELECT r.* FROM receipts r WHERE wallet_id = $1 AND counter < $2 AND balance_after IS NOT NULL ORDER BY counter DESC LIMIT 1) AS b
         UNION ALL SELECT * FROM (SELECT r.* FROM receipts r WHERE wallet_id = $1 AND counter > $3 AND balance_after IS NOT NULL ORDER BY counter ASC LIMIT 1) AS a`,
        [id, min, max],
      );
      rows.sort((a, b) => Number(a.id) - Number(b.id));
      this.#known.set(
        id,
        rows.map((r) => ({
          id: Number(r.id),
          terminalId: r.terminal_id,
          seq: Number(r.terminal_seq),
          counter: Number(r.counter),
          amount: Number(r.amount),
          balanceAfter: r.balance_after === null ? null : Number(r.balance_after),
          receipt: r.receipt,
        })),
      );
    }
  }

  async #decide(item: Checked, existing: ReceiptRow | undefined): Promise<ReceiptResult> {
    const terminal = this.#terminal;
    const seq = item.seq;
    if (existing) {
      if (toHex(existing.receipt) === toHex(item.bytes)) return { seq, status: RESULT_DUPLICATE, reason: `already settled: ${existing.outcome}` };
      // The first receipt under this number stands; the terminal reused a sequence number.
      return { seq, status: RESULT_REJECTED, reason: `sequence ${seq} already holds a different receipt` };
    }
    const check = item.check;
    if (!check.ok) {
      const reason = `${check.reason.code}${check.reason.detail ? `: ${check.reason.detail}` : ''}`;
      this.#record(item, { walletId: null, counter: null, amount: 0, issuerKeyId: null, balanceAfter: null }, 'invalid', reason, false);
      return { seq, status: RESULT_REJECTED, reason: `invalid: ${reason}` };
    }
    const { certificate, request, response } = check;
    const walletId = certificate.walletId;
    const facts = { walletId, counter: response.counter, amount: request.amount, issuerKeyId: certificate.issuerKeyId, balanceAfter: response.balanceAfter };
    const refuse = (outcome: Outcome, reason: string, text = reason): ReceiptResult => {
      this.#record(item, facts, outcome, reason, false);
      return { seq, status: RESULT_REJECTED, reason: text };
    };
    if (request.terminalId !== terminal.terminal_id || request.merchantId !== terminal.merchant_id) {
      const reason = `receipt names terminal ${request.terminalId} of merchant ${request.merchantId}`;
      return refuse('invalid', reason, `invalid: ${reason}`);
    }
    if (request.amount > terminal.max_transaction || request.amount > certificate.singleLimit) {
      const cap = Math.min(terminal.max_transaction, certificate.singleLimit);
      return refuse('over-cap', `amount ${request.amount} above the cap in force (${cap})`);
    }
    const listed = this.#denied.get(walletId);
    if (listed !== undefined && terminal.deny_version > 0 && seq > terminal.deny_since_seq && listed <= terminal.deny_version) {
      return refuse('ignored-deny', `wallet ${walletId} was on the deny list (version ${listed}) the terminal held since #${terminal.deny_since_seq}`);
    }

    const wallet = this.#wallets.get(walletId)!;
    const known = this.#known.get(walletId)!;
    const same = known.filter((k) => k.counter === response.counter);
    const replay = same.find((k) => sameExchange(k.receipt, item.bytes));
    if (replay) {
      const reason = `the same payment as ${replay.terminalId}#${replay.seq}`;
      return refuse('replayed', reason, `replayed: ${reason}`);
    }
    const paymentTime = request.terminalTime || this.#now;
    const spent = wallet.spent + (this.#spent.get(walletId) ?? 0);
    let outcome: Outcome = 'settled';
    let reason = 'settled';
    let other: Known | undefined;
    if (same.length > 0) {
      other = same[0]!;
      outcome = other.terminalId === terminal.terminal_id ? 'double-spend' : 'clone';
      reason = `wallet ${walletId} counter ${response.counter} also spent at ${other.terminalId}#${other.seq}`;
    } else if (wallet.status === 'lost' && (wallet.lost_at === null || paymentTime >= Number(wallet.lost_at))) {
      outcome = 'lost';
      reason = `wallet ${walletId} was reported lost`;
    } else if (wallet.status === 'lost' && (await this.#afterALostSpend(walletId, response.counter))) {
      // The terminal's clock puts it before the report, but the wallet's own counter puts it after a
      // spend already booked as lost: the counter is signed by the wallet, the clock is the terminal's.
      outcome = 'lost';
      reason = `wallet ${walletId} was reported lost; counter ${response.counter} follows a spend after the report, whatever the terminal's clock says`;
    } else if (wallet.status === 'denied') {
      outcome = 'denied';
      reason = `wallet ${walletId} is on the deny list`;
    } else if (wallet.funded !== null && spent + request.amount > Number(wallet.funded)) {
      outcome = 'overspend';
      reason = `wallet ${walletId} spent ${spent + request.amount} of a known balance of ${wallet.funded}`;
    } else {
      const conflict = balanceConflict(known, walletId, response.counter, request.amount, response.balanceAfter);
      if (conflict) ({ reason, other } = conflict), (outcome = 'overspend');
    }

    this.#record(item, facts, outcome, reason, true);
    // Credited first: the merchant is paid from the advance account for every receipt within the caps.
    this.#post(`merchant:${terminal.merchant_id}`, request.amount, seq, 'credit for receipt');
    this.#post('advance', -request.amount, seq, 'advance to merchant');
    this.#spent.set(walletId, (this.#spent.get(walletId) ?? 0) + request.amount);
    if (outcome === 'settled') {
      // ...deducted when verified: the wallet's owner repays the advance.
      this.#post(`wallet:${walletId}`, -request.amount, seq, 'debit for receipt');
      this.#post('advance', request.amount, seq, 'recovered from wallet');
      return { seq, status: RESULT_ACCEPTED };
    }
    // A loss: the advance is closed against the issuer, and a claim on the wallet is recorded.
    this.#post(`loss:issuer:${certificate.issuerKeyId}`, -request.amount, seq, `${outcome} loss`);
    this.#post('advance', request.amount, seq, `${outcome} loss booked`);
    const evidence: Record<string, unknown> = {
      reason,
      walletId,
      counter: response.counter,
      amount: request.amount,
      receipt: { terminalId: terminal.terminal_id, seq, bytes: toHex(item.bytes) },
    };
    if (other) evidence.other = { terminalId: other.terminalId, seq: other.seq, bytes: toHex(other.receipt) };
    this.#findings.push({ kind: outcome, walletId, seq, issuerKeyId: certificate.issuerKeyId, amount: request.amount, other, evidence });
    const version = await denyWallet(this.#tx, walletId, outcome, this.#now);
    this.#denied.set(walletId, version);
    if (wallet.status !== 'lost') wallet.status = 'denied';
    return { seq, status: RESULT_ACCEPTED, reason: `${outcome}: credited, loss booked, wallet denied` };
  }

  /** A receipt of this wallet with a lower counter is already booked as a spend after the loss report. */
  async #afterALostSpend(walletId: string, counter: number): Promise<boolean> {
    if (this.#receipts.some((r) => r.walletId === walletId && r.outcome === 'lost' && r.counter !== null && r.counter < counter)) return true;
    const row = await this.#tx.get<{ c: number | null }>(`SELECT MIN(counter) AS c FROM receipts WHERE wallet_id = $1 AND outcome = 'lost'`, [walletId]);
    return row?.c !== null && row?.c !== undefined && Number(row.c) < counter;
  }

  #record(
    item: Checked,
    facts: { walletId: string | null; counter: number | null; amount: number; issuerKeyId: number | null; balanceAfter: number | null },
    outcome: Outcome,
    reason: string,
    credited: boolean,
  ): void {
    const balanceAfter = credited ? facts.balanceAfter : null;
    this.#receipts.push({ seq: item.seq, ...facts, balanceAfter, outcome, reason: reason.slice(0, 500), credited, bytes: item.bytes });
    if (facts.walletId !== null && facts.counter !== null) {
      this.#known.get(facts.walletId)?.push({
        id: undefined,
        terminalId: this.#terminal.terminal_id,
        seq: item.seq,
        counter: facts.counter,
        amount: facts.amount,
        balanceAfter,
        receipt: item.bytes,
      });
    }
  }

  #post(account: string, amount: number, seq: number, memo: string): void {
    this.#postings.push({ account, amount, seq, memo });
  }

  async #write(): Promise<void> {
    const tx = this.#tx;
    const now = this.#now;
    const t = this.#terminal;
    const ids = new Map<number, number>();
    for (let i = 0; i < this.#receipts.length; i += CHUNK) {
      const params: Param[] = [];
      const rows = this.#receipts.slice(i, i + CHUNK).map(
        (r) =>
          `(${place(params, t.terminal_id, r.seq, r.walletId, r.counter, r.amount, t.merchant_id, r.issuerKeyId, r.outcome, r.reason, r.credited ? 1 : 0, r.bytes, now, r.balanceAfter)})`,
      );
      const inserted = await tx.all<{ id: number; terminal_seq: number }>(
        `INSERT INTO receipts (terminal_id, terminal_seq, wallet_id, counter, amount, merchant_id, issuer_key_id, outcome, reason, credited, receipt, received_at, balance_after)
         VALUES ${rows.join(', ')} RETURNING id, terminal_seq`,
        params,
      );
      for (const r of inserted) ids.set(Number(r.terminal_seq), Number(r.id));
    }
    const idOf = (seq: number) => ids.get(seq)!;
    for (let i = 0; i < this.#postings.length; i += CHUNK * 2) {
      const params: Param[] = [];
      const rows = this.#postings.slice(i, i + CHUNK * 2).map((p) => `(${place(params, p.account, p.amount, idOf(p.seq), p.memo, now)})`);
      await tx.run(`INSERT INTO ledger (account, amount, receipt_id, memo, created_at) VALUES ${rows.join(', ')}`, params);
    }
    for (const f of this.#findings) {
      const id = idOf(f.seq);
      const otherId = f.other ? (f.other.id ?? (f.other.terminalId === t.terminal_id ? idOf(f.other.seq) : null)) : null;
      await tx.run('INSERT INTO losses (receipt_id, wallet_id, issuer_key_id, amount, kind, created_at) VALUES ($1, $2, $3, $4, $5, $6)', [
        id,
        f.walletId,
        f.issuerKeyId,
        f.amount,
        f.kind,
        now,
      ]);
      await tx.run('INSERT INTO findings (kind, wallet_id, receipt_id, other_receipt_id, evidence, created_at) VALUES ($1, $2, $3, $4, $5, $6)', [
        f.kind,
        f.walletId,
        id,
        otherId,
        JSON.stringify(f.evidence),
        now,
      ]);
    }
    for (const [walletId, spent] of this.#spent) {
      await tx.run('UPDATE wallets SET spent = spent + $1, updated_at = $2 WHERE wallet_id = $3', [spent, now, walletId]);
    }
  }
}

/** Puts a wallet on the deny list (once); the next version number is one more than the last. */
export async function denyWallet(tx: Tx, walletId: string, reason: string, now: number): Promise<number> {
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

/** Appends values to `params`; returns their placeholders ("$4, $5, $6"). */
function place(params: Param[], ...values: Param[]): string {
  return values.map((v) => (params.push(v), `$${params.length}`)).join(', ');
}

/**
 * The wallet signs its balance after each payment and there are no top-ups: along its counter the
 * balance only goes down, by at least each payment. A receipt that breaks this against its nearest
 * neighbours is a tampered or cloned element spending value it does not have.
 */
function balanceConflict(known: Known[], walletId: string, counter: number, amount: number, balanceAfter: number): { reason: string; other: Known } | undefined {
  let before: Known | undefined;
  let after: Known | undefined;
  for (const k of known) {
    if (k.balanceAfter === null) continue;
    if (k.counter < counter && (!before || k.counter > before.counter)) before = k;
    if (k.counter > counter && (!after || k.counter < after.counter)) after = k;
  }
  if (before && balanceAfter + amount > before.balanceAfter!) {
    return { reason: `wallet ${walletId} counter ${counter} spent ${amount} leaving ${balanceAfter}, but counter ${before.counter} had left ${before.balanceAfter}`, other: before };
  }
  if (after && after.balanceAfter! + after.amount > balanceAfter) {
    return { reason: `wallet ${walletId} counter ${counter} left ${balanceAfter}, but counter ${after.counter} later spent ${after.amount} leaving ${after.balanceAfter}`, other: after };
  }
  return undefined;
}

/** Two receipts record the same exchange when the wallet's signed request and response are the same. */
function sameExchange(a: Uint8Array, b: Uint8Array): boolean {
  try {
    const x = decodeReceipt(a);
    const y = decodeReceipt(b);
    return toHex(x.request) === toHex(y.request) && toHex(x.response) === toHex(y.response);
  } catch {
    return false;
  }
}

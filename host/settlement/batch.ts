// Settling the receipts of one batch inside its transaction. What the decisions need (the wallets, their
// deny-list entries, their receipts around the batch's counters) is read up front in a few queries; the
// decisions then run in memory, receipt after receipt, seeing the ones before them; the rows are written
// at the end, many per statement. Round trips per batch, not per receipt: on PostgreSQL they are the cost.
import { toHex } from '../../firmware/base/bytes';
import { present } from '../../firmware/base/assert';
import type { ReceiptCheck } from '../../firmware/core/crypto/receipt';
import { decodeReceipt, type ReceiptContent } from '../../firmware/core/protocol/receipt';
import { RESULT_ACCEPTED, RESULT_DUPLICATE, RESULT_REJECTED, type ReceiptResult } from '../../firmware/core/uplink/wire';
import type { Param, Tx } from './db';
import { programAccount, purposeViolation } from './purposes';
import { operatorRuleBook, type RuleBook } from './fares';

/** How one receipt was settled (stored with the receipt). */
export type Outcome =
  | 'settled' // verified, credited, wallet debited
  | 'double-spend' // same wallet counter as another receipt from the same terminal
  | 'clone' // same wallet counter as another receipt from another terminal
  | 'overspend' // beyond the wallet's known balance or its daily limit across terminals, or its signed balance rising along the counter
  | 'counter-reuse' // a higher counter paid well before a lower one: two elements share the wallet's key
  | 'lost' // a wallet reported lost, spent after the report
  | 'denied' // a wallet already on the deny list
  | 'over-cap' // above the caps in force: not credited
  | 'ignored-deny' // the terminal already held a deny list naming the wallet: not credited
  | 'replayed' // the very same payment again under another sequence number: not credited
  | 'purpose-violation' // a bound balance spent where or when its grant does not allow: not credited
  | 'invalid'; // failed verification: not credited

/** What a finding flags: a receipt's outcome, or a fact about a credited one. */
export type FindingKind = Outcome | 'counter-gap' | 'fare-mismatch'; // fare-mismatch: a transit tap charged otherwise than its operator's rules

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
  deny_since_at: number;
  deny_offered_version: number;
  deny_offered_seq: number;
  deny_offered_at: number;
  /** Where the terminal is (purpose-bound funds); null: not registered with one. */
  merchant_category: number | null;
  region: number | null;
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

/** A receipt already stored under one of the batch's sequence numbers. */
interface Existing {
  outcome: Outcome;
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
  /** When it was paid, for credited receipts whose terminal knew the time. */
  paidAt: number | null;
  receipt: Uint8Array;
}

interface PendingReceipt {
  seq: number;
  walletId: string | null;
  counter: number | null;
  amount: number;
  issuerKeyId: number | null;
  balanceAfter: number | null;
  paidAt: number | null;
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
  kind: FindingKind;
  walletId: string;
  seq: number;
  issuerKeyId: number;
  amount: number;
  other: Known | undefined;
  evidence: Record<string, unknown>;
}

/**
 * Receipts the service made itself from a wallet's log (host/settlement/intents.ts) are stored under this
 * plus the intent's terminal sequence: batch sequences are 32-bit, so that range is theirs alone.
 */
export const RECOVERED_SEQ_BASE = 2 ** 32;

const CHUNK = 100;
/** A wallet's counter rises with every payment: a higher counter paid this much earlier is a second element. */
const COUNTER_CLOCK_SLACK = 15 * 60;
const DAY = 86400;

export interface SettlerOptions {
  /** The daily limit of each wallet class (the terminals' class table); a certificate's own may be lower. */
  dailyLimits: Record<number, number>;
}

export class BatchSettler {
  readonly #tx: Tx;
  readonly #terminal: TerminalRow;
  readonly #now: number;
  readonly #options: SettlerOptions;
  #wallets = new Map<string, WalletRow>();
  /** The batch's wallets (checked receipts only) and the issuer key each first came with. */
  #issuerKeys = new Map<string, number>();
  #denied = new Map<string, number>();
  #known = new Map<string, Known[]>();
  #spent = new Map<string, number>();
  /** Credited amounts per wallet and day ("wallet:day"), stored and in this batch. */
  #daily = new Map<string, number>();
  #receipts: PendingReceipt[] = [];
  #postings: Posting[] = [];
  #findings: PendingFinding[] = [];
  /** The operator's fare rules, every version held, for a batch with transit taps (host/settlement/fares.ts). */
  #fareRules: RuleBook | undefined;

  constructor(tx: Tx, terminal: TerminalRow, now: number, options: SettlerOptions) {
    this.#tx = tx;
    this.#terminal = terminal;
    this.#now = now;
    this.#options = options;
  }

  /** Settles the batch's receipts in order; resolves with one result per receipt. */
  async settle(items: Checked[]): Promise<ReceiptResult[]> {
    const existing = await this.#existing(items);
    await this.#load(items.filter((i) => i.check.ok && !existing.has(i.seq)));
    if (items.some((i) => i.check.ok && i.check.request.transit)) this.#fareRules = await operatorRuleBook(this.#tx, this.#terminal.merchant_id);
    const results: ReceiptResult[] = [];
    for (const item of items) results.push(await this.#decide(item, existing.get(item.seq)));
    await this.#write();
    return results;
  }

  /** What this terminal already uploaded under the batch's sequence numbers (the terminal's side only). */
  async #existing(items: Checked[]): Promise<Map<number, Existing>> {
    const map = new Map<number, Existing>();
    if (!items.length) return map;
    const rows = await this.#tx.all<{ terminal_seq: number; receipt_id: number; outcome: Outcome }>(
      'SELECT terminal_seq, receipt_id, outcome FROM terminal_receipts WHERE terminal_id = $1 AND terminal_seq BETWEEN $2 AND $3',
      [this.#terminal.terminal_id, items[0]!.seq, items[items.length - 1]!.seq],
    );
    if (!rows.length) return map;
    // A retry: the stored bytes, to tell the same receipt from a reused sequence number.
    const params: Param[] = [];
    const list = place(params, ...rows.map((r) => Number(r.receipt_id)));
    const bytes = new Map<number, Uint8Array>();
    for (const r of await this.#tx.all<{ id: number; receipt: Uint8Array }>(`SELECT id, receipt FROM receipts WHERE id IN (${list})`, params)) bytes.set(Number(r.id), r.receipt);
    for (const r of rows) map.set(Number(r.terminal_seq), { outcome: r.outcome, receipt: present(bytes.get(Number(r.receipt_id)), 'the receipt a terminal sequence names') });
    return map;
  }

  async #load(items: Checked[]): Promise<void> {
    const counters = new Map<string, { min: number; max: number; issuerKeyId: number }>();
    const days = new Set<string>();
    for (const { check } of items) {
      if (!check.ok) continue;
      const id = check.certificate.walletId;
      const c = check.response.counter;
      days.add(`${id}:${dayOf(check.request.terminalTime || this.#now)}`);
      const r = counters.get(id);
      if (r) counters.set(id, { min: Math.min(r.min, c), max: Math.max(r.max, c), issuerKeyId: r.issuerKeyId });
      else counters.set(id, { min: c, max: c, issuerKeyId: check.certificate.issuerKeyId });
    }
    const ids = [...counters.keys()].sort();
    const stored = new Set<string>();
    for (const id of ids) this.#issuerKeys.set(id, counters.get(id)!.issuerKeyId);
    // Everything below decides about these wallets: no other batch may settle one of them meanwhile.
    await this.#tx.lock(ids.map((id) => `wallet:${id}`));
    for (let i = 0; i < ids.length; i += CHUNK) {
      const chunk = ids.slice(i, i + CHUNK);
      const idParams: Param[] = [];
      const list = `(${place(idParams, ...chunk)})`;
      // A wallet seen for the first time has no row yet: #write inserts it with what it spent here.
      for (const id of chunk) this.#wallets.set(id, { wallet_id: id, funded: null, spent: 0, status: 'active', lost_at: null });
      for (const w of await this.#tx.all<WalletRow>(`SELECT wallet_id, funded, spent, status, lost_at FROM wallets WHERE wallet_id IN ${list}`, idParams)) {
        this.#wallets.set(w.wallet_id, { ...w, spent: Number(w.spent) });
        stored.add(w.wallet_id);
      }
      for (const d of await this.#tx.all<{ wallet_id: string; version: number }>(`SELECT wallet_id, version FROM deny_list WHERE wallet_id IN ${list}`, idParams)) {
        this.#denied.set(d.wallet_id, Number(d.version));
      }
      for (const id of chunk) this.#known.set(id, []);
      // The receipts under the batch's counters and the nearest credited ones on either side, for all
      // the chunk's wallets in one statement. A wallet without a row has none (every receipt's wallet
      // gets its row in the same transaction), so only stored wallets are looked up.
      const seen = chunk.filter((id) => stored.has(id));
      if (seen.length === 0) continue;
      const rangeParams: Param[] = [];
      const ranges = seen.map((id) => `(${place(rangeParams, id)}, ${int(rangeParams, counters.get(id)!.min)}, ${int(rangeParams, counters.get(id)!.max)})`).join(', ');
      const rows2 = await this.#tx.all<ReceiptRow & { paid_at: number | null }>(neighboursSql(this.#tx.kind, ranges), rangeParams);
      rows2.sort((a, b) => Number(a.id) - Number(b.id));
      for (const r of rows2) {
        this.#known.get(r.wallet_id!)!.push({
          id: Number(r.id),
          terminalId: r.terminal_id,
          seq: Number(r.terminal_seq),
          counter: Number(r.counter),
          amount: Number(r.amount),
          balanceAfter: r.balance_after === null ? null : Number(r.balance_after),
          paidAt: r.paid_at === null ? null : Number(r.paid_at),
          receipt: r.receipt,
        });
      }
    }
    // What each wallet was credited on the days its receipts here were paid, at every terminal.
    const dayList = [...days].filter((key) => stored.has(key.slice(0, key.indexOf(':')))).sort();
    for (let i = 0; i < dayList.length; i += CHUNK) {
      const params: Param[] = [];
      const rows = dayList.slice(i, i + CHUNK).map((key) => {
        const [id, day] = key.split(':') as [string, string];
        return `(${place(params, id)}, ${int(params, Number(day) * DAY)}, ${int(params, Number(day) * DAY + DAY - 1)}, ${int(params, Number(day))})`;
      });
      const sums = await this.#tx.all<{ wallet_id: string; day: number; total: number }>(dailyTotalsSql(rows.join(', ')), params);
      for (const s of sums) if (s.total !== null) this.#daily.set(`${s.wallet_id}:${Number(s.day)}`, Number(s.total));
    }
  }

  /** Did the terminal hold a deny list naming the wallet when it approved this payment? */
  #terminalKnew(walletId: string, seq: number, paidAt: number | null): { version: number } | undefined {
    const t = this.#terminal;
    const listed = this.#denied.get(walletId);
    if (listed === undefined || t.deny_version === 0 || listed > t.deny_version) return undefined;
    // Only a payment made after the response carrying the entry reached it: a later sequence number
    // than it had uploaded then, and (when the terminal knew the time) paid no earlier than it was sent.
    if (seq <= t.deny_since_seq) return undefined;
    if (paidAt !== null && paidAt < t.deny_since_at) return undefined;
    return { version: listed };
  }

  async #decide(item: Checked, existing: Existing | undefined): Promise<ReceiptResult> {
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
      this.#record(item, { walletId: null, counter: null, amount: 0, issuerKeyId: null, balanceAfter: null, paidAt: null }, 'invalid', reason, false);
      return { seq, status: RESULT_REJECTED, reason: `invalid: ${reason}` };
    }
    const { certificate, request, response, grant } = check;
    const walletId = certificate.walletId;
    const paymentTime = request.terminalTime || this.#now;
    // A tap-off refunds part of its tap-on's fare: the wallet's balance rises, the operator pays it back.
    const net = request.amount - (request.transit?.refund ?? 0);
    const facts = {
      walletId,
      counter: response.counter,
      amount: net,
      issuerKeyId: certificate.issuerKeyId,
      // A bound payment signs its purse's balance, not the free money's: no neighbour for the balance check.
      balanceAfter: grant ? null : response.balanceAfter,
      paidAt: paymentTime,
    };
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
    const violation = grant && purposeViolation(grant, request, terminal);
    if (violation) {
      this.#finding('purpose-violation', walletId, seq, certificate.issuerKeyId, 0, undefined, violation, item, response.counter, { program: grant.program, purse: grant.purse });
      return refuse('purpose-violation', violation, `purpose-violation: ${violation}`);
    }

    const wallet = this.#wallets.get(walletId)!;
    const known = this.#known.get(walletId)!;
    const same = known.filter((k) => k.counter === response.counter);
    const replay = same.find((k) => sameExchange(k.receipt, item.bytes));
    if (replay) {
      // The terminal's own recovery of an in-doubt payment the service already settled from the wallet's log.
      if (replay.terminalId === terminal.terminal_id && replay.seq === RECOVERED_SEQ_BASE + request.terminalSeq) {
        return { seq, status: RESULT_DUPLICATE, reason: "already settled from the wallet's log" };
      }
      const reason = `the same payment as ${replay.terminalId}#${replay.seq}`;
      return refuse('replayed', reason, `replayed: ${reason}`);
    }
    // The terminal's fault only if it approved after the deny list naming the wallet had reached it.
    const knew = this.#terminalKnew(walletId, seq, request.terminalTime || null);
    const knewText = knew && `wallet ${walletId} was on the deny list (version ${knew.version}) the terminal held since #${terminal.deny_since_seq}`;
    const spent = wallet.spent + (this.#spent.get(walletId) ?? 0);
    const dayKey = `${walletId}:${dayOf(paymentTime)}`;
    const dayTotal = (this.#daily.get(dayKey) ?? 0) + net;
    const dailyLimit = Math.min(certificate.dailyLimit, this.#options.dailyLimits[certificate.walletClass] ?? certificate.dailyLimit);
    let outcome: Outcome = 'settled';
    let reason = 'settled';
    let other: Known | undefined;
    // A counter collision is checked first: a clone is classed a clone whatever else holds.
    if (same.length > 0) {
      other = same[0]!;
      outcome = other.terminalId === terminal.terminal_id ? 'double-spend' : 'clone';
      reason = `wallet ${walletId} counter ${response.counter} also spent at ${other.terminalId}#${other.seq}`;
    } else if (knew) {
      return refuse('ignored-deny', knewText!);
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
    } else if (wallet.funded !== null && spent + net > Number(wallet.funded)) {
      outcome = 'overspend';
      reason = `wallet ${walletId} spent ${spent + net} of a known balance of ${wallet.funded}`;
    } else if (dayTotal > dailyLimit) {
      outcome = 'overspend';
      reason = `wallet ${walletId} spent ${dayTotal} on day ${dayOf(paymentTime)} across terminals, over its daily limit of ${dailyLimit}`;
    } else if (!grant) {
      const conflict = balanceConflict(known, walletId, response.counter, net, response.balanceAfter) ??
        (request.terminalTime ? counterClockConflict(known, walletId, response.counter, request.terminalTime) : undefined);
      if (conflict) ({ reason, other } = conflict), (outcome = conflict.outcome);
    }
    const credited = !knew;
    this.#record(item, facts, outcome, reason, credited);
    if (!credited) {
      // A clone the terminal should have refused: the finding stands, the merchant is not paid.
      this.#finding(outcome, walletId, seq, certificate.issuerKeyId, 0, other, `${reason}; ${knewText}`, item, response.counter);
      return { seq, status: RESULT_REJECTED, reason: `${outcome}: ${knewText}` };
    }
    this.#daily.set(dayKey, dayTotal);
    // Credited first: the merchant is paid from the advance account for every receipt within the caps.
    this.#post(`merchant:${terminal.merchant_id}`, net, seq, net < 0 ? 'tap-off refund' : 'credit for receipt');
    this.#post('advance', -net, seq, 'advance to merchant');
    if (!grant) this.#spent.set(walletId, (this.#spent.get(walletId) ?? 0) + net);
    this.#fareCheck(item, check, walletId, response.counter);
    if (outcome === 'settled' && grant) {
      // ...and a bound payment is paid by its program.
      this.#post(programAccount(grant), -request.amount, seq, `bound payment, purse ${grant.purse}`);
      this.#post('advance', request.amount, seq, `recovered from ${programAccount(grant)}`);
      this.#gap(known, walletId, response.counter, seq);
      return { seq, status: RESULT_ACCEPTED };
    }
    if (outcome === 'settled') {
      // ...deducted when verified: the wallet's owner repays the advance.
      this.#post(`wallet:${walletId}`, -net, seq, 'debit for receipt');
      this.#post('advance', net, seq, 'recovered from wallet');
      this.#gap(known, walletId, response.counter, seq);
      return { seq, status: RESULT_ACCEPTED };
    }
    // A loss: the advance is closed against the issuer, and a claim on the wallet is recorded.
    this.#post(`loss:issuer:${certificate.issuerKeyId}`, -net, seq, `${outcome} loss`);
    this.#post('advance', net, seq, `${outcome} loss booked`);
    this.#finding(outcome, walletId, seq, certificate.issuerKeyId, Math.max(0, net), other, reason, item, response.counter);
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

  /** A credited transit tap priced again from its operator's rules: a finding where the validator charged otherwise. */
  #fareCheck(item: Checked, content: ReceiptContent, walletId: string, counter: number): void {
    if (!this.#fareRules || !content.request.transit) return;
    const found = this.#fareRules.priceAgain(decodeReceipt(item.bytes), content)?.finding;
    if (!found) return;
    const { charged, refunded, expectedCharge, expectedRefund } = found;
    this.#finding('fare-mismatch', walletId, item.seq, content.certificate.issuerKeyId, 0, undefined, found.reason, item, counter, { charged, refunded, expectedCharge, expectedRefund });
  }

  #finding(kind: FindingKind, walletId: string, seq: number, issuerKeyId: number, loss: number, other: Known | undefined, reason: string, item: Checked, counter: number, extra: Record<string, unknown> = {}): void {
    const evidence: Record<string, unknown> = {
      reason,
      walletId,
      counter,
      amount: item.check.ok ? item.check.request.amount : 0,
      receipt: { terminalId: this.#terminal.terminal_id, seq, bytes: toHex(item.bytes) },
      ...extra,
    };
    if (other) evidence.other = { terminalId: other.terminalId, seq: other.seq, bytes: toHex(other.receipt) };
    this.#findings.push({ kind, walletId, seq, issuerKeyId, amount: loss, other, evidence });
  }

  /**
   * A settled receipt whose counter skips past the nearest one below: the wallet signed payments no
   * terminal has uploaded yet (still offline, lost with a terminal, or a torn exchange). Flagged for
   * the operator to follow; it denies nothing, since a later upload may fill it.
   */
  #gap(known: Known[], walletId: string, counter: number, seq: number): void {
    let below: Known | undefined;
    for (const k of known) if (k.counter < counter && (!below || k.counter > below.counter)) below = k;
    if (!below || below.counter >= counter - 1) return;
    const item = this.#receipts[this.#receipts.length - 1]!;
    this.#findings.push({
      kind: 'counter-gap',
      walletId,
      seq,
      issuerKeyId: item.issuerKeyId ?? 0,
      amount: 0,
      other: below,
      evidence: {
        reason: `wallet ${walletId} counters ${below.counter + 1}..${counter - 1} not uploaded by any terminal yet`,
        walletId,
        counter,
        missing: { from: below.counter + 1, to: counter - 1 },
        receipt: { terminalId: this.#terminal.terminal_id, seq, bytes: toHex(item.bytes) },
        other: { terminalId: below.terminalId, seq: below.seq, bytes: toHex(below.receipt) },
      },
    });
  }

  #record(
    item: Checked,
    facts: { walletId: string | null; counter: number | null; amount: number; issuerKeyId: number | null; balanceAfter: number | null; paidAt: number | null },
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
        paidAt: credited ? facts.paidAt : null,
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
          `(${place(params, t.terminal_id, r.seq, r.walletId, r.counter, r.amount, t.merchant_id, r.issuerKeyId, r.outcome, r.reason, r.credited ? 1 : 0, r.bytes, now, r.balanceAfter, r.paidAt)})`,
      );
      const inserted = await tx.all<{ id: number; terminal_seq: number }>(
        `INSERT INTO receipts (terminal_id, terminal_seq, wallet_id, counter, amount, merchant_id, issuer_key_id, outcome, reason, credited, receipt, received_at, balance_after, paid_at)
         VALUES ${rows.join(', ')} RETURNING id, terminal_seq`,
        params,
      );
      for (const r of inserted) ids.set(Number(r.terminal_seq), Number(r.id));
      const keyParams: Param[] = [];
      const keys = this.#receipts.slice(i, i + CHUNK).map((r) => `(${place(keyParams, t.terminal_id, r.seq, r.walletId, present(ids.get(r.seq), 'receipt id'), r.outcome)})`);
      await tx.run(`INSERT INTO terminal_receipts (terminal_id, terminal_seq, wallet_id, receipt_id, outcome) VALUES ${keys.join(', ')}`, keyParams);
    }
    const idOf = (seq: number) => ids.get(seq)!;
    for (let i = 0; i < this.#postings.length; i += CHUNK * 2) {
      const params: Param[] = [];
      const rows = this.#postings.slice(i, i + CHUNK * 2).map((p) => `(${place(params, p.account, p.amount, idOf(p.seq), p.memo, now)})`);
      await tx.run(`INSERT INTO ledger (account, amount, receipt_id, memo, created_at) VALUES ${rows.join(', ')}`, params);
    }
    for (let i = 0; i < this.#findings.length; i += CHUNK) {
      const chunk = this.#findings.slice(i, i + CHUNK);
      const params: Param[] = [];
      const rows = chunk.map((f) => {
        const otherId = f.other ? (f.other.id ?? (f.other.terminalId === t.terminal_id ? idOf(f.other.seq) : null)) : null;
        return `(${place(params, f.kind, f.walletId, idOf(f.seq), otherId, JSON.stringify(f.evidence), now)})`;
      });
      await tx.run(`INSERT INTO findings (kind, wallet_id, receipt_id, other_receipt_id, evidence, created_at) VALUES ${rows.join(', ')}`, params);
      const lossParams: Param[] = [];
      const losses = chunk.filter((f) => f.amount > 0).map((f) => `(${place(lossParams, idOf(f.seq), f.walletId, f.issuerKeyId, f.amount, f.kind, now)})`);
      if (losses.length) await tx.run(`INSERT INTO losses (receipt_id, wallet_id, issuer_key_id, amount, kind, created_at) VALUES ${losses.join(', ')}`, lossParams);
    }
    // Every wallet of the batch, in one statement: created if new, its spending added (sorted: PostgreSQL
    // takes the rows' locks in this order).
    const wallets = [...this.#issuerKeys].sort(([a], [b]) => (a < b ? -1 : 1));
    for (let i = 0; i < wallets.length; i += CHUNK) {
      const params: Param[] = [];
      const rows = wallets.slice(i, i + CHUNK).map(([walletId, issuerKeyId]) => `(${place(params, walletId, issuerKeyId, this.#spent.get(walletId) ?? 0, now)})`);
      await tx.run(
        `INSERT INTO wallets (wallet_id, issuer_key_id, spent, updated_at) VALUES ${rows.join(', ')}
         ON CONFLICT (wallet_id) DO UPDATE SET spent = wallets.spent + excluded.spent, updated_at = excluded.updated_at`,
        params,
      );
    }
  }
}

/** Puts a wallet on the deny list (once); the next version number is one more than the last. */
export async function denyWallet(tx: Tx, walletId: string, reason: string, now: number): Promise<number> {
  // The one global sequence: versions are handed out in commit order, so a terminal never skips one.
  await tx.lock(['deny-list']);
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

/**
 * The receipts of each wallet of `ranges` (VALUES rows of wallet, lowest and highest counter) under
 * those counters, and its nearest credited ones on either side. Written so that each planner walks
 * the batch's wallets and probes the (wallet_id, counter) index for each, never scanning the table:
 * the cost of a batch stays flat as receipts accumulate. SQLite keeps a CROSS JOIN's order as written;
 * PostgreSQL is told by LATERAL (a plain join let it choose a hash join over the whole table, 79 ms a
 * batch at 30,000 receipts while its statistics were not yet gathered).
 */
export function neighboursSql(kind: Tx['kind'], ranges: string): string {
  if (kind === 'postgres') {
    return `SELECT r.* FROM (VALUES ${ranges}) AS v CROSS JOIN LATERAL (
        (SELECT * FROM receipts x WHERE x.wallet_id = v.column1 AND x.counter BETWEEN v.column2 AND v.column3)
        UNION ALL (SELECT * FROM receipts x WHERE x.wallet_id = v.column1 AND x.counter < v.column2 AND x.balance_after IS NOT NULL ORDER BY x.counter DESC LIMIT 1)
        UNION ALL (SELECT * FROM receipts x WHERE x.wallet_id = v.column1 AND x.counter > v.column3 AND x.balance_after IS NOT NULL ORDER BY x.counter ASC LIMIT 1)
      ) AS r`;
  }
  const nearest = (op: '<' | '>', bound: 'column2' | 'column3', order: 'DESC' | 'ASC') =>
    `(SELECT x.id FROM receipts x WHERE x.wallet_id = v.column1 AND x.counter ${op} v.${bound} AND x.balance_after IS NOT NULL ORDER BY x.counter ${order} LIMIT 1)`;
  return `SELECT r.* FROM (VALUES ${ranges}) AS v CROSS JOIN receipts r WHERE r.wallet_id = v.column1 AND r.counter BETWEEN v.column2 AND v.column3
     UNION ALL SELECT r.* FROM (SELECT ${nearest('<', 'column2', 'DESC')} AS id FROM (VALUES ${ranges}) AS v) AS n CROSS JOIN receipts r WHERE r.id = n.id
     UNION ALL SELECT r.* FROM (SELECT ${nearest('>', 'column3', 'ASC')} AS id FROM (VALUES ${ranges}) AS v) AS n CROSS JOIN receipts r WHERE r.id = n.id`;
}

/** What each wallet of `days` (VALUES rows of wallet, first and last second, day) was credited that day. */
export function dailyTotalsSql(days: string): string {
  return `SELECT v.column1 AS wallet_id, v.column4 AS day,
      (SELECT SUM(x.amount) FROM receipts x WHERE x.wallet_id = v.column1 AND x.paid_at BETWEEN v.column2 AND v.column3 AND x.credited = 1) AS total
    FROM (VALUES ${days}) AS v`;
}

/** A number inside VALUES: PostgreSQL types a bare placeholder there as text. */
export function int(params: Param[], value: number): string {
  return `CAST(${place(params, value)} AS BIGINT)`;
}

/** Appends values to `params`; returns their placeholders ("$4, $5, $6"). */
export function place(params: Param[], ...values: Param[]): string {
  return values.map((v) => (params.push(v), `$${params.length}`)).join(', ');
}

/**
 * The wallet signs its balance after each payment and there are no top-ups: along its counter the
 * balance only goes down, by at least each payment. A receipt that breaks this against its nearest
 * neighbours is a tampered or cloned element spending value it does not have.
 */
function balanceConflict(known: Known[], walletId: string, counter: number, amount: number, balanceAfter: number): { reason: string; other: Known; outcome: Outcome } | undefined {
  let before: Known | undefined;
  let after: Known | undefined;
  for (const k of known) {
    if (k.balanceAfter === null) continue;
    if (k.counter < counter && (!before || k.counter > before.counter)) before = k;
    if (k.counter > counter && (!after || k.counter < after.counter)) after = k;
  }
  if (before && balanceAfter + amount > before.balanceAfter!) {
    return { reason: `wallet ${walletId} counter ${counter} spent ${amount} leaving ${balanceAfter}, but counter ${before.counter} had left ${before.balanceAfter}`, other: before, outcome: 'overspend' };
  }
  if (after && after.balanceAfter! + after.amount > balanceAfter) {
    return { reason: `wallet ${walletId} counter ${counter} left ${balanceAfter}, but counter ${after.counter} later spent ${after.amount} leaving ${after.balanceAfter}`, other: after, outcome: 'overspend' };
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

function dayOf(unixSeconds: number): number {
  return Math.floor(unixSeconds / DAY);
}

/**
 * The counter only rises, and time only moves on: a receipt whose counter is above a known one's but
 * which was paid well before it (beyond any clock drift between terminals) came from a copy of the
 * element that reused counters, even when no two receipts carry the same one.
 */
function counterClockConflict(known: Known[], walletId: string, counter: number, paidAt: number): { reason: string; other: Known; outcome: Outcome } | undefined {
  for (const k of known) {
    if (k.paidAt === null) continue;
    if ((k.counter < counter && paidAt + COUNTER_CLOCK_SLACK < k.paidAt) || (k.counter > counter && k.paidAt + COUNTER_CLOCK_SLACK < paidAt)) {
      return {
        reason: `wallet ${walletId} counter ${counter} paid at ${paidAt}, but counter ${k.counter} at ${k.paidAt}: the counter went back in time`,
        other: k,
        outcome: 'counter-reuse',
      };
    }
  }
  return undefined;
}

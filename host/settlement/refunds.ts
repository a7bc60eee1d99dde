// Offline refunds at settlement (docs/SETTLEMENT.md "Refunds"): a terminal's refund record is verified
// (the terminal's signature with its registered device key, the wallet's with the key of its
// certificate) and held against the original payment the service already settled (same terminal,
// wallet, counter, sequence, amount and wallet signature) and what that payment was refunded before.
// A good one is booked: the merchant's account debited, the wallet's owner (or the bound balance's
// program) credited, and a receipts row with the negative amount and the refund's signed balance, so
// the wallet's balance chain sees the credit. A refund above its original or of an unknown one is a
// finding and credits nothing. An intent (journaled before REFUND, uploaded so that it is never dropped
// unseen) is recorded as in doubt until its record arrives.
import { toHex } from '../../firmware/base/bytes';
import type { Alg } from '../../firmware/core/crypto/verify';
import { ALG_P256 } from '../../firmware/core/crypto/verify';
import { certificateDigest, decodeCertificate, decodePayRequest, decodePayResponse } from '../../firmware/core/protocol/messages';
import { decodeGrant } from '../../firmware/core/protocol/purpose';
import { decodeReceipt } from '../../firmware/core/protocol/receipt';
import {
  decodeRefundRecord,
  decodeRefundRequest,
  decodeRefundResponse,
  isRefundRecord,
  refundRequestSignedPayload,
  refundSignedPayload,
} from '../../firmware/core/protocol/refund';
import { TlvError } from '../../firmware/core/protocol/tlv';
import type { ReceiptCheck } from '../../firmware/core/crypto/receipt';
import { RESULT_ACCEPTED, RESULT_DUPLICATE, RESULT_REJECTED, type ReceiptResult } from '../../firmware/core/uplink/wire';
import type { Tx } from './db';
import type { Checked, TerminalRow } from './batch';
import { programAccount } from './purposes';

export type RefundOutcome = 'refunded' | 'in-doubt' | 'resolved' | 'refund-over-original' | 'refund-unknown-original' | 'invalid';

type Verify = (alg: Alg, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean;

/** The batch items that are refund records, not receipts (the receipt verifier skips them). */
export function isRefundItem(item: { receipt: Uint8Array }): boolean {
  return isRefundRecord(item.receipt);
}

/**
 * Settles a batch's items in their order: runs of receipts by `payments`, runs of refunds by
 * `refunds`, so a payment after a refund of the same wallet sees the refund's credit.
 */
export async function settleInOrder(
  items: { seq: number; receipt: Uint8Array }[],
  checkOf: (seq: number) => ReceiptCheck,
  payments: (run: Checked[]) => Promise<ReceiptResult[]>,
  refunds: RefundSettler,
): Promise<ReceiptResult[]> {
  const results: ReceiptResult[] = [];
  let run: Checked[] = [];
  const flush = async () => {
    if (run.length) results.push(...(await payments(run)));
    run = [];
  };
  for (const item of items) {
    if (isRefundItem(item)) {
      await flush();
      results.push(await refunds.settle(item.seq, item.receipt));
    } else run.push({ seq: item.seq, bytes: item.receipt, check: checkOf(item.seq) });
  }
  await flush();
  return results;
}

interface Parsed {
  record: ReturnType<typeof decodeRefundRecord>;
  certificate: ReturnType<typeof decodeCertificate>;
  request: ReturnType<typeof decodeRefundRequest>;
}

interface RefundRow {
  terminal_seq: number;
  refund_seq: number;
  outcome: RefundOutcome;
  record: Uint8Array;
}

export class RefundSettler {
  constructor(
    readonly tx: Tx,
    readonly terminal: TerminalRow,
    readonly now: number,
    readonly verify: Verify,
  ) {}

  async settle(seq: number, bytes: Uint8Array): Promise<ReceiptResult> {
    const tx = this.tx;
    const t = this.terminal;
    const existing = await tx.get<RefundRow>('SELECT terminal_seq, refund_seq, outcome, record FROM refunds WHERE terminal_id = $1 AND terminal_seq = $2', [t.terminal_id, seq]);
    if (existing) {
      if (toHex(existing.record) === toHex(bytes)) return { seq, status: RESULT_DUPLICATE, reason: `already settled: ${existing.outcome}` };
      return { seq, status: RESULT_REJECTED, reason: `sequence ${seq} already holds a different refund` };
    }
    let parsed;
    try {
      parsed = this.#parse(bytes);
    } catch (e) {
      if (!(e instanceof TlvError)) throw e;
      return this.#refuse(seq, bytes, null, 'invalid', `invalid: ${e.message}`);
    }
    const { record, certificate, request } = parsed;
    if (request.terminalId !== t.terminal_id || record.refundSeq !== request.refundSeq || request.walletId !== certificate.walletId) {
      return this.#refuse(seq, bytes, parsed, 'invalid', `invalid: the refund names terminal ${request.terminalId}, wallet ${request.walletId}, refund ${request.refundSeq}`);
    }
    if (!this.verify(ALG_P256, t.public_key, refundRequestSignedPayload(request.tbs), request.signature)) {
      return this.#refuse(seq, bytes, parsed, 'invalid', "invalid: the refund is not signed by the terminal's device key");
    }
    const earlier = await tx.all<RefundRow>('SELECT terminal_seq, refund_seq, outcome, record FROM refunds WHERE terminal_id = $1 AND refund_seq = $2', [t.terminal_id, request.refundSeq]);
    if (!record.response) {
      await this.#insert(seq, bytes, parsed, 'in-doubt', 'the terminal sent REFUND and has no answer journaled yet');
      return { seq, status: RESULT_ACCEPTED, reason: 'refund in doubt' };
    }
    if (earlier.some((e) => e.outcome === 'refunded')) return this.#refuse(seq, bytes, parsed, 'invalid', `invalid: refund ${request.refundSeq} was already settled`);
    const response = decodeRefundResponse(record.response);
    if (!this.verify(certificate.alg, certificate.publicKey, refundSignedPayload(certificate.alg, certificateDigest(certificate.bytes), record.request, response.tbs), response.signature)) {
      return this.#refuse(seq, bytes, parsed, 'invalid', "invalid: the wallet's refund signature does not verify");
    }
    await tx.lock([`wallet:${certificate.walletId}`]);
    const original = await this.#original(certificate.walletId, request.originalCounter);
    const matches = original && original.receipt.terminalSeq === request.originalSeq && original.amount === request.originalAmount
      && toHex(original.signature) === toHex(request.originalSignature) && toHex(original.receipt.certificate) === toHex(certificate.bytes);
    if (!original || !matches) {
      return this.#finding(seq, bytes, parsed, 'refund-unknown-original', `no settled payment ${request.originalSeq} of wallet ${certificate.walletId} at counter ${request.originalCounter} for ${request.originalAmount}`);
    }
    const before = await tx.get<{ total: number | null }>(
      `SELECT SUM(amount) AS total FROM refunds WHERE terminal_id = $1 AND original_seq = $2 AND outcome = 'refunded'`,
      [t.terminal_id, request.originalSeq],
    );
    const refunded = Number(before?.total ?? 0);
    if (refunded + request.amount > original.amount) {
      return this.#finding(seq, bytes, parsed, 'refund-over-original', `${request.amount} asked after ${refunded} of ${original.amount} refunded`);
    }
    // A bound original signed its purse's balance: no neighbour for the free balance's chain.
    const receiptId = await this.#insert(seq, bytes, parsed, 'refunded', `refund of #${request.originalSeq}`, { ...response, bound: original.grant !== undefined });
    // The intent this record answers is in doubt no more.
    if (earlier.length) await tx.run(`UPDATE refunds SET outcome = 'resolved' WHERE terminal_id = $1 AND refund_seq = $2 AND outcome = 'in-doubt'`, [t.terminal_id, request.refundSeq]);
    const payer = original.grant ? programAccount(decodeGrant(original.grant)) : `wallet:${certificate.walletId}`;
    for (const [account, amount] of [[`merchant:${t.merchant_id}`, -request.amount], [payer, request.amount]] as const) {
      await tx.run('INSERT INTO ledger (account, amount, receipt_id, memo, created_at) VALUES ($1, $2, $3, $4, $5)', [account, amount, receiptId, `refund ${request.refundSeq} of #${request.originalSeq}`, this.now]);
    }
    if (!original.grant) await tx.run('UPDATE wallets SET spent = spent - $1, updated_at = $2 WHERE wallet_id = $3', [request.amount, this.now, certificate.walletId]);
    return { seq, status: RESULT_ACCEPTED };
  }

  #parse(bytes: Uint8Array): Parsed {
    const record = decodeRefundRecord(bytes);
    return { record, certificate: decodeCertificate(record.certificate), request: decodeRefundRequest(record.request) };
  }

  /** The credited payment of this wallet at this counter from this terminal, decoded. */
  async #original(walletId: string, counter: number) {
    const row = await this.tx.get<{ receipt: Uint8Array }>(
      'SELECT receipt FROM receipts WHERE wallet_id = $1 AND counter = $2 AND terminal_id = $3 AND credited = 1 AND amount > 0',
      [walletId, counter, this.terminal.terminal_id],
    );
    if (!row || isRefundRecord(row.receipt)) return undefined;
    const receipt = decodeReceipt(row.receipt);
    return { receipt, amount: decodePayRequest(receipt.request).amount, signature: decodePayResponse(receipt.response).signature, grant: receipt.grant };
  }

  /** The refunds row; for a credited one also a receipts row (negative amount, the signed balance) whose id the ledger names. */
  async #insert(seq: number, bytes: Uint8Array, p: Parsed | null, outcome: RefundOutcome, reason: string, credit?: { counter: number; balanceAfter: number; bound: boolean }): Promise<number | null> {
    const t = this.terminal;
    const record = bytes;
    await this.tx.run(
      `INSERT INTO refunds (terminal_id, terminal_seq, refund_seq, original_seq, wallet_id, amount, outcome, reason, record, received_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [t.terminal_id, seq, p?.request.refundSeq ?? null, p?.request.originalSeq ?? null, p?.certificate.walletId ?? null, p?.request.amount ?? 0, outcome, reason, record, this.now],
    );
    if (!credit || !p) return null;
    const row = await this.tx.get<{ id: number }>(
      `INSERT INTO receipts (terminal_id, terminal_seq, wallet_id, counter, amount, merchant_id, issuer_key_id, outcome, reason, credited, receipt, received_at, balance_after, paid_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, 'settled', $8, 1, $9, $10, $11, $12) RETURNING id`,
      [t.terminal_id, seq, p.certificate.walletId, credit.counter, -p.request.amount, t.merchant_id, p.certificate.issuerKeyId, reason, record, this.now, credit.bound ? null : credit.balanceAfter, p.request.terminalTime || this.now],
    );
    // Its sequence on the terminal's side too (terminal_receipts, where a batch's dedupe looks).
    await this.tx.run(`INSERT INTO terminal_receipts (terminal_id, terminal_seq, wallet_id, receipt_id, outcome) VALUES ($1, $2, $3, $4, 'settled')`, [t.terminal_id, seq, p.certificate.walletId, Number(row!.id)]);
    return Number(row!.id);
  }

  async #refuse(seq: number, bytes: Uint8Array, p: Parsed | null, outcome: RefundOutcome, reason: string): Promise<ReceiptResult> {
    await this.#insert(seq, bytes, p, outcome, reason);
    return { seq, status: RESULT_REJECTED, reason };
  }

  async #finding(seq: number, bytes: Uint8Array, p: Parsed, kind: RefundOutcome, detail: string): Promise<ReceiptResult> {
    await this.#insert(seq, bytes, p, kind, detail);
    const evidence = { terminalId: this.terminal.terminal_id, terminalSeq: seq, refundSeq: p.request.refundSeq, originalSeq: p.request.originalSeq, amount: p.request.amount, record: toHex(bytes), detail };
    await this.tx.run('INSERT INTO findings (kind, wallet_id, receipt_id, other_receipt_id, evidence, created_at) VALUES ($1, $2, NULL, NULL, $3, $4)', [kind, p.certificate.walletId, JSON.stringify(evidence), this.now]);
    return { seq, status: RESULT_REJECTED, reason: `${kind}: ${detail}` };
  }
}


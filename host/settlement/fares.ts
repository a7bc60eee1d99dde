// The settlement service's fare check: each transit receipt priced again from the operator's fare
// rules and the wallet's transit log the receipt keeps (signed with the payment: its digest is in the
// request), with the same pure engine the validator runs (firmware/core/fares/engine.ts). A receipt
// charged or refunded otherwise is a finding; the rest is booked to the operator as its net fares.
import { verifyReceipt } from '../../firmware/core/crypto/receipt';
import type { IssuerKey } from '../../firmware/core/crypto/keyring';
import { computeFare, FareError } from '../../firmware/core/fares/engine';
import { parseFareRules, type FareRules } from '../../firmware/core/fares/rules';
import { decodeReceipt, type Receipt, type ReceiptContent } from '../../firmware/core/protocol/receipt';
import { decodeUpdate, UPDATE_FARE_RULES } from '../../firmware/core/uplink/updates';
import { assert, present } from '../../firmware/base/assert';
import type { Tx } from './db';
import { decodeTransitLog, transitLogDigest } from '../../firmware/core/protocol/transit-log';
import { TlvError } from '../../firmware/core/protocol/tlv';
import { equalBytes } from '../../firmware/base/bytes';

export interface FareFinding {
  terminalSeq: number;
  walletId: string;
  /** What the validator did and what the rules say, in minor units. */
  charged: number;
  refunded: number;
  expectedCharge: number;
  expectedRefund: number;
  reason: string;
}

export interface OperatorBooks {
  operatorId: string;
  /** Receipts priced by these rules. */
  taps: number;
  charged: number;
  refunded: number;
  /** What the operator is owed for its rides: charged less refunded. */
  net: number;
  findings: FareFinding[];
}

export interface FareCheck {
  charged: number;
  refunded: number;
  /** Present when the validator charged otherwise than the rules. */
  finding?: FareFinding;
}

/** One receipt's fare against the rules; undefined for a receipt that is not a transit tap of this operator (or does not verify). */
export function checkFare(bytes: Uint8Array, rules: FareRules, issuerKeys: IssuerKey[], now: number): FareCheck | undefined {
  const receipt = decodeReceipt(bytes);
  const check = verifyReceipt(receipt, issuerKeys, now);
  if (!check.ok) return undefined;
  return priceAgain(receipt, check, rules);
}

/** A verified receipt's fare against the rules; undefined when it is not a transit tap of this operator. */
export function priceAgain(receipt: Receipt, content: ReceiptContent, rules: FareRules): FareCheck | undefined {
  const { request, certificate } = content;
  const tap = request.transit;
  if (!tap || !receipt.transitLog || request.merchantId !== rules.operatorId) return undefined;
  const base = { terminalSeq: receipt.terminalSeq, walletId: certificate.walletId, charged: request.amount, refunded: tap.refund };
  const found = (f: Omit<FareFinding, keyof typeof base>): FareCheck => ({ charged: base.charged, refunded: base.refunded, finding: { ...base, ...f } });
  if (!equalBytes(transitLogDigest(receipt.transitLog), tap.logDigest)) {
    return found({ expectedCharge: 0, expectedRefund: 0, reason: 'the receipt keeps another log than the one the wallet signed' });
  }
  let expected;
  try {
    expected = computeFare({
      rules, log: decodeTransitLog(receipt.transitLog), station: tap.station, time: request.terminalTime, walletClass: certificate.walletClass,
      ...(certificate.concession !== undefined ? { concession: certificate.concession } : {}),
      ...(certificate.concessionUntil !== undefined ? { concessionUntil: certificate.concessionUntil } : {}),
    });
  } catch (e) {
    if (!(e instanceof FareError || e instanceof TlvError)) throw e;
    return found({ expectedCharge: 0, expectedRefund: 0, reason: e.message });
  }
  if (expected.amount === request.amount && expected.refund === tap.refund && expected.kind === tap.kind) return { charged: base.charged, refunded: base.refunded };
  return found({ expectedCharge: expected.amount, expectedRefund: expected.refund, reason: `the rules price this tap ${expected.amount} (refund ${expected.refund}), the validator charged ${request.amount} (refund ${tap.refund})` });
}

/**
 * Every version of an operator's fare rules the service holds: a receipt is priced again by the version
 * its validator priced it with (receipt field 89), so a validator still on older rules after an update
 * is not found to charge wrongly. A receipt that names no version (from before receipts named it) is
 * priced by the newest.
 */
export class RuleBook {
  constructor(
    readonly operatorId: string,
    readonly versions: ReadonlyMap<number, FareRules>,
    readonly newest: number,
  ) {}

  /** The rules of `version` (undefined: the newest); undefined when the service does not hold it. */
  rulesOf(version: number | undefined): FareRules | undefined {
    return this.versions.get(version ?? this.newest);
  }

  /** A verified receipt priced again by the rules it names (priceAgain), or a finding if the service lacks them. */
  priceAgain(receipt: Receipt, content: ReceiptContent): FareCheck | undefined {
    const rules = this.rulesOf(receipt.fareRulesVersion);
    if (rules) return priceAgain(receipt, content, rules);
    const tap = content.request.transit;
    if (!tap || content.request.merchantId !== this.operatorId) return undefined;
    const charged = content.request.amount;
    return {
      charged, refunded: tap.refund,
      finding: {
        terminalSeq: receipt.terminalSeq, walletId: content.certificate.walletId, charged, refunded: tap.refund, expectedCharge: 0, expectedRefund: 0,
        reason: `priced with fare rules version ${String(receipt.fareRulesVersion)}, which the service does not hold (it holds ${[...this.versions.keys()].join(', ')})`,
      },
    };
  }
}

/** Every fare-rules version the service holds for an operator (its merchant id), as a RuleBook. Undefined: none. */
export async function operatorRuleBook(tx: Tx, operatorId: string): Promise<RuleBook | undefined> {
  const rows = await tx.all<{ bytes: Uint8Array }>('SELECT bytes FROM updates WHERE kind = $1 AND terminal_id = $2 ORDER BY version', [UPDATE_FARE_RULES, operatorId]);
  const versions = new Map<number, FareRules>();
  let newest = 0;
  for (const row of rows) {
    const { update } = decodeUpdate(row.bytes);
    assert(update.kind === UPDATE_FARE_RULES, 'a fare-rules row holds fare rules');
    versions.set(update.version, parseFareRules(update.rules));
    newest = Math.max(newest, update.version);
  }
  return versions.size === 0 ? undefined : new RuleBook(operatorId, versions, newest);
}

/** The signed fare rules to hand a validator holding `version`: the operator's newest, if newer. */
export async function newerFareRules(tx: Tx, operatorId: string, version: number): Promise<Uint8Array | undefined> {
  const row = await tx.get<{ bytes: Uint8Array }>('SELECT bytes FROM updates WHERE kind = $1 AND terminal_id = $2 AND version > $3 ORDER BY version DESC LIMIT 1', [UPDATE_FARE_RULES, operatorId, version]);
  return row?.bytes;
}

/**
 * The newest fare rules the service holds for an operator (its merchant id): a signed update of kind 6
 * it took through POST /v1/updates (verified against the root key and validated there). Undefined: none.
 */
export async function operatorRules(tx: Tx, operatorId: string): Promise<{ rules: FareRules; version: number } | undefined> {
  const book = await operatorRuleBook(tx, operatorId);
  return book && { rules: present(book.rulesOf(book.newest), 'the newest fare rules'), version: book.newest };
}

/** An operator's books over its receipts (the settled ones), with the fare findings. */
export function operatorBooks(receipts: Uint8Array[], rules: FareRules, issuerKeys: IssuerKey[], now: number): OperatorBooks {
  const books: OperatorBooks = { operatorId: rules.operatorId, taps: 0, charged: 0, refunded: 0, net: 0, findings: [] };
  for (const bytes of receipts) {
    const c = checkFare(bytes, rules, issuerKeys, now);
    if (!c) continue;
    books.taps++;
    books.charged += c.charged;
    books.refunded += c.refunded;
    if (c.finding) books.findings.push(c.finding);
  }
  books.net = books.charged - books.refunded;
  return books;
}

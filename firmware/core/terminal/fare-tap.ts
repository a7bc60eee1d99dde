// The transit fare step of a tap (tap.ts calls it when the terminal has fare rules): READ TRANSIT LOG,
// the fare from the rules, the wallet's log and this validator's station, and the transit tap the PAY
// request carries (the log's digest, so the wallet's signature covers the log the fare came from).
// Before PAY: a log older than a payment this terminal has seen from the wallet is refused. After PAY:
// the response's counter must follow the log's, or the log was not the wallet's current one.
import { computeFare, FareError, type FareDecision } from '../fares/engine';
import type { FareRules } from '../fares/rules';
import { readTransitLogCommand, type ResponseApdu, SW } from '../protocol/apdu';
import type { Certificate, PayResponse } from '../protocol/messages';
import { decodeTransitLog, transitLogDigest, type TransitLog, type TransitTap } from '../protocol/transit-log';
import { TlvError } from '../protocol/tlv';
import { DeclineError } from '../../base/reasons';
import type { HashPort } from '../../base/hash';

/** What a validator needs to price a tap: its operator's rules (signed, update kind 6) and its station. */
export interface TransitFares {
  rules: FareRules;
  station: number;
  /** The signed update's version (receipts name it); absent for rules given without one. */
  version?: number;
}

export interface PricedTap {
  decision: FareDecision;
  log: TransitLog;
  /** The log as the wallet sent it: journaled in the receipt, named by digest in the request. */
  logBytes: Uint8Array;
  tap: TransitTap;
}

/**
 * Reads the wallet's log and prices this tap. `counterSeen` is the highest counter this terminal has
 * seen from the wallet (0: none); `sha256` the device's hash port (default: transitLogDigest, noble's).
 * Throws DeclineError.
 */
export async function priceTap(
  send: (apdu: Uint8Array) => Promise<ResponseApdu>,
  fares: TransitFares,
  cert: Certificate,
  time: number | undefined,
  counterSeen: number,
  sha256?: HashPort['sha256'],
): Promise<PricedTap> {
  if (time === undefined) throw new DeclineError('timeUnknown', 'transit fares need the time');
  const r = await send(readTransitLogCommand());
  if (r.sw !== SW.ok) throw new DeclineError('transitLog', `READ TRANSIT LOG answered ${r.sw.toString(16)}`);
  let log: TransitLog;
  try {
    log = decodeTransitLog(r.data);
  } catch (e) {
    if (e instanceof TlvError) throw new DeclineError('transitLog', e.message);
    throw e;
  }
  // A log replayed from an earlier tap: this terminal has already seen a later payment of the wallet.
  if (log.counter < counterSeen) throw new DeclineError('transitLog', `log at counter ${log.counter}, counter ${counterSeen} seen here`);
  let decision: FareDecision;
  try {
    decision = computeFare({
      rules: fares.rules,
      log,
      station: fares.station,
      time,
      walletClass: cert.walletClass,
      ...(cert.concession !== undefined ? { concession: cert.concession } : {}),
      ...(cert.concessionUntil !== undefined ? { concessionUntil: cert.concessionUntil } : {}),
    });
  } catch (e) {
    if (e instanceof FareError) throw new DeclineError('noFare', e.message);
    throw e;
  }
  const tap: TransitTap = {
    logDigest: sha256 ? sha256([r.data]) : transitLogDigest(r.data),
    kind: decision.kind,
    transfer: decision.transfer,
    operator: fares.rules.operator,
    station: fares.station,
    day: decision.day,
    refund: decision.refund,
  };
  return { decision, log, logBytes: r.data, tap };
}

/** After PAY: the payment must be the one right after the log read. Throws DeclineError. */
export function checkFollowsLog(priced: PricedTap, response: PayResponse): void {
  if (response.counter !== priced.log.counter + 1) {
    throw new DeclineError('transitLog', `payment counter ${response.counter} does not follow the log's ${priced.log.counter}`);
  }
}

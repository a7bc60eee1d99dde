// The wallet's own offline caps: what its secure element may spend with no contact with its issuer,
// counted since the last sync (amount and number of payments). The issuer writes the caps into the
// certificate from the wallet class (fields 8D, 8E), so a terminal can show them and the wallet cannot
// raise them; the wallet refuses PAY beyond them and says which one (6A8A amount, 6A8B count).
import { SW } from '../../firmware/core/protocol/apdu';
import type { Certificate } from '../../firmware/core/protocol/messages';

const YUAN = 100;

/** The issuer's default caps by wallet class (minor units; payments), tighter as the class is less known. */
export const WALLET_OFFLINE_CAPS: Record<number, { amount: number; count: number }> = {
  1: { amount: 10_000 * YUAN, count: 100 },
  2: { amount: 5_000 * YUAN, count: 50 },
  3: { amount: 2_000 * YUAN, count: 30 },
  4: { amount: 1_000 * YUAN, count: 20 },
};

export interface OfflineSpent {
  amount: number;
  count: number;
}

/** What the wallet spent since its last sync, against its certificate's caps. */
export class OfflineSpend {
  #cert: Certificate;
  #spent: OfflineSpent;

  constructor(cert: Certificate, spent: OfflineSpent = { amount: 0, count: 0 }) {
    if (!Number.isSafeInteger(spent.amount) || spent.amount < 0 || !Number.isSafeInteger(spent.count) || spent.count < 0) {
      throw new RangeError(`offline spending ${JSON.stringify(spent)} is not two counts`);
    }
    this.#cert = cert;
    this.#spent = { ...spent };
  }

  get spent(): OfflineSpent {
    return { ...this.#spent };
  }

  /** The status word refusing a payment of `amount`, or undefined when the caps allow it. */
  refusal(amount: number): number | undefined {
    const { offlineAmountCap, offlineCountCap } = this.#cert;
    if (offlineCountCap !== undefined && this.#spent.count + 1 > offlineCountCap) return SW.walletOfflineCount;
    if (offlineAmountCap !== undefined && this.#spent.amount + amount > offlineAmountCap) return SW.walletOfflineAmount;
    return undefined;
  }

  paid(amount: number): void {
    this.#spent.amount += amount;
    this.#spent.count++;
  }

  /** A credit (an offline refund) gives its amount back to the cap, never below zero. */
  credited(amount: number): void {
    this.#spent.amount = Math.max(0, this.#spent.amount - amount);
  }

  /** The wallet reached its issuer: what it spent is known there, the count starts again. */
  synced(): void {
    this.#spent = { amount: 0, count: 0 };
  }
}

/** Certificate fields for the class's default caps (issueWallet options). */
export function classOfflineCaps(walletClass: number): { offlineAmountCap: number; offlineCountCap: number } {
  const caps = WALLET_OFFLINE_CAPS[walletClass];
  if (!caps) throw new RangeError(`no offline caps for wallet class ${walletClass}`);
  return { offlineAmountCap: caps.amount, offlineCountCap: caps.count };
}

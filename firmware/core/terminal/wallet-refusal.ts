// What the wallet's own refusals of PAY mean to the holder: each status word of the wallet's rules
// (its offline caps, its bound balances) becomes a decline with a reason the display can show.
import {
  SW,
} from '../protocol/apdu';
import type { DeclineCode } from '../../base/reasons';

const REFUSALS: Record<number, DeclineCode> = {
  [SW.walletOfflineAmount]: 'walletOfflineAmount',
  [SW.walletOfflineCount]: 'walletOfflineCount',
  [SW.purposeMismatch]: 'purposeMismatch',
  [SW.purposeExpired]: 'purposeExpired',
};

/** The decline for a wallet's refusal of PAY, or undefined for a status word that is not one. */
export function walletRefusal(sw: number): DeclineCode | undefined {
  return REFUSALS[sw];
}

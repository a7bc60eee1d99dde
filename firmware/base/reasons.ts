// Every reason a terminal declines a tap: a stable code (journals, logs, settlement) and a short text
// that fits the 128x64 display (at most 21 characters per line).
import { TaplineError } from './errors';

export const DECLINE = {
  cardError: 'card error',
  cardLost: 'card removed: tap again',
  cardSwapped: 'card changed: tap again',
  exchangeTooSlow: 'card too slow',
  protocol: 'card error: bad data',
  unknownIssuer: 'unknown issuer',
  issuerKeyExpired: 'issuer key expired',
  issuerKeyNotYetValid: 'issuer key not valid',
  issuerKeyRevoked: 'issuer key revoked',
  algorithmMismatch: 'bad certificate',
  badCertificate: 'bad certificate',
  certificateExpired: 'card expired',
  certificateNotYetValid: 'card not yet valid',
  badSignature: 'bad signature',
  walletDenied: 'card blocked',
  serialDenied: 'card blocked',
  counterReplay: 'replay refused',
  overTransactionCap: 'over limit',
  overOfflineAmount: 'offline limit: connect',
  overOfflineCount: 'offline count: connect',
  offlineTooLong: 'offline too long',
  timeUnknown: 'time unknown: connect',
  unknownWalletClass: 'card class unknown',
  overWalletSingleLimit: 'over card limit',
  overWalletDailyLimit: 'card daily limit',
  holderNotVerified: 'PIN required',
  pinBlocked: 'PIN blocked',
  insufficientBalance: 'insufficient funds',
  walletRefused: 'card refused',
  // offline refunds (docs/PROTOCOL.md "Offline refunds")
  refundUnavailable: 'refunds not set up',
  refundLocked: 'refunds locked',
  refundUnknown: 'no such payment',
  refundOverOriginal: 'over the payment',
  refundOtherWallet: 'not the paying card',
  refundUntrusted: 'card refused terminal',
  refundReplayed: 'refund replayed',
  refundRefused: 'card refused refund',
  // The wallet's own caps, purpose-bound funds and offline refunds (docs/PROTOCOL.md).
  walletOfflineAmount: 'card offline limit',
  walletOfflineCount: 'card offline count',
  purposeMismatch: 'funds not for here',
  purposeExpired: 'bound funds expired',
  passback: 'already tapped',
  // transit fares (docs/PROTOCOL.md "Transit fares")
  transitLog: 'card log refused',
  noFare: 'no fare here: see staff',
  journalFull: 'journal full: connect to upload',
  storageError: 'storage error',
  inDoubtFull: 'unresolved taps: connect',
  timeout: 'timed out',
  cancelled: 'cancelled',
} as const;

export type DeclineCode = keyof typeof DECLINE;

export interface Decline {
  code: DeclineCode;
  text: string;
  /** Detail for the log; never shown to the customer. */
  detail?: string;
}

export function decline(code: DeclineCode, detail?: string): Decline {
  return detail === undefined ? { code, text: DECLINE[code] } : { code, text: DECLINE[code], detail };
}

/** Thrown inside the decision path and turned into a Decline by the terminal. */
export class DeclineError extends TaplineError {
  override readonly name: string = 'DeclineError';
  readonly decline: Decline;
  constructor(code: DeclineCode, detail?: string) {
    super(`${code}${detail ? `: ${detail}` : ''}`);
    this.decline = decline(code, detail);
  }
}

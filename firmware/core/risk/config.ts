// The risk parameters a terminal is provisioned with (and may receive in signed configuration updates).
// Amounts are integers in the currency's minor unit (fen for CNY); times are seconds.
import { TaplineError } from '../../base/errors';

export interface WalletClassLimits {
  /** Largest single payment. */
  single: number;
  /** Largest total per wallet per day at this terminal. */
  daily: number;
}

export interface RiskConfig {
  /** ISO 4217 numeric currency code the terminal takes (156 = CNY). */
  currency: number;
  /** Largest single payment the terminal approves offline. */
  maxTransaction: number;
  /** Cumulative amount and count approved since the last settlement. */
  maxOfflineAmount: number;
  maxOfflineCount: number;
  /** Longest time since the last settlement before the terminal stops approving. */
  maxOfflineSeconds: number;
  /** When the terminal does not know the time, it approves only payments up to this amount (0: none). */
  unknownTimeMaxAmount: number;
  /** Above this amount the wallet must report the holder verified (or the PIN is keyed on the terminal). */
  cvmThreshold: number;
  /** Per-wallet limits by wallet class (the certificate's class); a class missing here is declined. */
  walletClasses: Record<number, WalletClassLimits>;
  /**
   * Card time allowed for one tap, summed over every APDU round trip (PIN keying excluded: it happens
   * between round trips), and for the PAY round trip alone. A relay between a distant wallet and the
   * reader adds to both; the terminal's own computation counts in neither.
   */
  exchangeMaxMs: number;
  payMaxMs: number;
  transit: {
    /** Payments up to this amount may be approved before the wallet's signatures are verified. */
    deferredMaxAmount: number;
    /**
     * Most value approved without verification at any time, until the terminal is next online: pending
     * verifications plus those that failed (a failure never gives its share back).
     */
    unverifiedExposureCap: number;
    /**
     * Most value lost to failed deferred verifications: once one more fare would pass it, the terminal
     * stops deferring for every wallet and verifies before opening, until it has settled online again.
     */
    deferredLossCap: number;
    /** The same wallet within this many seconds is refused (anti-passback); 0 disables. */
    passbackSeconds: number;
  };
}

const YUAN = 100;

/** e-CNY wallet classes (one bank's 2020 service agreement): single and daily limits, in fen. */
export const ECNY_WALLET_CLASSES: Record<number, WalletClassLimits> = {
  1: { single: 50_000 * YUAN, daily: 100_000 * YUAN },
  2: { single: 5_000 * YUAN, daily: 10_000 * YUAN },
  3: { single: 2_000 * YUAN, daily: 2_000 * YUAN },
  4: { single: 500 * YUAN, daily: 1_000 * YUAN },
};

export const DEFAULT_RISK_CONFIG: RiskConfig = {
  currency: 156,
  maxTransaction: 2_000 * YUAN,
  maxOfflineAmount: 20_000 * YUAN,
  maxOfflineCount: 500,
  maxOfflineSeconds: 7 * 24 * 3600,
  unknownTimeMaxAmount: 50 * YUAN,
  cvmThreshold: 300 * YUAN,
  // A PN532 on I2C moves a whole tap in ~25 ms; a card's ECDSA signature takes 100-500 ms, a phone's
  // ~100-300 ms; a SELECT and a READ CERTIFICATE take tens of ms. Room for a slow card, not for a relay.
  exchangeMaxMs: 1500,
  payMaxMs: 1000,
  walletClasses: ECNY_WALLET_CLASSES,
  transit: { deferredMaxAmount: 10 * YUAN, unverifiedExposureCap: 200 * YUAN, deferredLossCap: 10 * YUAN, passbackSeconds: 30 },
};

export class RiskConfigError extends TaplineError {
  override readonly name: string = 'RiskConfigError';
}

function amount(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new RiskConfigError(`${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Validates a configuration from JSON (provisioning or an update) with clear errors. */
export function parseRiskConfig(input: unknown): RiskConfig {
  if (!input || typeof input !== 'object') throw new RiskConfigError('risk config must be an object');
  const o = input as Record<string, any>;
  const t = o.transit;
  if (!t || typeof t !== 'object') throw new RiskConfigError('risk config needs a transit section');
  const classes = o.walletClasses;
  if (!classes || typeof classes !== 'object') throw new RiskConfigError('risk config needs walletClasses');
  const walletClasses: Record<number, WalletClassLimits> = {};
  for (const key of Object.keys(classes)) {
    const id = Number(key);
    if (!Number.isInteger(id) || id < 0 || id > 255) throw new RiskConfigError(`bad wallet class ${key}`);
    const c = classes[key];
    walletClasses[id] = { single: amount(`class ${key} single`, c?.single), daily: amount(`class ${key} daily`, c?.daily) };
  }
  const currency = amount('currency', o.currency);
  if (currency > 999) throw new RiskConfigError(`currency ${currency} is not an ISO 4217 numeric code`);
  return {
    currency,
    maxTransaction: amount('maxTransaction', o.maxTransaction),
    maxOfflineAmount: amount('maxOfflineAmount', o.maxOfflineAmount),
    maxOfflineCount: amount('maxOfflineCount', o.maxOfflineCount),
    maxOfflineSeconds: amount('maxOfflineSeconds', o.maxOfflineSeconds),
    unknownTimeMaxAmount: amount('unknownTimeMaxAmount', o.unknownTimeMaxAmount),
    cvmThreshold: amount('cvmThreshold', o.cvmThreshold),
    exchangeMaxMs: amount('exchangeMaxMs', o.exchangeMaxMs ?? DEFAULT_RISK_CONFIG.exchangeMaxMs),
    payMaxMs: amount('payMaxMs', o.payMaxMs ?? DEFAULT_RISK_CONFIG.payMaxMs),
    walletClasses,
    transit: {
      deferredMaxAmount: amount('transit.deferredMaxAmount', t.deferredMaxAmount),
      unverifiedExposureCap: amount('transit.unverifiedExposureCap', t.unverifiedExposureCap),
      // Provisioning files written before the loss cap existed get the default.
      deferredLossCap: amount('transit.deferredLossCap', t.deferredLossCap ?? DEFAULT_RISK_CONFIG.transit.deferredLossCap),
      passbackSeconds: amount('transit.passbackSeconds', t.passbackSeconds),
    },
  };
}

// A wallet for the driver's tap tests and benchmark, made deterministically so Node and XS see the
// same bytes. Platform-free: the XS guest imports it too.
import { ALG_ED25519, ALG_P256 } from '../firmware/core/crypto/verify';
import type { PayRequest } from '../firmware/core/protocol/messages';
import { payCommand, readCertificateCommand, selectCommand } from '../firmware/core/protocol/apdu';
import { encodePayRequest } from '../firmware/core/protocol/messages';
import { WalletEmulator } from '../host/wallet/emulator';
import { createIssuer, issueWallet } from '../host/wallet/issuer';
import { seededRandom } from '../host/wallet/random';

export const NOW = 1_790_000_000;
export const REQUEST: Omit<PayRequest, 'challenge'> = {
  amount: 1250,
  currency: 156,
  terminalId: 'T-0001',
  merchantId: 'M-cafe',
  terminalTime: NOW,
  terminalSeq: 1,
  cvmRequired: false,
};

export function makeWallet(alg: 'p256' | 'ed25519', balance = 100_000): WalletEmulator {
  const random = seededRandom(`drivers ${alg}`);
  const a = alg === 'p256' ? ALG_P256 : ALG_ED25519;
  const issuer = createIssuer(a, random, { keyId: 7, notBefore: NOW - 86_400, notAfter: NOW + 86_400 * 365 });
  const issued = issueWallet(issuer, random, { alg: a, walletClass: 2, notBefore: NOW - 86_400, notAfter: NOW + 86_400 * 30 });
  return new WalletEmulator({ profile: 'phone', certificate: issued.certificate, secretKey: issued.keys.secretKey, balance, holderVerified: true });
}

/** The three commands of a tap and what a real wallet answered, for a replay card. */
export function recordExchange(wallet: WalletEmulator): { command: Uint8Array; response: Uint8Array }[] {
  const request = encodePayRequest({ ...REQUEST, challenge: seededRandom('challenge')(16) });
  return [selectCommand(), readCertificateCommand(), payCommand(request)].map((command) => ({ command, response: wallet.answer(command) }));
}

// Test vectors of the wallet's own rules (docs/vectors/wallet-*.json), made by the wallet emulator,
// deterministically. test/wallet-rules.test.ts checks them and that this still makes the same bytes;
// `TAPLINE_WRITE_VECTORS=1 npx mocha test/wallet-rules.test.ts` rewrites them.
import { toHex } from '../../firmware/base/bytes';
import { ALG_P256 } from '../../firmware/core/crypto/verify';
import { payCommand, readCertificateCommand, selectCommand } from '../../firmware/core/protocol/apdu';
import { certificateSignedPayload, decodeCertificate, encodePayRequest, type PayRequest } from '../../firmware/core/protocol/messages';
import { WalletEmulator } from './emulator';
import { createIssuer, issueWallet } from './issuer';
import { seededRandom } from './random';
import { VECTOR_TIME } from './vectors';

export interface OfflineCapVector {
  description: string;
  issuerKey: { keyId: number; alg: number; publicKey: string; notBefore: number; notAfter: number; revoked: boolean };
  certificate: { hex: string; tbs: string; signedPayload: string; offlineAmountCap: number; offlineCountCap: number };
  offlineSpent: { amount: number; count: number };
  exchange: { name: string; command: string; response: string }[];
}

export function makeOfflineCapVector(): OfflineCapVector {
  const random = seededRandom('tapline vectors v1 wallet offline cap');
  const issuer = createIssuer(ALG_P256, random, { keyId: 0x1001, notBefore: VECTOR_TIME - 86400 * 365, notAfter: VECTOR_TIME + 86400 * 365 });
  const issued = issueWallet(issuer, random, {
    alg: ALG_P256,
    walletClass: 2,
    notBefore: VECTOR_TIME - 86400 * 30,
    notAfter: VECTOR_TIME + 86400 * 365,
    offlineAmountCap: 30_000,
    offlineCountCap: 10,
  });
  const offlineSpent = { amount: 25_000, count: 3 };
  const wallet = new WalletEmulator({ profile: 'phone', certificate: issued.certificate, secretKey: issued.keys.secretKey, balance: 100_000, holderVerified: true, offlineSpent });
  const request = (amount: number, terminalSeq: number): Uint8Array => {
    const r: PayRequest = { challenge: random(16), amount, currency: 156, terminalId: 'T-0001', merchantId: 'M-cafe', terminalTime: VECTOR_TIME, terminalSeq, cvmRequired: false };
    return encodePayRequest(r);
  };
  const exchange = [
    { name: 'SELECT', command: selectCommand() },
    { name: 'READ CERTIFICATE', command: readCertificateCommand() },
    { name: 'PAY 100.00 over the offline amount cap (6A8A)', command: payCommand(request(10_000, 7)) },
    { name: 'PAY 40.00 within it (9000)', command: payCommand(request(4_000, 8)) },
  ].map(({ name, command }) => ({ name, command: toHex(command), response: toHex(wallet.answer(command)) }));
  const cert = decodeCertificate(issued.certificate);
  return {
    description: 'A P-256 wallet certificate with offline caps of 300.00 CNY and 10 payments since the last sync (fields 8D, 8E), and a wallet that spent 250.00 in 3 payments: PAY of 100.00 refused 6A8A, then 40.00 paid. Every value is hex unless a number.',
    issuerKey: { ...issuer.key, publicKey: toHex(issuer.key.publicKey) },
    certificate: { hex: toHex(issued.certificate), tbs: toHex(cert.tbs), signedPayload: toHex(certificateSignedPayload(cert.tbs)), offlineAmountCap: 30_000, offlineCountCap: 10 },
    offlineSpent,
    exchange,
  };
}

export const RULE_VECTOR_FILES = { 'wallet-offline-cap.json': makeOfflineCapVector } as const;

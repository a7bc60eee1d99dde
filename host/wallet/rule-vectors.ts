// Test vectors of the wallet's own rules (docs/vectors/wallet-offline-cap.json, bound-balance.json), made by the wallet emulator,
// deterministically. test/wallet-rules.test.ts checks them and that this still makes the same bytes;
// `TAPLINE_WRITE_VECTORS=1 npx mocha test/wallet-rules.test.ts` rewrites them.
import { fromHex, toHex } from '../../firmware/base/bytes';
import { present } from '../../firmware/base/assert';
import { encodeReceipt } from '../../firmware/core/protocol/receipt';
import { decodeGrant, grantSignedPayload, type GrantBody } from '../../firmware/core/protocol/purpose';
import { signGrant } from './purses';
import { ALG_P256 } from '../../firmware/core/crypto/verify';
import { payCommand, readCertificateCommand, readPurseCommand, selectCommand } from '../../firmware/core/protocol/apdu';
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

export interface BoundBalanceVector {
  description: string;
  issuerKey: OfflineCapVector['issuerKey'];
  certificate: string;
  grant: { hex: string; tbs: string; signedPayload: string; fields: Omit<GrantBody, 'issuerAlg'> & { issuerAlg: number } };
  exchange: { name: string; command: string; response: string }[];
  receipt: string;
}

export function makeBoundBalanceVector(): BoundBalanceVector {
  const random = seededRandom('tapline vectors v1 bound balance');
  const issuer = createIssuer(ALG_P256, random, { keyId: 0x1001, notBefore: VECTOR_TIME - 86400 * 365, notAfter: VECTOR_TIME + 86400 * 365 });
  const issued = issueWallet(issuer, random, { alg: ALG_P256, walletClass: 2, notBefore: VECTOR_TIME - 86400 * 30, notAfter: VECTOR_TIME + 86400 * 365 });
  const walletId = decodeCertificate(issued.certificate).walletId;
  const fields = { walletId, purse: 1, program: 'FOOD-2026', categories: [5411, 5499], regions: [101], notAfter: VECTOR_TIME + 86400 * 30 };
  const grantBytes = signGrant(issuer, fields);
  const wallet = new WalletEmulator({ profile: 'phone', certificate: issued.certificate, secretKey: issued.keys.secretKey, balance: 50_000, holderVerified: true, purses: [{ grant: grantBytes, balance: 20_000 }], payWith: 1 });
  const request = (category: number, terminalSeq: number): Uint8Array =>
    encodePayRequest({ challenge: random(16), amount: 1_250, currency: 156, terminalId: 'T-0001', merchantId: 'M-grocer', terminalTime: VECTOR_TIME, terminalSeq, cvmRequired: false, bound: { purse: 1, merchantCategory: category, region: 101 } });
  const paid = request(5411, 7);
  const exchange = [
    { name: 'SELECT', command: selectCommand() },
    { name: 'READ CERTIFICATE', command: readCertificateCommand() },
    { name: 'READ PURSE', command: readPurseCommand() },
    { name: 'PAY 12.50 from purse 1 at a grocery (5411, region 101)', command: payCommand(paid) },
    { name: 'PAY 12.50 from purse 1 at a restaurant (5812): 6A8C', command: payCommand(request(5812, 8)) },
  ].map(({ name, command }) => ({ name, command: toHex(command), response: toHex(wallet.answer(command)) }));
  const grant = decodeGrant(grantBytes);
  const response = fromHex(present(exchange[3], 'the PAY').response.slice(0, -4));
  return {
    description: 'A food subsidy: a P-256 issuer grants purse 1 (program FOOD-2026, categories 5411 and 5499, region 101, for 30 days) to a wallet holding 500.00 free and 200.00 bound; a PAY of 12.50 at a grocery is paid from the purse (balance after 187.50), one at a restaurant refused 6A8C. Every value is hex unless a number.',
    issuerKey: { ...issuer.key, publicKey: toHex(issuer.key.publicKey) },
    certificate: toHex(issued.certificate),
    grant: { hex: toHex(grantBytes), tbs: toHex(grant.tbs), signedPayload: toHex(grantSignedPayload(grant.tbs)), fields: { ...fields, issuerKeyId: issuer.key.keyId, issuerAlg: issuer.key.alg } },
    exchange,
    receipt: toHex(encodeReceipt({ terminalSeq: 7, certificate: issued.certificate, request: paid, response, deferred: false, grant: grantBytes })),
  };
}

export const RULE_VECTOR_FILES = { 'wallet-offline-cap.json': makeOfflineCapVector, 'bound-balance.json': makeBoundBalanceVector } as const;

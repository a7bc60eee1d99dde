// Produces the protocol's test vectors (docs/vectors/*.json) from the wallet emulator, deterministically.
// test/core-vectors.test.ts checks them on the terminal side and that this still produces the same
// bytes; `TAPLINE_WRITE_VECTORS=1 npx mocha test/core-vectors.test.ts` rewrites them.
import { fromHex, toHex } from '../../firmware/base/bytes';
import { ALG_ED25519, ALG_P256, algName, type Alg } from '../../firmware/core/crypto/verify';
import { payCommand, readCertificateCommand, recallCommand, selectCommand } from '../../firmware/core/protocol/apdu';
import {
  certificateSignedPayload,
  decodeCertificate,
  decodePayResponse,
  encodePayRequest,
  paymentSignedPayload,
  type PayRequest,
} from '../../firmware/core/protocol/messages';
import { encodeReceipt } from '../../firmware/core/protocol/receipt';
import { WalletEmulator } from './emulator';
import { createIssuer, issueWallet } from './issuer';
import { seededRandom } from './random';

export const VECTOR_TIME = 1_790_000_000;

export interface Vector {
  description: string;
  alg: string;
  issuerKey: { keyId: number; alg: number; publicKey: string; notBefore: number; notAfter: number; revoked: boolean };
  walletSecretKey: string;
  time: number;
  exchange: { name: string; command: string; response: string }[];
  certificate: { hex: string; tbs: string; signedPayload: string };
  request: { hex: string; fields: Omit<PayRequest, 'challenge'> & { challenge: string } };
  response: { hex: string; counter: number; balanceAfter: number; holderVerified: boolean; signedPayload: string };
  receipt: string;
  /** RECALL after the PAY: by its challenge (the response again), and by a challenge never signed. */
  recall: { name: string; command: string; response: string }[];
}

export function makeVector(alg: Alg): Vector {
  const random = seededRandom(`tapline vectors v1 ${algName(alg)}`);
  const issuer = createIssuer(alg, random, { keyId: 0x1001, notBefore: VECTOR_TIME - 86400 * 365, notAfter: VECTOR_TIME + 86400 * 365 });
  const issued = issueWallet(issuer, random, {
    alg,
    walletClass: 2,
    notBefore: VECTOR_TIME - 86400 * 30,
    notAfter: VECTOR_TIME + 86400 * 365,
    singleLimit: 500_000,
    dailyLimit: 1_000_000,
  });
  const wallet = new WalletEmulator({ profile: 'phone', certificate: issued.certificate, secretKey: issued.keys.secretKey, balance: 100_000, counter: 41, holderVerified: true });
  const fields: PayRequest = {
    challenge: random(16),
    amount: 1250,
    currency: 156,
    terminalId: 'T-0001',
    merchantId: 'M-cafe',
    terminalTime: VECTOR_TIME,
    terminalSeq: 7,
    cvmRequired: false,
  };
  const request = encodePayRequest(fields);
  const exchange = [
    { name: 'SELECT', command: selectCommand() },
    { name: 'READ CERTIFICATE', command: readCertificateCommand() },
    { name: 'PAY', command: payCommand(request) },
  ].map(({ name, command }) => ({ name, command: toHex(command), response: toHex(wallet.answer(command)) }));
  const recall = [
    { name: 'RECALL signed', command: recallCommand(fields.challenge) },
    { name: 'RECALL never signed', command: recallCommand(random(16)) },
  ].map(({ name, command }) => ({ name, command: toHex(command), response: toHex(wallet.answer(command)) }));
  const payR = exchange[2]!.response;
  const response = fromHex(payR.slice(0, -4));
  const parsed = decodePayResponse(response);
  const cert = decodeCertificate(issued.certificate);
  return {
    description: `One ${algName(alg)} payment of 12.50 CNY by a phone wallet (holder verified) at terminal T-0001. Every value is hex unless a number.`,
    alg: algName(alg),
    issuerKey: { ...issuer.key, publicKey: toHex(issuer.key.publicKey) },
    walletSecretKey: toHex(issued.keys.secretKey),
    time: VECTOR_TIME,
    exchange,
    certificate: { hex: toHex(issued.certificate), tbs: toHex(cert.tbs), signedPayload: toHex(certificateSignedPayload(cert.tbs)) },
    request: { hex: toHex(request), fields: { ...fields, challenge: toHex(fields.challenge) } },
    response: {
      hex: toHex(response),
      counter: parsed.counter,
      balanceAfter: parsed.balanceAfter,
      holderVerified: parsed.holderVerified,
      signedPayload: toHex(paymentSignedPayload(alg, issued.certificate, request, parsed.tbs)),
    },
    receipt: toHex(encodeReceipt({ terminalSeq: 7, certificate: issued.certificate, request, response, deferred: false })),
    recall,
  };
}

export const VECTOR_FILES: Record<string, Alg> = { 'pay-p256.json': ALG_P256, 'pay-ed25519.json': ALG_ED25519 };

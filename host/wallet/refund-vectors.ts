// The offline-refund test vector (docs/vectors/refund.json), made by the wallet emulator and the
// terminal's encoders, deterministically. test/refund-vectors.test.ts checks it and that this still
// makes the same bytes; `TAPLINE_WRITE_VECTORS=1 npx mocha test/refund-vectors.test.ts` rewrites it.
import { fromHex, toHex } from '../../firmware/base/bytes';
import { present } from '../../firmware/base/assert';
import { ALG_P256 } from '../../firmware/core/crypto/verify';
import { payCommand, readCertificateCommand, refundCommand, selectCommand, terminalCertificateCommand } from '../../firmware/core/protocol/apdu';
import { decodePayResponse, encodePayRequest } from '../../firmware/core/protocol/messages';
import {
  encodeRefundRecord,
  encodeRefundRequest,
  encodeRefundRequestBody,
  refundRequestSignedPayload,
  type RefundRequestBody,
} from '../../firmware/core/protocol/refund';
import { signMessage, publicKeyOf } from '../../firmware/core/uplink/sign';
import { WalletEmulator } from './emulator';
import { createIssuer, generateKeyPair, issueWallet } from './issuer';
import { seededRandom } from './random';
import { signTerminalCertificate } from './refunds';
import { VECTOR_TIME } from './vectors';

export interface RefundVector {
  description: string;
  rootKey: { alg: number; publicKey: string };
  devicePublicKey: string;
  terminalCertificate: string;
  walletCertificate: string;
  exchange: { name: string; command: string; response: string }[];
  record: string;
}

export function makeRefundVector(): RefundVector {
  const random = seededRandom('tapline vectors v1 refund');
  const issuer = createIssuer(ALG_P256, random, { keyId: 0x1001, notBefore: VECTOR_TIME - 86400 * 365, notAfter: VECTOR_TIME + 86400 * 365 });
  const root = generateKeyPair(ALG_P256, random);
  const device = generateKeyPair(ALG_P256, random);
  const forger = generateKeyPair(ALG_P256, random);
  const issued = issueWallet(issuer, random, { alg: ALG_P256, walletClass: 2, notBefore: VECTOR_TIME - 86400 * 30, notAfter: VECTOR_TIME + 86400 * 365 });
  const wallet = new WalletEmulator({ profile: 'phone', certificate: issued.certificate, secretKey: issued.keys.secretKey, balance: 50_000, holderVerified: true, refundRoot: { alg: root.alg, publicKey: root.publicKey } });
  const body = { terminalId: 'T-0001', merchantId: 'M-cafe', publicKey: publicKeyOf(ALG_P256, device.secretKey), notAfter: VECTOR_TIME + 86400 * 365 };
  const certificate = signTerminalCertificate(root, body);
  const pay = payCommand(encodePayRequest({ challenge: random(16), amount: 3_000, currency: 156, terminalId: 'T-0001', merchantId: 'M-cafe', terminalTime: VECTOR_TIME, terminalSeq: 7, cvmRequired: false }));
  const payAnswer = wallet.answer(selectCommand()) && wallet.answer(pay);
  const paid = decodePayResponse(payAnswer.subarray(0, payAnswer.length - 2));
  const refund = (refundSeq: number, amount: number): Uint8Array => {
    const r: RefundRequestBody = { refundSeq, terminalId: 'T-0001', walletId: wallet.info.walletId, originalSeq: 7, originalCounter: paid.counter, originalAmount: 3_000, originalSignature: paid.signature, amount, currency: 156, terminalTime: VECTOR_TIME + 600 };
    return encodeRefundRequest(r, signMessage(ALG_P256, device.secretKey, refundRequestSignedPayload(encodeRefundRequestBody(r))));
  };
  const first = refund(9, 1_000);
  const steps = [
    { name: 'SELECT', command: selectCommand() },
    { name: 'READ CERTIFICATE', command: readCertificateCommand() },
    { name: 'TERMINAL CERTIFICATE signed by another key: 6A8E', command: terminalCertificateCommand(signTerminalCertificate(forger, body)) },
    { name: 'TERMINAL CERTIFICATE signed by the root key', command: terminalCertificateCommand(certificate) },
    { name: 'REFUND 10.00 of payment 7 (30.00) as refund 9: credited, balance 480.00', command: refundCommand(first) },
    { name: 'REFUND 25.00 more as refund 10: over the payment, 6A8F', command: refundCommand(refund(10, 2_500)) },
    { name: 'REFUND 5.00 as refund 8 (not above 9): replayed, 6A89', command: refundCommand(refund(8, 500)) },
    { name: 'REFUND 9 again, byte for byte: the same answer, no second credit', command: refundCommand(first) },
  ];
  const exchange = steps.map(({ name, command }) => ({ name, command: toHex(command), response: toHex(wallet.answer(command)) }));
  const response = fromHex(present(exchange[4], 'the REFUND').response.slice(0, -4));
  return {
    description: 'An offline refund: a terminal certificate (T-0001 of M-cafe, its P-256 device key) signed by the provisioning root key the wallet trusts; payment 7 of 30.00 (the PAY is not in the exchange: the wallet paid it at counter 1); then refund 9 of 10.00 credited, 25.00 more refused over the payment, refund 8 refused as a replay, refund 9 repeated answered as before. record: the journal record (type 0x08). Every value is hex unless a number.',
    rootKey: { alg: root.alg, publicKey: toHex(root.publicKey) },
    devicePublicKey: toHex(body.publicKey),
    terminalCertificate: toHex(certificate),
    walletCertificate: toHex(issued.certificate),
    exchange,
    record: toHex(encodeRefundRecord({ refundSeq: 9, certificate: issued.certificate, request: first, response })),
  };
}

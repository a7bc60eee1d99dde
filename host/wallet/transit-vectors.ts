// The transit log's test vector (docs/vectors/transit-tap-off.json), made by the wallet emulator:
// a card with a tap-on in its log taps off; READ TRANSIT LOG, the PAY request naming the log (tag 8C)
// with its refund, the wallet's answer, the log after. test/fares.test.ts checks the file is what this
// still produces and that the terminal side reads it; TAPLINE_WRITE_VECTORS=1 rewrites it.
import { fromHex, toHex } from '../../firmware/base/bytes';
import { ALG_ED25519, algName } from '../../firmware/core/crypto/verify';
import { payCommand, readTransitLogCommand, selectCommand } from '../../firmware/core/protocol/apdu';
import { decodePayResponse, encodePayRequest, type PayRequest } from '../../firmware/core/protocol/messages';
import { encodeReceipt } from '../../firmware/core/protocol/receipt';
import { decodeTransitLog, TAP_OFF, TAP_ON, transitLogDigest, type TransitEntry } from '../../firmware/core/protocol/transit-log';
import { WalletEmulator } from './emulator';
import { createIssuer, issueWallet } from './issuer';
import { seededRandom } from './random';
import { VECTOR_TIME } from './vectors';

export function makeTransitVector(): Record<string, unknown> {
  const alg = ALG_ED25519;
  const random = seededRandom('tapline transit vector v1');
  const issuer = createIssuer(alg, random, { keyId: 0x1001, notBefore: VECTOR_TIME - 86400 * 365, notAfter: VECTOR_TIME + 86400 * 365 });
  const issued = issueWallet(issuer, random, { alg, walletClass: 2, notBefore: VECTOR_TIME - 86400 * 30, notAfter: VECTOR_TIME + 86400 * 365 });
  const day = Math.floor((VECTOR_TIME + 8 * 3600 - 4 * 3600) / 86400);
  const tapOn: TransitEntry = { kind: TAP_ON, transfer: false, time: VECTOR_TIME - 1500, operator: 7, station: 1, fare: 400, refund: 0, counter: 41, day, dayTotal: 600, weekTotal: 1400 };
  const wallet = new WalletEmulator({ profile: 'card', certificate: issued.certificate, secretKey: issued.keys.secretKey, balance: 10_000, counter: 41, transitLog: [tapOn] });
  const read = wallet.answer(selectCommand()) && wallet.answer(readTransitLogCommand());
  const log = read.subarray(0, read.length - 2);
  const fields: PayRequest = {
    challenge: random(16), amount: 0, currency: 156, terminalId: 'G-0003', merchantId: 'M-metro', terminalTime: VECTOR_TIME, terminalSeq: 12, cvmRequired: false,
    transit: { logDigest: transitLogDigest(log), kind: TAP_OFF, transfer: false, operator: 7, station: 3, day, refund: 100 },
  };
  const request = encodePayRequest(fields);
  const pay = wallet.answer(payCommand(request));
  const response = pay.subarray(0, pay.length - 2);
  const parsed = decodePayResponse(response);
  const after = wallet.answer(readTransitLogCommand());
  return {
    description: `A tap-off (${algName(alg)} card): the log holds a tap-on at station 1 charged 4.00 (the most from there); the journey to station 3 costs 3.00, so the PAY request (amount 0) refunds 1.00. Every value is hex unless a number.`,
    issuerKey: { ...issuer.key, publicKey: toHex(issuer.key.publicKey) },
    certificate: toHex(issued.certificate),
    readTransitLog: { command: toHex(readTransitLogCommand()), response: toHex(read), entries: decodeTransitLog(log).entries },
    logDigest: toHex(transitLogDigest(log)),
    pay: { command: toHex(payCommand(request)), request: { ...fields, challenge: toHex(fields.challenge), transit: { ...fields.transit, logDigest: toHex(fields.transit!.logDigest) } }, response: toHex(pay), counter: parsed.counter, balanceAfter: parsed.balanceAfter },
    logAfter: { response: toHex(after), entries: decodeTransitLog(fromHex(toHex(after.subarray(0, after.length - 2)))).entries },
    receipt: toHex(encodeReceipt({ terminalSeq: 12, certificate: issued.certificate, request, response, deferred: true, transitLog: log })),
  };
}

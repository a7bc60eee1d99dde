// The in-doubt reconciliation vector (docs/vectors/in-doubt-sync.json), made deterministically from the
// wallet emulator and the wire codecs: a PAY whose answer the terminal never got, the intent it
// journaled, the batch that carries it (A9), the wallet's sync that shows the signed exchange, the
// receipt the service makes of the two, and the answer's A9 telling the terminal. Checked by
// test/settlement-intents.test.ts; `TAPLINE_WRITE_VECTORS=1` rewrites it.
import { toHex } from '../../firmware/base/bytes';
import { ALG_P256 } from '../../firmware/core/crypto/verify';
import { payCommand, readCertificateCommand, selectCommand } from '../../firmware/core/protocol/apdu';
import { encodeIntent } from '../../firmware/core/protocol/intent';
import { encodePayRequest } from '../../firmware/core/protocol/messages';
import { encodeReceipt } from '../../firmware/core/protocol/receipt';
import { publicKeyOf } from '../../firmware/core/uplink/sign';
import { encodeBatch, encodeBatchResponse, INTENT_RECOVERED } from '../../firmware/core/uplink/wire';
import { WalletEmulator } from './emulator';
import { createIssuer, generateKeyPair, issueWallet } from './issuer';
import { seededRandom } from './random';
import { VECTOR_TIME } from './vectors';

export const IN_DOUBT_VECTOR_FILE = 'in-doubt-sync.json';

export function makeInDoubtVector(): Record<string, unknown> {
  const random = seededRandom('tapline vectors v1 in-doubt sync');
  const issuer = createIssuer(ALG_P256, random, { keyId: 0x1001, notBefore: VECTOR_TIME - 86400 * 365, notAfter: VECTOR_TIME + 86400 * 365 });
  const issued = issueWallet(issuer, random, { alg: ALG_P256, walletClass: 2, notBefore: VECTOR_TIME - 86400 * 30, notAfter: VECTOR_TIME + 86400 * 365 });
  const device = generateKeyPair(ALG_P256, random).secretKey;
  const root = generateKeyPair(ALG_P256, random).secretKey;
  const wallet = new WalletEmulator({ profile: 'phone', certificate: issued.certificate, secretKey: issued.keys.secretKey, balance: 100_000, counter: 41, holderVerified: true });
  const request = encodePayRequest({
    challenge: random(16), amount: 3000, currency: 156, terminalId: 'T-0001', merchantId: 'M-cafe', terminalTime: VECTOR_TIME, terminalSeq: 7, cvmRequired: false,
  });
  const intent = encodeIntent({ terminalSeq: 7, walletId: wallet.info.walletId, counterFloor: 41, request });
  for (const c of [selectCommand(), readCertificateCommand()]) wallet.answer(c);
  const pay = wallet.answer(payCommand(request));
  const response = pay.subarray(0, pay.length - 2);
  const batchNonce = random(16);
  const syncNonce = random(16);
  return {
    description:
      'A PAY of 30.00 CNY the wallet signed (counter 42) whose answer the terminal never got: the intent it journaled, the batch of no receipts that carries it (A9), ' +
      "the wallet's sync over the service's nonce, the receipt the service makes of the intent's request and the wallet's response, and the answer's A9 (recovered). Hex unless a number.",
    issuerKey: { ...issuer.key, publicKey: toHex(issuer.key.publicKey) },
    walletSecretKey: toHex(issued.keys.secretKey),
    certificate: toHex(issued.certificate),
    devicePublicKey: toHex(publicKeyOf(ALG_P256, device)),
    rootPublicKey: toHex(publicKeyOf(ALG_P256, root)),
    request: toHex(request),
    payResponse: toHex(response),
    intent: toHex(intent),
    batch: toHex(encodeBatch({ terminalId: 'T-0001', nonce: batchNonce, wallTime: VECTOR_TIME + 60, denyListVersion: 0, keyringVersion: 1, configVersion: 0, items: [], intents: [intent] }, device)),
    syncNonce: toHex(syncNonce),
    walletSync: toHex(wallet.syncMessage(syncNonce)),
    receipt: toHex(encodeReceipt({ terminalSeq: 7, certificate: issued.certificate, request, response, deferred: false })),
    batchResponse: toHex(encodeBatchResponse({ terminalId: 'T-0001', nonce: batchNonce, ackedUpTo: 0, results: [], updates: [], intents: [{ terminalSeq: 7, outcome: INTENT_RECOVERED }] }, ALG_P256, root)),
  };
}

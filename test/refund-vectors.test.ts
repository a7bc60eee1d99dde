// docs/vectors/refund.json: what the emulator and the encoders make, and that its signatures check
// with nothing but the public keys in the file (an independent implementation can start here).
import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { fromHex } from '../firmware/base/bytes';
import { ALG_P256, verifySignature } from '../firmware/core/crypto/verify';
import { certificateDigest, decodeCertificate } from '../firmware/core/protocol/messages';
import {
  decodeRefundRecord,
  decodeRefundRequest,
  decodeRefundResponse,
  decodeTerminalCertificate,
  refundRequestSignedPayload,
  refundSignedPayload,
  terminalCertificateSignedPayload,
} from '../firmware/core/protocol/refund';
import { makeRefundVector } from '../host/wallet/refund-vectors';

const file = new URL('../docs/vectors/refund.json', import.meta.url);

describe('offline refund vector (docs/vectors/refund.json)', () => {
  it('is what the emulator produces', () => {
    const made = makeRefundVector();
    if (process.env.TAPLINE_WRITE_VECTORS === '1') writeFileSync(file, `${JSON.stringify(made, null, 2)}\n`);
    expect(JSON.parse(readFileSync(file, 'utf8'))).to.deep.equal(made);
  });

  it('checks with the public keys alone: root over the terminal certificate, device key over the request, wallet over the response', () => {
    const v = JSON.parse(readFileSync(file, 'utf8'));
    const cert = decodeTerminalCertificate(fromHex(v.terminalCertificate));
    expect(verifySignature(ALG_P256, fromHex(v.rootKey.publicKey), terminalCertificateSignedPayload(cert.tbs), cert.signature)).to.equal(true);
    const record = decodeRefundRecord(fromHex(v.record));
    const request = decodeRefundRequest(record.request);
    expect(verifySignature(ALG_P256, cert.publicKey, refundRequestSignedPayload(request.tbs), request.signature)).to.equal(true);
    const wallet = decodeCertificate(record.certificate);
    const response = decodeRefundResponse(record.response!);
    expect(verifySignature(wallet.alg, wallet.publicKey, refundSignedPayload(wallet.alg, certificateDigest(record.certificate), record.request, response.tbs), response.signature)).to.equal(true);
    expect(v.exchange.map((s: { response: string }) => s.response.slice(-4))).to.deep.equal(['9000', '9000', '6a8e', '9000', '9000', '6a8f', '6a89', '9000']);
    expect(v.exchange[7].response).to.equal(v.exchange[4].response);
    expect(response.balanceAfter).to.equal(48_000);
  });
});

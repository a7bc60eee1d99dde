import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { fromHex, toHex } from '../firmware/base/bytes';
import { Keyring } from '../firmware/core/crypto/keyring';
import { Verifier } from '../firmware/core/crypto/verifier';
import { verifySignature, type Alg } from '../firmware/core/crypto/verify';
import { decodeCertificate, decodePayRequest, decodePayResponse, certificateSignedPayload, paymentSignedPayload } from '../firmware/core/protocol/messages';
import { decodeReceipt } from '../firmware/core/protocol/receipt';
import { verifyReceipt } from '../firmware/core/crypto/receipt';
import { decodeRecallResponse, judgeRecall } from '../firmware/core/protocol/intent';
import { decodeResponse } from '../firmware/core/protocol/apdu';
import { DEFAULT_RISK_CONFIG } from '../firmware/core/risk/config';
import { RiskEngine } from '../firmware/core/risk/engine';
import { VirtualClock } from '../firmware/base/platform';
import { Terminal } from '../firmware/core/terminal/terminal';
import { makeVector, VECTOR_FILES, type Vector } from '../host/wallet/vectors';
import { XSScenario } from '../host/xs/scenario';
import { MemoryJournal, outcomeOf } from './xs/core-scenarios';

const dir = new URL('../docs/vectors/', import.meta.url);
const load = (file: string): Vector => JSON.parse(readFileSync(new URL(file, dir), 'utf8'));

if (process.env.TAPLINE_WRITE_VECTORS) {
  for (const [file, alg] of Object.entries(VECTOR_FILES)) writeFileSync(new URL(file, dir), `${JSON.stringify(makeVector(alg), null, 2)}\n`);
}

function issuerKey(v: Vector) {
  return { ...v.issuerKey, alg: v.issuerKey.alg as Alg, publicKey: fromHex(v.issuerKey.publicKey) };
}

describe('payment core: protocol test vectors (docs/vectors)', () => {
  for (const [file, alg] of Object.entries(VECTOR_FILES)) {
    describe(file, () => {
      const v = load(file);

      it('is what the wallet emulator produces', () => {
        expect(makeVector(alg)).to.deep.equal(v);
      });

      it('decodes to the fields it states, and its signed payloads verify', () => {
        const cert = decodeCertificate(fromHex(v.certificate.hex));
        expect(toHex(cert.tbs)).to.equal(v.certificate.tbs);
        expect(toHex(certificateSignedPayload(cert.tbs))).to.equal(v.certificate.signedPayload);
        expect(verifySignature(v.issuerKey.alg as Alg, fromHex(v.issuerKey.publicKey), fromHex(v.certificate.signedPayload), cert.signature)).to.equal(true);
        const request = decodePayRequest(fromHex(v.request.hex));
        expect({ ...request, challenge: toHex(request.challenge) }).to.deep.equal(v.request.fields);
        const response = decodePayResponse(fromHex(v.response.hex));
        expect([response.counter, response.balanceAfter, response.holderVerified]).to.deep.equal([v.response.counter, v.response.balanceAfter, v.response.holderVerified]);
        const payload = paymentSignedPayload(cert.alg, cert.bytes, fromHex(v.request.hex), response.tbs);
        expect(toHex(payload)).to.equal(v.response.signedPayload);
        expect(verifySignature(cert.alg, cert.publicKey, payload, response.signature)).to.equal(true);
        expect(verifyReceipt(fromHex(v.receipt), [issuerKey(v)], v.time).ok).to.equal(true);
      });

      it('RECALL answers the signed response by its challenge, and "never signed" for another', () => {
        const [signed, never] = v.recall.map((r) => decodeRecallResponse(decodeResponse(fromHex(r.response)).data));
        expect(toHex(signed!.response!)).to.equal(v.response.hex);
        // The wallet was made at counter 41: it holds every response from 42, so 41 as the floor proves "never".
        expect(signed!.heldFrom).to.equal(42);
        expect(never!.response).to.equal(undefined);
        const intent = { terminalSeq: 8, walletId: '', counterFloor: 41, request: new Uint8Array(0) };
        expect([judgeRecall(intent, never!), judgeRecall({ ...intent, counterFloor: 0 }, never!), judgeRecall(intent, signed!)]).to.deep.equal(['unsigned', 'unknown', 'signed']);
      });

      it('is approved by a terminal replaying the recorded exchange', async () => {
        const clock = new VirtualClock({ wallTime: v.time });
        const risk = new RiskEngine({ config: DEFAULT_RISK_CONFIG, settledAt: v.time - 60 });
        const journal = new MemoryJournal();
        const terminal = new Terminal({
          mode: 'merchant',
          terminalId: v.request.fields.terminalId,
          merchantId: v.request.fields.merchantId,
          verifier: new Verifier({ keyring: new Keyring([issuerKey(v)]) }),
          risk,
          journal,
          clock,
          random: () => fromHex(v.request.fields.challenge),
          nextSeq: v.request.fields.terminalSeq,
        });
        let step = 0;
        const link = {
          transceive: async (apdu: Uint8Array) => {
            const s = v.exchange[step++]!;
            expect(toHex(apdu), s.name).to.equal(s.command);
            return fromHex(s.response);
          },
        };
        for (const key of [...`${v.request.fields.amount}#`]) await terminal.handle({ type: 'key', key: key as any });
        expect(outcomeOf(await terminal.handle({ type: 'card', link }))).to.equal('approved');
        expect(toHex(journal.records[0]!.payload)).to.equal(v.receipt);
      });

      it('hashes the certificate once per tap through the verifier\'s port, and the payment check uses that digest', async () => {
        const tap = async (sha256: (parts: Uint8Array[]) => Uint8Array) => {
          const terminal = new Terminal({
            mode: 'merchant',
            terminalId: v.request.fields.terminalId,
            merchantId: v.request.fields.merchantId,
            verifier: new Verifier({ keyring: new Keyring([issuerKey(v)]), sha256 }),
            risk: new RiskEngine({ config: DEFAULT_RISK_CONFIG, settledAt: v.time - 60 }),
            journal: new MemoryJournal(),
            clock: new VirtualClock({ wallTime: v.time }),
            random: () => fromHex(v.request.fields.challenge),
            nextSeq: v.request.fields.terminalSeq,
          });
          let step = 0;
          const link = { transceive: async () => fromHex(v.exchange[step++]!.response) };
          for (const key of [...`${v.request.fields.amount}#`]) await terminal.handle({ type: 'key', key: key as any });
          return outcomeOf(await terminal.handle({ type: 'card', link }));
        };
        let calls = 0;
        const counted = (parts: Uint8Array[]) => (calls++, createHash('sha256').update(Buffer.concat(parts)).digest());
        expect(await tap(counted)).to.equal('approved');
        expect(calls, 'cache lookup, verdict and payment payload share one digest').to.equal(1);
        expect(await tap(() => new Uint8Array(32))).to.equal('badSignature');
      });

      it('refuses the vector with any signed byte changed', () => {
        const receipt = decodeReceipt(fromHex(v.receipt));
        const request = receipt.request.slice();
        request[request.length - 10]! ^= 1; // inside the terminal sequence number
        const check = verifyReceipt({ ...receipt, request }, [issuerKey(v)], v.time);
        expect(check.ok).to.equal(false);
      });
    });
  }

  describe('on the XS engine @xs', () => {
    let xs: XSScenario;
    before(async () => (xs = await XSScenario.load('test/xs/core.guest.ts')));
    after(() => xs?.close());
    for (const file of Object.keys(VECTOR_FILES)) {
      it(`${file}: the receipt verifies in XS as on Node`, async () => {
        const v = load(file);
        const { value } = await xs.call<{ ok: boolean; vector: Vector }>('vector', { file, receipt: v.receipt, issuerKey: v.issuerKey, time: v.time });
        expect(value.ok).to.equal(true);
        expect(value.vector).to.deep.equal(v);
      });
    }
  });
});

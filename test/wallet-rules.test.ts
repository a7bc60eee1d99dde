import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { fromHex, toHex } from '../firmware/base/bytes';
import { verifySignature } from '../firmware/core/crypto/verify';
import { decodeCertificate } from '../firmware/core/protocol/messages';
import { makeBoundBalanceVector, makeOfflineCapVector, RULE_VECTOR_FILES } from '../host/wallet/rule-vectors';
import { decodeGrant } from '../firmware/core/protocol/purpose';
import { verifyReceipt } from '../firmware/core/crypto/receipt';
import { ALG_ED25519, ALG_P256, algName, type Alg } from '../firmware/core/crypto/verify';
import { XSScenario } from '../host/xs/scenario';
import { WALLET_RULE_SCENARIOS } from './xs/wallet-rules-scenarios';

const ALGS: Alg[] = [ALG_P256, ALG_ED25519];

describe("the wallet's own rules through the terminal, on Node", () => {
  for (const alg of ALGS) {
    describe(algName(alg), () => {
      for (const [name, s] of Object.entries(WALLET_RULE_SCENARIOS)) {
        it(`${name}: ${s.expect}`, async () => {
          expect(await s.run(alg)).to.equal(s.expect);
        });
      }
    });
  }
});

describe("the wallet's own rules on the XS engine @xs", () => {
  let xs: XSScenario;
  before(async () => (xs = await XSScenario.load('test/xs/wallet-rules.guest.ts')));
  after(() => xs?.close());

  it('runs every scenario the Node suite runs', async () => {
    expect((await xs.call<string[]>('names')).value).to.deep.equal(Object.keys(WALLET_RULE_SCENARIOS));
  });

  for (const alg of ALGS) {
    describe(algName(alg), () => {
      for (const [name, s] of Object.entries(WALLET_RULE_SCENARIOS)) {
        it(`${name}: ${s.expect}`, async () => {
          expect((await xs.call<string>('scenario', { name, alg })).value).to.equal(s.expect);
        });
      }
    });
  }
});

describe('wallet rule vectors (docs/vectors/wallet-*.json)', () => {
  const dir = new URL('../docs/vectors/', import.meta.url);
  if (process.env.TAPLINE_WRITE_VECTORS) {
    for (const [file, make] of Object.entries(RULE_VECTOR_FILES)) writeFileSync(new URL(file, dir), `${JSON.stringify(make(), null, 2)}\n`);
  }

  it('wallet-offline-cap.json is what the emulator produces; its caps are signed and PAY over them is 6A8A', () => {
    const v = JSON.parse(readFileSync(new URL('wallet-offline-cap.json', dir), 'utf8'));
    expect(makeOfflineCapVector()).to.deep.equal(v);
    const cert = decodeCertificate(fromHex(v.certificate.hex));
    expect([cert.offlineAmountCap, cert.offlineCountCap]).to.deep.equal([30_000, 10]);
    expect(toHex(cert.tbs)).to.equal(v.certificate.tbs);
    expect(verifySignature(v.issuerKey.alg, fromHex(v.issuerKey.publicKey), fromHex(v.certificate.signedPayload), cert.signature)).to.equal(true);
    expect(v.exchange.map((e: { response: string }) => e.response.slice(-4))).to.deep.equal(['9000', '9000', '6a8a', '9000']);
  });

  it('bound-balance.json is what the emulator produces; the grant is signed, the grocery PAY paid from purse 1, the restaurant PAY 6A8C; the receipt re-verifies', () => {
    const v = JSON.parse(readFileSync(new URL('bound-balance.json', dir), 'utf8'));
    expect(makeBoundBalanceVector()).to.deep.equal(v);
    const grant = decodeGrant(fromHex(v.grant.hex));
    expect(toHex(grant.tbs)).to.equal(v.grant.tbs);
    expect(verifySignature(v.issuerKey.alg, fromHex(v.issuerKey.publicKey), fromHex(v.grant.signedPayload), grant.signature)).to.equal(true);
    expect(v.exchange.map((e: { response: string }) => e.response.slice(-4))).to.deep.equal(['9000', '9000', '9000', '9000', '6a8c']);
    const key = { ...v.issuerKey, publicKey: fromHex(v.issuerKey.publicKey) };
    const check = verifyReceipt(fromHex(v.receipt), [key], v.grant.fields.notAfter - 86400);
    expect(check.ok && [check.request.bound, check.response.balanceAfter, check.grant?.program]).to.deep.equal([{ purse: 1, merchantCategory: 5411, region: 101 }, 18_750, 'FOOD-2026']);
  });
});

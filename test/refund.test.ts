import { expect } from 'chai';
import { XSScenario } from '../host/xs/scenario';
import { ALG_ED25519, ALG_P256, algName } from '../firmware/core/crypto/verify';
import { REFUND_SCENARIOS, runRefundCampaign, type RefundCampaignResult } from './refund-scenarios';

// Offline refunds (docs/PROTOCOL.md "Offline refunds"): the keypad flow behind the merchant PIN, the
// wallet's checks, and a power cut at every step of a refund, on Node and on the XS engine.
function report(name: string, r: RefundCampaignResult): void {
  console.log(`      ${name}: ${r.cuts} cuts tried, ${r.inDoubt} left a refund in doubt, ${r.recovered} settled at the next tap`);
}

describe('offline refunds', () => {
  for (const alg of [ALG_P256, ALG_ED25519] as const) {
    describe(`wallet ${algName(alg)}`, () => {
      for (const [name, s] of Object.entries(REFUND_SCENARIOS)) {
        it(name, async function () {
          this.timeout(60_000);
          expect(await s.run(alg)).to.equal(s.expect);
        });
      }
    });
  }

  it('a power cut at every step of a refund: no money made, no refund lost', async function () {
    this.timeout(600_000);
    const r = await runRefundCampaign(ALG_P256);
    report('Node P-256', r);
    expect(r.failures.slice(0, 5)).to.deep.equal([]);
    expect(r.cuts).to.be.at.least(10);
    expect(r.inDoubt).to.be.greaterThan(0);
    expect(r.recovered).to.be.greaterThan(0);
  });

  describe('on the XS engine @xs', () => {
    let xs: XSScenario;
    before(async function () {
      this.timeout(120_000);
      xs = await XSScenario.load('test/xs/refund.guest.ts');
    });
    after(() => xs?.close());
    for (const [name, s] of Object.entries(REFUND_SCENARIOS)) {
      it(name, async function () {
        this.timeout(120_000);
        const { value } = await xs.call<string>('scenario', { name, alg: ALG_P256 });
        expect(value).to.equal(s.expect);
      });
    }
    it('a power cut at every step of a refund: no money made, no refund lost', async function () {
      this.timeout(900_000);
      const { value: r } = await xs.call<RefundCampaignResult>('campaign', { alg: ALG_ED25519 });
      report('XS Ed25519', r);
      expect(r.failures.slice(0, 5)).to.deep.equal([]);
      expect(r.inDoubt).to.be.greaterThan(0);
    });
  });
});

import { expect } from 'chai';
import { XSScenario } from '../host/xs/scenario';
import { ALG_ED25519, ALG_P256, algName } from '../firmware/core/crypto/verify';
import { runCampaign, type CampaignResult } from './in-doubt-campaign';

// A cut at every step of a tap (every flash write and erase, every APDU boundary), and at every step
// of the recovering tap after it: for every cut, either the wallet was not debited or a receipt for
// that exact payment reaches settlement (test/in-doubt-campaign.ts).
function report(name: string, r: CampaignResult): void {
  console.log(`      ${name}: ${r.cuts} cuts tried, ${r.inDoubt} left a payment in doubt (next tap: ${JSON.stringify(r.outcomes)}), ${r.lost} payments lost`);
}

describe('power cut at every step of a tap', () => {
  const cases: [string, number[], boolean][] = [
    ['on an empty partition (the tap opens the first block)', [], true],
    ['the tap and the recovering tap open new blocks', [10, 20, 30], true],
    ['after an upload acknowledged seven payments', [10, 20, 30, 40, 50, 60, 70], false],
  ];
  for (const [name, priors, nested] of cases) {
    it(`${name}: 0 lost payments, no sequence reused`, async function () {
      this.timeout(600_000);
      const r = await runCampaign({ priors, nested });
      report(name, r);
      expect(r.failures.slice(0, 5)).to.deep.equal([]);
      expect(r.lost).to.equal(0);
      expect(r.inDoubt).to.be.greaterThan(0);
      expect(r.outcomes.recovered).to.be.greaterThan(0);
      expect(r.outcomes.released).to.be.greaterThan(0);
    });
  }

  it('a purpose-bound purse at a grocery: 0 lost, each recovered receipt the uncut one byte for byte (its grant kept)', async function () {
    this.timeout(600_000);
    const r = await runCampaign({ priors: [10, 20, 30], nested: true, bound: true });
    report('bound purse', r);
    expect(r.failures.slice(0, 5)).to.deep.equal([]);
    expect(r.lost).to.equal(0);
    expect(r.cuts).to.be.at.least(20);
    expect(r.outcomes.recovered).to.be.greaterThan(0);
    expect(r.outcomes.released).to.be.greaterThan(0);
    expect(r.outcomes.unresolved ?? 0).to.equal(0);
  });

  it('a gate that remembers 30 other riders (a state checkpoint of two records, deltas between): 0 lost, the riders and the counter kept', async function () {
    this.timeout(600_000);
    const r = await runCampaign({ priors: [10, 20, 30], nested: true, crowd: 30 });
    report('crowd of 30', r);
    console.log(`      crowd of 30: ${r.deltas} runs ended with a delta checkpoint in the journal`);
    expect(r.failures.slice(0, 5)).to.deep.equal([]);
    expect(r.lost).to.equal(0);
    expect(r.deltas).to.be.greaterThan(0);
    expect(r.outcomes.recovered).to.be.greaterThan(0);
  });

  describe('on the XS engine @xs', () => {
    let xs: XSScenario;
    before(async function () {
      this.timeout(120_000);
      xs = await XSScenario.load('test/xs/in-doubt.guest.ts');
    });
    after(() => xs?.close());
    for (const [alg, priors, bound] of [[ALG_P256, [10, 20, 30], false], [ALG_ED25519, [], false], [ALG_ED25519, [10, 20, 30], true]] as const) {
      it(`${algName(alg)}${bound ? ', a purpose-bound purse' : ''}: 0 lost payments, no sequence reused`, async function () {
        this.timeout(900_000);
        const { value: r } = await xs.call<CampaignResult>('campaign', { alg, priors, nested: false, bound });
        report(`XS ${algName(alg)}${bound ? ' bound purse' : ''}`, r);
        if (bound) expect(r.outcomes.unresolved ?? 0).to.equal(0);
        expect(r.failures.slice(0, 5)).to.deep.equal([]);
        expect(r.lost).to.equal(0);
        expect(r.cuts).to.be.at.least(8);
        expect(r.outcomes.recovered).to.be.greaterThan(0);
      });
    }
  });
});

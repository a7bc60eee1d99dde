import { expect } from 'chai';
import { XSScenario } from '../host/xs/scenario';
import { ALG_ED25519, ALG_P256, algName } from '../firmware/core/crypto/verify';
import { DAY_TOTALS_SCENARIOS } from './day-totals-scenarios';

describe('the merchant day totals', () => {
  for (const alg of [ALG_P256, ALG_ED25519] as const) {
    describe(`wallet ${algName(alg)}`, () => {
      for (const [name, s] of Object.entries(DAY_TOTALS_SCENARIOS)) {
        it(`${name}`, async function () {
          this.timeout(60_000);
          expect(await s.run(alg)).to.equal(s.expect);
        });
      }
    });
  }

  describe('on the XS engine @xs', () => {
    let xs: XSScenario;
    before(async function () {
      this.timeout(120_000);
      xs = await XSScenario.load('test/xs/day-totals.guest.ts');
    });
    after(() => xs?.close());
    for (const [name, s] of Object.entries(DAY_TOTALS_SCENARIOS)) {
      it(`${name}`, async function () {
        this.timeout(120_000);
        expect((await xs.call<string>('scenario', { name, alg: ALG_P256 })).value).to.equal(s.expect);
      });
    }
  });
});

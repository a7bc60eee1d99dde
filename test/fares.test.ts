import { expect } from 'chai';
import { ALG_ED25519, ALG_P256, algName, type Alg } from '../firmware/core/crypto/verify';
import { XSScenario } from '../host/xs/scenario';
import { FARE_SCENARIOS } from './xs/fares-scenarios';

const ALGS: Alg[] = [ALG_P256, ALG_ED25519];

describe('transit fares: each rule and each attack on the log, on Node', () => {
  for (const alg of ALGS) {
    describe(algName(alg), () => {
      for (const [name, s] of Object.entries(FARE_SCENARIOS)) {
        it(`${name}: ${s.expect}`, async () => {
          expect(await s.run(alg)).to.equal(s.expect);
        });
      }
    });
  }
});

describe('transit fares: the same scenarios on the XS engine @xs', () => {
  let xs: XSScenario;
  before(async () => (xs = await XSScenario.load('test/xs/fares.guest.ts')));
  after(() => xs?.close());

  it('runs every scenario the Node suite runs', async () => {
    expect((await xs.call<string[]>('names')).value).to.deep.equal(Object.keys(FARE_SCENARIOS));
  });

  for (const alg of ALGS) {
    describe(algName(alg), () => {
      for (const [name, s] of Object.entries(FARE_SCENARIOS)) {
        it(`${name}: ${s.expect}`, async () => {
          expect((await xs.call<string>('scenario', { name, alg })).value).to.equal(s.expect);
        });
      }
    });
  }
});

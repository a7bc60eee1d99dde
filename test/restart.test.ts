import { expect } from 'chai';
import { XSScenario } from '../host/xs/scenario';
import { RESTART_SCENARIOS } from './xs/restart-scenarios';

describe('bugs restart the device, operating errors do not, on Node', () => {
  for (const [name, s] of Object.entries(RESTART_SCENARIOS)) {
    it(`${name}: ${s.expect}`, async () => {
      expect(await s.run()).to.equal(s.expect);
    });
  }
});

describe('bugs restart the device, operating errors do not, on the XS engine @xs', () => {
  let xs: XSScenario;
  before(async () => (xs = await XSScenario.load('test/xs/restart.guest.ts')));
  after(() => xs?.close());

  it('runs every scenario the Node suite runs', async () => {
    expect((await xs.call<string[]>('names')).value).to.deep.equal(Object.keys(RESTART_SCENARIOS));
  });

  for (const [name, s] of Object.entries(RESTART_SCENARIOS)) {
    it(`${name}: ${s.expect}`, async () => {
      expect((await xs.call<string>('scenario', name)).value).to.equal(s.expect);
    });
  }
});

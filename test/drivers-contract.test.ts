// The driver contract of drivers/README.md, checked for every driver (PN532 on each bus, NfcReader and
// IsoDep, SSD1306 and Display, Keypad, Buzzer and Feedback) on the simulated IO classes, which keep
// ECMA-419's rules ("in use" on a second open, "closed" on use after close): the driver opens its IO
// with the datasheet defaults, refuses an option out of range with a RangeError, closes twice without
// harm, throws when used after close, and frees its bus when its init fails. The scenarios live in
// test/xs/drivers-contract-scenarios.ts and run the same on Node and on the XS engine; each returns the
// checks that failed, by name.
import { expect } from 'chai';
import { XSScenario } from '../host/xs/scenario';
import { CONTRACT_SCENARIOS, runContract } from './xs/drivers-contract-scenarios';

describe('drivers: the driver contract on Node', () => {
  for (const name of CONTRACT_SCENARIOS) {
    it(name, async () => {
      expect(await runContract(name)).to.deep.equal([]);
    });
  }

  it('a broken rule is reported by name, not passed over', async () => {
    expect(await runContract('no such driver')).to.deep.equal(['no scenario "no such driver"']);
  });
});

describe('drivers: the driver contract on the XS engine @xs', () => {
  let xs: XSScenario;
  before(async () => (xs = await XSScenario.load('test/xs/drivers-contract.guest.ts')));
  after(() => xs?.close());

  it('runs every scenario the Node suite runs', async () => {
    expect((await xs.call<string[]>('names')).value).to.deep.equal(CONTRACT_SCENARIOS);
  });

  for (const name of CONTRACT_SCENARIOS) {
    it(name, async () => {
      expect((await xs.call<string[]>('scenario', { name })).value).to.deep.equal([]);
    });
  }
});

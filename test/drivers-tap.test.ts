import { expect } from 'chai';
import { seededRandom } from '../host/wallet/random';
import { ReplayCard, TapBench, type TapExchangeOutcome } from '../host/sim/hw/tap-exchange';
import { XSScenario } from '../host/xs/scenario';
import { makeWallet, recordExchange, REQUEST } from './drivers-wallet';

const VIAS = ['i2c', 'spi', 'uart'] as const;

function checkOutcome(o: TapExchangeOutcome, via: string): void {
  expect(o.via).to.equal(via);
  expect(o.uid).to.equal('08123456');
  expect(o.signatureChecked).to.equal(true);
  expect(o.counter).to.equal(1);
  expect(o.balanceAfter).to.equal(100_000 - REQUEST.amount);
  expect(o.certificateBytes).to.be.within(150, 260);
}

describe('drivers: a full tap through the reader and the wallet emulator on Node', () => {
  for (const via of VIAS)
    for (const alg of ['p256', 'ed25519'] as const)
      it(`${alg} over ${via}: SELECT, certificate, PAY, signature checked`, async () => {
        const bench = new TapBench({ via });
        await bench.begin();
        const wallet = makeWallet(alg);
        checkOutcome(await bench.tap(wallet, { random: seededRandom('node tap'), request: REQUEST }), via);
        // a second tap reaches the wallet again: its counter moves on
        expect((await bench.tap(wallet, { random: seededRandom('again'), request: REQUEST })).counter).to.equal(2);
      });

  it('a link names its card and activation; it is over once the reader activates another card', async () => {
    const bench = new TapBench({ via: 'i2c' });
    await bench.begin();
    const { rig } = bench;
    rig.chip.placeCard(makeWallet('p256'));
    const first = (await rig.reader.waitForCard(500))!;
    const session = first.link.session();
    expect(session).to.match(/^[0-9a-f]{8,20}\/1$/);
    await rig.reader.release(first);
    rig.chip.removeCard();
    rig.chip.placeCard(makeWallet('ed25519'));
    const second = (await rig.reader.waitForCard(500))!;
    expect(second.link.session()).to.match(/\/2$/);
    // The first link's session changed under it: a tap still holding it sees the swap.
    expect(first.link.session()).to.not.equal(session);
  });

  it('a replayed exchange carries the same bytes without the cryptography', async () => {
    const bench = new TapBench({ via: 'i2c' });
    await bench.begin();
    const o = await bench.tap(new ReplayCard(recordExchange(makeWallet('p256'))), { random: () => new Uint8Array(16), request: REQUEST, verify: false });
    expect(o.counter).to.equal(1);
    expect(o.busBytes).to.be.greaterThan(500);
  });
});

describe('drivers: the same tap on the XS engine @xs', () => {
  let xs: XSScenario;
  before(async () => (xs = await XSScenario.load('test/xs/drivers-tap.guest.ts')));
  after(() => xs?.close());

  for (const via of VIAS)
    it(`p256 over ${via} in XS gives what Node gives`, async () => {
      const { value } = await xs.call<TapExchangeOutcome>('tap', { via, alg: 'p256' });
      checkOutcome(value, via);
      const bench = new TapBench({ via });
      await bench.begin();
      const node = await bench.tap(makeWallet('p256'), { random: seededRandom('xs tap'), request: REQUEST });
      expect(value).to.deep.equal(node);
    });

  it('ed25519 over i2c in XS', async () => {
    checkOutcome((await xs.call<TapExchangeOutcome>('tap', { via: 'i2c', alg: 'ed25519' })).value, 'i2c');
  });

  it('meters the reader stack alone for one tap', async () => {
    await xs.call('prepare', { via: 'i2c' });
    const { value, meter } = await xs.call<TapExchangeOutcome>('replayTap');
    expect(value.counter).to.equal(1);
    expect(meter.compute).to.be.greaterThan(0);
  });
});

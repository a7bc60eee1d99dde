// Purpose-bound funds at settlement: a bound payment booked to its program's account, not the wallet's
// owner; a bound payment the grant forbids where the terminal is registered (a terminal provisioned with
// another category than it was registered with) flagged as a finding and not credited. Both backends.
import { expect } from 'chai';
import { RESULT_ACCEPTED, RESULT_REJECTED } from '../firmware/core/uplink/wire';
import { WalletEmulator } from '../host/wallet/emulator';
import { signGrant } from '../host/wallet/purses';
import { BACKENDS, DAY, World, unixNow, worldPerTest } from './settlement-fixtures';

const YUAN = 100;
const GROCERY = { category: 5411, region: 101 };
const RESTAURANT = { category: 5812, region: 101 };

function subsidy(world: World): WalletEmulator {
  const spec = world.wallet({ balance: 500 * YUAN });
  const grant = signGrant(world.issuer, { walletId: spec.walletId, purse: 1, program: 'FOOD-2026', categories: [5411], regions: [101], notAfter: unixNow() + 30 * DAY });
  return new WalletEmulator({ ...spec.options, purses: [{ grant, balance: 200 * YUAN }], payWith: 1 });
}

for (const { name, start } of BACKENDS) {
  describe(`settlement of purpose-bound funds (${name})`, function () {
    this.timeout(120_000);
    const ctx = worldPerTest(start, `${name} purposes`);

    it("books a subsidy payment to the program's account and a free-money one to the wallet's owner", async () => {
      const shop = await ctx.world.terminal('T-shop', { place: GROCERY });
      const wallet = subsidy(ctx.world);
      expect((await shop.pay(wallet, 50 * YUAN)).kind).to.equal('approved');
      wallet.purses.choose(undefined);
      expect((await shop.pay(wallet, 20 * YUAN)).kind).to.equal('approved');
      const results = (await shop.upload(ctx.world.url)).response!.results;
      expect(results.map((r) => [r.status, r.reason ?? 'ok'])).to.deep.equal([[RESULT_ACCEPTED, 'ok'], [RESULT_ACCEPTED, 'ok']]);
      const s = ctx.world.service!.settlement;
      expect(await s.balance('merchant:M-T-shop')).to.equal(70 * YUAN);
      expect(await s.balance('program:FOOD-2026')).to.equal(-50 * YUAN);
      expect(await s.balance(`wallet:${wallet.info.walletId}`)).to.equal(-20 * YUAN);
      expect(await s.balance('advance')).to.equal(0);
      expect(await s.findings(wallet.info.walletId)).to.deep.equal([]);
      // The back office's accounts page lists the program's account.
      const page = await (await fetch(`${ctx.world.url}/office/accounts`, { headers: { authorization: `Bearer ${ctx.world.token}` } })).text();
      expect(page).to.contain('Programs (purpose-bound funds paid)').and.to.contain('program:FOOD-2026');
    });

    it('flags a subsidy payment at a terminal registered as a restaurant: a finding, the merchant not credited', async () => {
      // Provisioned as a grocery, registered as what it is: the wallet was told 5411 and paid.
      const cafe = await ctx.world.terminal('T-cafe', { place: GROCERY, registeredPlace: RESTAURANT });
      const wallet = subsidy(ctx.world);
      expect((await cafe.pay(wallet, 30 * YUAN)).kind).to.equal('approved');
      const [result] = (await cafe.upload(ctx.world.url)).response!.results;
      expect(result!.status).to.equal(RESULT_REJECTED);
      expect(result!.reason).to.match(/^purpose-violation: the request names category 5411, region 101; the terminal is registered at 5812, 101/);
      const s = ctx.world.service!.settlement;
      const [finding] = await s.findings(wallet.info.walletId);
      expect(finding!.kind).to.equal('purpose-violation');
      expect(finding!.evidence.program).to.equal('FOOD-2026');
      expect(await s.balance('merchant:M-T-cafe')).to.equal(0);
      expect(await s.balance('program:FOOD-2026')).to.equal(0);
    });

    it('flags a subsidy payment at a terminal registered with no place', async () => {
      const t = await ctx.world.terminal('T-old', { place: GROCERY, registeredPlace: undefined, register: false });
      await ctx.world.admin('POST', '/v1/terminals', { terminalId: 'T-old', publicKey: Buffer.from(t.devicePublicKey).toString('hex'), merchantId: t.merchantId, maxTransaction: t.risk.config.maxTransaction });
      expect((await t.pay(subsidy(ctx.world), 10 * YUAN)).kind).to.equal('approved');
      const [result] = (await t.upload(ctx.world.url)).response!.results;
      expect(result!.reason).to.match(/^purpose-violation: the terminal has no registered merchant category and region/);
    });
  });
}

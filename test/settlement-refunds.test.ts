// Offline refunds at settlement (host/settlement/refunds.ts): a refund uploaded with its payment debits
// the merchant and credits the wallet's owner; a payment after the refund is not an overspend; a refund
// above the original (a wallet that forgot it refunded) and one of a payment the service does not hold
// at that terminal are findings and credit nothing; an intent is in doubt until its record comes. Both backends.
import { expect } from 'chai';
import { silentLog } from '../firmware/base/platform';
import { RESULT_ACCEPTED, RESULT_REJECTED } from '../firmware/core/uplink/wire';
import { ALG_P256 } from '../firmware/core/crypto/verify';
import { RefundDesk, type Original } from '../firmware/core/refund/desk';
import { signMessage, publicKeyOf } from '../firmware/core/uplink/sign';
import { WalletEmulator, type WalletOptions } from '../host/wallet/emulator';
import { signTerminalCertificate } from '../host/wallet/refunds';
import { BACKENDS, DAY, unixNow, worldPerTest, type World, type TestTerminal } from './settlement-fixtures';

const YUAN = 100;

function refunds(world: World, t: TestTerminal): { desk: RefundDesk; wallet: (balance?: number) => { wallet: WalletEmulator; options: WalletOptions } } {
  const root = world.keys.root();
  const certificate = signTerminalCertificate(root, { terminalId: t.terminalId, merchantId: t.merchantId, publicKey: publicKeyOf(ALG_P256, t.deviceSecretKey), notAfter: unixNow() + DAY });
  const desk = new RefundDesk({
    terminalId: t.terminalId, currency: t.risk.config.currency, journal: t.journal, verifier: t.verifier, clock: t.clock, log: silentLog,
    certificate, sign: (m) => signMessage(ALG_P256, t.deviceSecretKey, m),
  });
  return {
    desk,
    wallet: (balance = 500 * YUAN) => {
      const options = { ...world.wallet({ balance }).options, refundRoot: { alg: root.alg, publicKey: root.publicKey } };
      return { wallet: new WalletEmulator(options), options };
    },
  };
}

async function refund(desk: RefundDesk, wallet: WalletEmulator, original: Original, amount: number, seq: number): Promise<string> {
  const r = await desk.refund(wallet, original, amount, seq);
  wallet.removed();
  return r.kind === 'refunded' ? 'refunded' : r.decline.code;
}

for (const { name, start } of BACKENDS) {
  describe(`settlement of offline refunds (${name})`, function () {
    this.timeout(120_000);
    const ctx = worldPerTest(start, `${name} refunds`);

    it('debits the merchant and credits the wallet, a payment after the refund settles, a retry is a duplicate', async () => {
      const shop = await ctx.world.terminal('T-shop');
      const { desk, wallet: make } = refunds(ctx.world, shop);
      const { wallet } = make();
      expect((await shop.pay(wallet, 80 * YUAN)).kind).to.equal('approved');
      const original = desk.original(1)!;
      expect(await refund(desk, wallet, original, 30 * YUAN, 2)).to.equal('refunded');
      // Paid again after the credit: its balance is above the first payment's, by the refund.
      expect((await shop.pay(wallet, 10 * YUAN)).kind).to.equal('approved');
      const batch = shop.batch();
      const results = (await shop.upload(ctx.world.url, batch)).response!.results;
      expect(results.map((r) => [r.status, r.reason ?? 'ok'])).to.deep.equal([[RESULT_ACCEPTED, 'ok'], [RESULT_ACCEPTED, 'refund in doubt'], [RESULT_ACCEPTED, 'ok'], [RESULT_ACCEPTED, 'ok']]);
      const s = ctx.world.service!.settlement;
      expect(await s.balance('merchant:M-T-shop')).to.equal(60 * YUAN);
      expect(await s.balance(`wallet:${wallet.info.walletId}`)).to.equal(-60 * YUAN);
      expect(await s.balance('advance')).to.equal(0);
      expect(await s.findings(wallet.info.walletId)).to.deep.equal([]);
      // The same batch again (its answer lost): the same answer, nothing booked twice.
      expect((await ctx.world.post('/v1/batches', batch)).status).to.equal(200);
      expect(await s.balance('merchant:M-T-shop')).to.equal(60 * YUAN);
    });

    it('a refund above the original, and one of a payment not settled at this terminal, are findings and credit nothing', async () => {
      const shop = await ctx.world.terminal('T-shop');
      const { desk, wallet: make } = refunds(ctx.world, shop);
      const { wallet, options } = make();
      expect((await shop.pay(wallet, 30 * YUAN)).kind).to.equal('approved');
      const original = desk.original(1)!;
      expect(await refund(desk, wallet, original, 20 * YUAN, 2)).to.equal('refunded');
      // A secure element that forgot the refund (a clone from before it), and a terminal whose journal forgot it too.
      const state = { ...options, balance: wallet.balance, counter: wallet.counter };
      const forgetful = new WalletEmulator({ ...state, refundBook: wallet.refundBook.map((e) => ({ ...e, refunded: 0, lastRefundSeq: 0 })) });
      expect(await refund(desk, forgetful, { ...original, refunded: 0, inDoubt: [] }, 20 * YUAN, 3)).to.equal('refunded');
      const results = (await shop.upload(ctx.world.url)).response!.results;
      expect(results.map((r) => r.status)).to.deep.equal([RESULT_ACCEPTED, RESULT_ACCEPTED, RESULT_ACCEPTED, RESULT_ACCEPTED, RESULT_REJECTED]);
      expect(results[4]!.reason).to.match(/^refund-over-original: 2000 asked after 2000 of 3000 refunded/);
      const s = ctx.world.service!.settlement;
      expect(await s.balance('merchant:M-T-shop')).to.equal(10 * YUAN);
      expect(await s.balance(`wallet:${wallet.info.walletId}`)).to.equal(-10 * YUAN);
      expect((await s.findings(wallet.info.walletId)).map((f) => f.kind)).to.include('refund-over-original');

      // A book rewritten to name another terminal's payment: that terminal holds no such payment.
      const other = await ctx.world.terminal('T-other');
      const { desk: otherDesk } = refunds(ctx.world, other);
      const lying = new WalletEmulator({ ...state, counter: forgetful.counter, refundBook: wallet.refundBook.map((e) => ({ ...e, terminalId: 'T-other', refunded: 0, lastRefundSeq: 0 })) });
      expect(await refund(otherDesk, lying, { ...original, refunded: 0, inDoubt: [] }, 5 * YUAN, 9)).to.equal('refunded');
      const rejected = (await other.upload(ctx.world.url)).response!.results.filter((x) => x.status === RESULT_REJECTED);
      expect(rejected.map((r) => r.reason)).to.satisfy((rs: string[]) => rs.length === 1 && rs[0]!.startsWith('refund-unknown-original'));
      expect(await s.balance('merchant:M-T-other')).to.equal(0);
    });
  });
}


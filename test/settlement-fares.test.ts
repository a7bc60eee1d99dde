// Transit fares at settlement: the service holds each operator's signed fare rules (update kind 6,
// POST /v1/updates), books a tap-off's refund back from the operator to the wallet (not an overspend:
// the signed balance rises), and prices each transit tap again from the rules and the log the receipt
// keeps: a validator that charged otherwise leaves a finding with what it charged and what the rules
// say. Both backends.
import { expect } from 'chai';
import { RESULT_ACCEPTED } from '../firmware/core/uplink/wire';
import { encodeUpdate, UPDATE_FARE_RULES } from '../firmware/core/uplink/updates';
import { parseFareRules } from '../firmware/core/fares/rules';
import { BACKENDS, worldPerTest, type TestTerminal } from './settlement-fixtures';
import { ZONE_RULES } from './xs/fares-scenarios';

const MINUTE = 60_000;

for (const { name, start } of BACKENDS) {
  describe(`settlement of transit fares (${name})`, function () {
    this.timeout(120_000);
    const ctx = worldPerTest(start, `${name} fares`);

    async function operatorWithRules(t: TestTerminal, version = 1, rules: Record<string, unknown> = ZONE_RULES): Promise<void> {
      const root = ctx.world.keys.root();
      const update = encodeUpdate({ kind: UPDATE_FARE_RULES, version, operatorId: t.merchantId, rules: { ...rules, operatorId: t.merchantId } }, root.alg, root.secretKey);
      expect(await ctx.world.service!.settlement.addUpdate(update)).to.deep.equal({ kind: UPDATE_FARE_RULES, version, terminalId: t.merchantId });
    }

    /** Tap-on at station 1 (400 held), tap-off at station 3 (a 300 journey: 100 back), priced by `rules`. */
    async function journey(t: TestTerminal, rules: Record<string, unknown>) {
      const wallet = ctx.world.wallet({ balance: 100_00 }).emulator();
      const fares = (station: number) => ({ rules: parseFareRules({ ...rules, operatorId: t.merchantId }), station });
      expect((await t.pay(wallet, 0, fares(1))).kind).to.equal('approved');
      t.clock.advance(20 * MINUTE);
      expect((await t.pay(wallet, 0, fares(3))).kind).to.equal('approved');
      return wallet;
    }

    it("books a tap-off's refund back to the wallet: the operator keeps the journey's fare, no finding", async () => {
      const gate = await ctx.world.terminal('G-1');
      await operatorWithRules(gate);
      const wallet = await journey(gate, ZONE_RULES);
      expect(wallet.balance).to.equal(100_00 - 300);
      const results = (await gate.upload(ctx.world.url)).response!.results;
      expect(results.map((r) => [r.status, r.reason ?? 'ok'])).to.deep.equal([[RESULT_ACCEPTED, 'ok'], [RESULT_ACCEPTED, 'ok']]);
      const s = ctx.world.service!.settlement;
      expect(await s.balance(`merchant:${gate.merchantId}`)).to.equal(300);
      expect(await s.balance(`wallet:${wallet.info.walletId}`)).to.equal(-300);
      expect(await s.balance('advance')).to.equal(0);
      expect(await s.findings(wallet.info.walletId)).to.deep.equal([]);
    });

    it('finds a validator that charged otherwise than the rules, with what it charged and what the rules say', async () => {
      const gate = await ctx.world.terminal('G-2');
      await operatorWithRules(gate);
      // the validator runs rules of its own: a journey from zone 0 to zone 1 priced 250, not 300
      const wrong = { ...ZONE_RULES, fare: { ...ZONE_RULES.fare, table: [[200, 250, 400], [250, 200, 300], [400, 300, 200]] } };
      const wallet = await journey(gate, wrong);
      expect(wallet.balance).to.equal(100_00 - 250);
      const results = (await gate.upload(ctx.world.url)).response!.results;
      // credited as charged (the wallet paid it): the finding is for the operator to follow
      expect(results.map((r) => r.status)).to.deep.equal([RESULT_ACCEPTED, RESULT_ACCEPTED]);
      const s = ctx.world.service!.settlement;
      expect(await s.balance(`merchant:${gate.merchantId}`)).to.equal(250);
      const findings = await s.findings(wallet.info.walletId);
      expect(findings.map((f) => f.kind)).to.deep.equal(['fare-mismatch']);
      expect(findings[0]!.evidence).to.include({ charged: 0, refunded: 150, expectedCharge: 0, expectedRefund: 100 });
      expect(findings[0]!.evidence.reason).to.equal('the rules price this tap 0 (refund 100), the validator charged 0 (refund 150)');
    });

    it('prices by the newest rules it holds, and refuses rules that do not validate or are signed for another operator', async () => {
      const gate = await ctx.world.terminal('G-3');
      await operatorWithRules(gate, 1, { ...ZONE_RULES, fare: { ...ZONE_RULES.fare, table: [[1, 1, 1], [1, 1, 1], [1, 1, 1]] } });
      await operatorWithRules(gate, 2);
      const wallet = await journey(gate, ZONE_RULES);
      await gate.upload(ctx.world.url);
      expect(await ctx.world.service!.settlement.findings(wallet.info.walletId)).to.deep.equal([]);
      const root = ctx.world.keys.root();
      const bad = encodeUpdate({ kind: UPDATE_FARE_RULES, version: 3, operatorId: gate.merchantId, rules: { ...ZONE_RULES, fare: { kind: 'flat' } } }, root.alg, root.secretKey);
      let error: unknown;
      await ctx.world.service!.settlement.addUpdate(bad).catch((e) => (error = e));
      expect(String(error)).to.match(/fare/);
      const other = encodeUpdate({ kind: UPDATE_FARE_RULES, version: 3, operatorId: 'M-other', rules: { ...ZONE_RULES, operatorId: 'M-other' } }, root.alg, root.secretKey);
      await ctx.world.service!.settlement.addUpdate(other, gate.merchantId).then(() => expect.fail('stored'), (e) => expect(String(e)).to.match(/signed for operator M-other/));
    });
  });
}

// Transit fares at settlement: the service holds each operator's signed fare rules (update kind 6,
// POST /v1/updates), books a tap-off's refund back from the operator to the wallet (not an overspend:
// the signed balance rises), and prices each transit tap again from the rules and the log the receipt
// keeps, by the version of the rules the receipt names: a validator that charged otherwise leaves a
// finding with what it charged and what the rules say. A validator reporting an older fare rules
// version in its batch gets the newer signed rules in the answer. Both backends.
import { expect } from 'chai';
import { RESULT_ACCEPTED } from '../firmware/core/uplink/wire';
import { decodeUpdate, encodeUpdate, UPDATE_FARE_RULES } from '../firmware/core/uplink/updates';
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

    /** Tap-on at station 1 (400 held), tap-off at station 3 (a 300 journey: 100 back), priced by `rules` (of `version`, if given). */
    async function journey(t: TestTerminal, rules: Record<string, unknown>, version?: number) {
      const wallet = ctx.world.wallet({ balance: 100_00 }).emulator();
      const fares = (station: number) => ({ rules: parseFareRules({ ...rules, operatorId: t.merchantId }), station, ...(version !== undefined ? { version } : {}) });
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

    it('prices each receipt by the fare rules version it names: a validator still on older rules after an update is not a finding, one on rules the service lacks is', async () => {
      const gate = await ctx.world.terminal('G-4');
      const cheaper = { ...ZONE_RULES, fare: { ...ZONE_RULES.fare, table: [[100, 200, 300], [200, 100, 200], [300, 200, 100]] } };
      await operatorWithRules(gate, 1);
      await operatorWithRules(gate, 2, cheaper);
      // the gate had not uploaded since version 2 came out: its journey is priced by version 1, and says so
      const late = await journey(gate, ZONE_RULES, 1);
      const current = await journey(gate, cheaper, 2);
      // version 5 was never handed to the service
      const unknown = await journey(gate, cheaper, 5);
      const results = (await gate.upload(ctx.world.url)).response!.results;
      expect(results.map((r) => r.status)).to.deep.equal(Array(6).fill(RESULT_ACCEPTED));
      const s = ctx.world.service!.settlement;
      expect(await s.findings(late.info.walletId)).to.deep.equal([]);
      expect(await s.findings(current.info.walletId)).to.deep.equal([]);
      const findings = await s.findings(unknown.info.walletId);
      expect(findings.map((f) => f.kind)).to.deep.equal(['fare-mismatch', 'fare-mismatch']);
      expect(findings[0]!.evidence.reason).to.equal('priced with fare rules version 5, which the service does not hold (it holds 1, 2)');
      // booked as charged: 300 by version 1, 200 by version 2 and 200 by the unknown version
      expect(await s.balance(`merchant:${gate.merchantId}`)).to.equal(700);
    });

    it("hands a validator its operator's newer signed fare rules in the upload answer, and nothing to one up to date or to a terminal that takes none", async () => {
      const gate = await ctx.world.terminal('G-5');
      await operatorWithRules(gate, 1);
      await operatorWithRules(gate, 2);
      const fareUpdates = async (fareRulesVersion?: number) => {
        const r = await gate.upload(ctx.world.url, gate.batch(fareRulesVersion === undefined ? {} : { fareRulesVersion }));
        return r.response!.updates.map((u) => decodeUpdate(u).update).filter((u) => u.kind === UPDATE_FARE_RULES).map((u) => `${u.kind === UPDATE_FARE_RULES ? u.operatorId : ''} v${u.version}`);
      };
      expect(await fareUpdates(0)).to.deep.equal([`${gate.merchantId} v2`]);
      expect(await fareUpdates(1)).to.deep.equal([`${gate.merchantId} v2`]);
      expect(await fareUpdates(2)).to.deep.equal([]);
      expect(await fareUpdates(undefined)).to.deep.equal([]);
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

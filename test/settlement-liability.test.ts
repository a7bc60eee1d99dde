// Who pays for what the terminals could not know, and what only the service can see across terminals:
// a wallet's daily limit summed over every terminal, counters that run back in time or skip, a
// deny-list entry dated from when it reached the terminal, and a clone classed a clone whatever else
// holds. Both backends.
import { expect } from 'chai';
import { RESULT_ACCEPTED, RESULT_REJECTED } from '../firmware/core/uplink/wire';
import { WalletEmulator } from '../host/wallet/emulator';
import { BACKENDS, World, unixNow, worldPerTest } from './settlement-fixtures';

const YUAN = 100;

for (const { name, start } of BACKENDS) {
  describe(`settlement liability and cross-terminal checks (${name})`, function () {
    this.timeout(120_000);
    const ctx = worldPerTest(start, `${name} liability`);

    it('holds the class daily limit across terminals: the payment over it is an overspend with evidence', async () => {
      // Class 3: 2,000 yuan a day. Each terminal sees 1,500 yuan, within the limit; together 4,500.
      const spec = ctx.world.wallet({ walletClass: 3, balance: 10_000 * YUAN });
      const w = spec.emulator();
      const midday = Math.floor(unixNow() / 86_400) * 86_400 + 43_200; // the three payments on one UTC day
      const terminals = [];
      for (const id of ['T1', 'T2', 'T3']) terminals.push(await ctx.world.terminal(id, { wallTime: midday }));
      for (const t of terminals) expect((await t.pay(w, 1500 * YUAN)).kind).to.equal('approved');
      const reasons: string[] = [];
      for (const t of terminals) reasons.push((await t.upload(ctx.world.url)).response!.results[0]!.reason ?? 'ok');
      expect(reasons).to.deep.equal(['ok', 'overspend: credited, loss booked, wallet denied', 'denied: credited, loss booked, wallet denied']);
      const s = ctx.world.service!.settlement;
      const [finding] = await s.findings(spec.walletId);
      expect(finding!.kind).to.equal('overspend');
      expect(finding!.evidence.reason).to.match(/spent 300000 on day \d+ across terminals, over its daily limit of 200000/);
      expect((finding!.evidence.receipt as { terminalId: string }).terminalId).to.equal('T2');
      // The merchants are paid; what the wallet spent beyond its limit is the issuer's loss to recover.
      for (const m of ['M-T1', 'M-T2', 'M-T3']) expect(await s.balance(`merchant:${m}`)).to.equal(1500 * YUAN);
      expect(await s.balance(`loss:issuer:${ctx.world.issuer.key.keyId}`)).to.equal(-3000 * YUAN);
      expect(await s.balance('advance')).to.equal(0);
    });

    it('flags a counter that went back in time although no two receipts share a counter', async () => {
      const t1 = await ctx.world.terminal('T1');
      const t2 = await ctx.world.terminal('T2', { wallTime: unixNow() + 3600 });
      const spec = ctx.world.wallet({ balance: 100_000 });
      const original = spec.emulator();
      for (let i = 0; i < 3; i++) await t1.pay(original, 1000);
      t1.journal.records = t1.journal.records.slice(2); // counters 1 and 2 never arrive (a lost terminal)
      // A copy of the element as issued spends counter 1 an hour after the original spent counter 3.
      const copy = new WalletEmulator({ ...spec.options });
      expect((await t2.pay(copy, 100)).kind).to.equal('approved');
      await t1.upload(ctx.world.url);
      const up = await t2.upload(ctx.world.url);
      expect(up.response!.results[0]!.reason).to.equal('counter-reuse: credited, loss booked, wallet denied');
      const kinds = (await ctx.world.service!.settlement.findings(spec.walletId)).map((f) => f.kind);
      expect(kinds).to.deep.equal(['counter-reuse']);
    });

    it('flags a counter gap without denying the wallet', async () => {
      const t1 = await ctx.world.terminal('T1');
      const spec = ctx.world.wallet();
      const w = spec.emulator();
      for (let i = 0; i < 3; i++) await t1.pay(w, 100);
      t1.journal.records = [t1.journal.records[0]!, t1.journal.records[2]!];
      const up = await t1.upload(ctx.world.url);
      expect(up.response!.results.map((r) => r.status)).to.deep.equal([RESULT_ACCEPTED, RESULT_ACCEPTED]);
      const findings = await ctx.world.service!.settlement.findings(spec.walletId);
      expect(findings.map((f) => f.kind)).to.deep.equal(['counter-gap']);
      expect(findings[0]!.evidence.missing).to.deep.equal({ from: 2, to: 2 });
      expect(t1.risk.denyVersion).to.equal(0);
      expect(await ctx.world.service!.settlement.stats()).to.deep.equal({ settled: 2 });
    });

    it('credits approvals made before the deny list reached the terminal, uploaded in later batches', async () => {
      const spec = ctx.world.wallet();
      await ctx.world.service!.settlement.reportLost(spec.walletId); // listed now; earlier spends were the holder's
      // Offline for an hour: nine payments, the listed wallet's at #8.
      const t1 = await ctx.world.terminal('T1', { wallTime: unixNow() - 3600 });
      const others = [ctx.world.wallet().emulator(), ctx.world.wallet().emulator()];
      for (let i = 1; i <= 9; i++) expect((await t1.pay(i === 8 ? spec.emulator() : others[i % 2]!, 100 + i)).kind).to.equal('approved');
      const records = [...t1.journal.records];
      const results = [];
      for (let i = 0; i < 9; i += 3) {
        const up = await t1.upload(ctx.world.url, t1.batch({ records: records.slice(i, i + 3) }));
        results.push(...up.response!.results);
        expect(t1.risk.denyVersion).to.equal(1); // the first answer brought the list
      }
      expect(results.map((r) => r.reason ?? "ok")).to.deep.equal(results.map(() => "ok"));
      expect(results.map((r) => r.status)).to.deep.equal(results.map(() => RESULT_ACCEPTED));
      const s = ctx.world.service!.settlement;
      expect(await s.stats()).to.deep.equal({ settled: 9 });
      expect(await s.balance('merchant:M-T1')).to.equal(Array.from({ length: 9 }, (_, i) => 101 + i).reduce((a, b) => a + b));
      // After the list arrived the terminal refuses the wallet itself.
      const refused = await t1.pay(spec.emulator(), 100);
      expect(refused.kind === 'declined' && refused.decline.code).to.equal('walletDenied');
    });

    it('classes a counter collision as such even when the wallet was denied first for overspending', async () => {
      const t1 = await ctx.world.terminal('T1');
      const spec = ctx.world.wallet({ balance: 100_000 });
      await ctx.world.admin('POST', '/v1/wallets', { walletId: spec.walletId, balance: 1000 });
      const original = spec.emulator();
      await t1.pay(original, 600);
      await t1.pay(original, 600); // counter 2: beyond the 1,000 loaded, an overspend; the wallet is denied
      await t1.upload(ctx.world.url);
      await t1.upload(ctx.world.url); // T1 reports holding the list
      // T1 wiped (a faulty build) approves a copy spending counter 1 again while holding the list.
      const faulty = await ctx.world.terminal('T1', { register: false, seed: 'faulty', deviceSecretKey: t1.deviceSecretKey, lastSeq: 2 });
      expect((await faulty.pay(spec.emulator(), 300)).kind).to.equal('approved');
      const up = await faulty.upload(ctx.world.url);
      expect(up.response!.results[0]!.status).to.equal(RESULT_REJECTED);
      expect(up.response!.results[0]!.reason).to.match(/^double-spend: wallet \w+ was on the deny list \(version 1\)/);
      const kinds = (await ctx.world.service!.settlement.findings(spec.walletId)).map((f) => f.kind);
      expect(kinds).to.deep.equal(['overspend', 'double-spend']);
      expect(await ctx.world.service!.settlement.balance('merchant:M-T1')).to.equal(1200); // the faulty approval is the merchant's
    });
  });
}

// Several `tapline serve` processes on one PostgreSQL, no global lock: many terminals upload batches of
// overlapping wallets (some cloned) to all of them at once, with duplicates, re-batched retries, and one
// process SIGKILLed while it holds a batch's locks. Every receipt settles exactly once, every clone is
// caught once, no other wallet is denied, and the deny list's versions stay one gap-free sequence.
import { expect } from 'chai';
import { RESULT_ACCEPTED, RESULT_DUPLICATE } from '../firmware/core/uplink/wire';
import { kill, postgresBackend, serve, World, type Backend, type Child, type TestTerminal } from './settlement-fixtures';

describe('settlement: several service processes on one PostgreSQL', function () {
  this.timeout(300_000);
  let backend: Backend;
  let world: World;
  const children: Child[] = [];

  before(async () => {
    backend = await postgresBackend();
  });
  after(async () => {
    for (const c of children) await kill(c);
    await world?.close();
    await backend?.stop();
  });

  it('settles exactly once and catches every clone under concurrent, duplicated uploads and a killed process', async () => {
    world = await World.create({ seed: 'processes' });
    const database = await backend.fresh();
    // The first process pauses inside every batch's transaction, holding its locks, until it is killed.
    const doomed = await serve(world.keys.dir, database, { TAPLINE_PAUSE_BEFORE_COMMIT_MS: '120000' });
    const live = [await serve(world.keys.dir, database), await serve(world.keys.dir, database)];
    children.push(doomed, ...live);
    world.externalUrl = live[0]!.url;

    const terminals: TestTerminal[] = [];
    for (let t = 0; t < 6; t++) terminals.push(await world.terminal(`P${t}`));
    const specs = Array.from({ length: 12 }, () => world.wallet({ balance: 1_000_000 }));
    const wallets = specs.map((s) => s.emulator());
    const cloned = Array.from({ length: 3 }, () => world.wallet({ balance: 1_000_000 }));
    const expected = new Map<string, number>();
    const pay = async (t: TestTerminal, w: (typeof wallets)[number], amount: number) => {
      expect((await t.pay(w, amount)).kind).to.equal('approved');
      expected.set(t.merchantId, (expected.get(t.merchantId) ?? 0) + amount);
    };
    for (let round = 0; round < 8; round++) {
      for (let t = 0; t < terminals.length; t++) await pay(terminals[t]!, wallets[(round * 5 + t * 7) % wallets.length]!, 100 + round * 10 + t);
    }
    // A cloned wallet spends counter 1 at one terminal, and its copy counter 1 again at another.
    for (const [i, spec] of cloned.entries()) {
      await pay(terminals[(i * 2) % terminals.length]!, spec.emulator(), 555);
      await pay(terminals[(i * 2 + 3) % terminals.length]!, spec.emulator(), 777);
    }
    const receipts = terminals.reduce((n, t) => n + t.journal.records.length, 0);

    // The batch the doomed process will hold: P0's first half.
    const held = terminals[0]!.batch({ records: terminals[0]!.journal.records.slice(0, 4) });
    const heldUpload = fetch(`${doomed.url}/v1/batches`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: held }).then(
      () => 'answered',
      () => 'connection lost',
    );
    await doomed.waitFor('pausing before commit');

    const uploads: Promise<unknown>[] = [];
    for (const t of terminals) {
      const records = [...t.journal.records];
      const whole = t.batch({ records });
      for (const [i, url] of [live[0]!.url, live[1]!.url, live[0]!.url].entries()) {
        uploads.push(world.post('/v1/batches', whole)); // a duplicate whose answer is lost
        uploads.push(t.upload(url, i === 2 ? t.batch({ records: records.slice(2) }) : whole));
      }
    }
    uploads.push(world.post('/v1/batches', held)); // waits behind the doomed process's locks
    await new Promise((r) => setTimeout(r, 1500));
    await kill(doomed);
    expect(await heldUpload).to.equal('connection lost');
    await Promise.all(uploads);
    // Every terminal retries what it still holds (a lost answer) and ends with nothing pending.
    for (const t of terminals) {
      const up = await t.upload(live[1]!.url, t.batch({ records: t.journal.records }));
      expect(up.status).to.equal(200);
      for (const r of up.response!.results) expect([RESULT_ACCEPTED, RESULT_DUPLICATE]).to.include(r.status);
      expect(t.journal.records).to.have.length(0);
    }

    const health = (await fetch(`${live[1]!.url}/v1/health`).then((r) => r.json())) as { receipts: Record<string, number> };
    expect(health.receipts).to.deep.equal({ settled: receipts - cloned.length, clone: cloned.length });
    for (const [merchant, amount] of expected) expect((await world.admin('GET', `/v1/accounts/merchant:${merchant}`)).body.balance).to.equal(amount);
    expect((await world.admin('GET', '/v1/accounts/advance')).body.balance).to.equal(0);
    const findings = (await world.admin('GET', '/v1/findings')).body.findings as { kind: string; walletId: string }[];
    const flagged = findings.filter((f) => f.kind !== 'counter-gap');
    expect(flagged.map((f) => f.kind)).to.deep.equal(cloned.map(() => 'clone'));
    expect(flagged.map((f) => f.walletId).sort()).to.deep.equal(cloned.map((s) => s.walletId).sort());
    const list = (await fetch(`${live[0]!.url}/v1/deny-list?since=0`).then((r) => r.json())) as { entries: { version: number; walletId: string }[] };
    expect(list.entries.map((e) => e.version)).to.deep.equal(cloned.map((_, i) => i + 1));
    expect(list.entries.map((e) => e.walletId).sort()).to.deep.equal(cloned.map((s) => s.walletId).sort());
  });
});

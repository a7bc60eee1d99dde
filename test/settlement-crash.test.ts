// The service is SIGKILLed while a batch's transaction is open; the terminal retries the very same
// batch against the restarted service: every receipt settles exactly once, nothing is half written.
import { expect } from 'chai';
import { toHex } from '../firmware/base/bytes';
import { RESULT_ACCEPTED } from '../firmware/core/uplink/wire';
import { BACKENDS, World, kill, serve, type Backend, type Child } from './settlement-fixtures';

for (const { name, start } of BACKENDS) {
  describe(`settlement service killed mid-batch (${name})`, function () {
    this.timeout(90_000);
    let backend: Backend;
    let world: World;
    const children: Child[] = [];

    before(async () => {
      backend = await start();
    });
    after(async () => {
      for (const c of children) await kill(c);
      await world?.close();
      await backend?.stop();
    });

    it('SIGKILL inside the transaction, then the terminal retries: settled exactly once', async () => {
      world = await World.create({ seed: `crash ${name}` });
      const database = await backend.fresh();
      const first = await serve(world.keys.dir, database, { TAPLINE_PAUSE_BEFORE_COMMIT_MS: '60000' });
      children.push(first);
      world.externalUrl = first.url;
      const t1 = await world.terminal('T1');
      const w = world.wallet().emulator();
      const amounts = [110, 220, 330, 440, 550];
      for (const a of amounts) expect((await t1.pay(w, a)).kind).to.equal('approved');
      const batch = t1.batch();

      const upload = t1.upload(first.url, batch).then(
        (r) => ({ ok: true as const, r }),
        (e: Error) => ({ ok: false as const, e }),
      );
      await first.waitFor('pausing before commit');
      await kill(first);
      const lost = await upload;
      expect(lost.ok, 'the upload must fail: the service died before answering').to.equal(false);
      expect(t1.journal.records).to.have.length(5); // nothing acknowledged, nothing dropped

      const second = await serve(world.keys.dir, database);
      children.push(second);
      world.externalUrl = second.url;
      const retry = await t1.upload(second.url, batch);
      expect(retry.status).to.equal(200);
      expect(retry.response!.results.map((r) => r.status)).to.deep.equal(amounts.map(() => RESULT_ACCEPTED));
      expect(retry.response!.ackedUpTo).to.equal(5);
      expect(t1.journal.records).to.have.length(0);
      // A second identical retry gets the same bytes.
      const again = await fetch(`${second.url}/v1/batches`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: batch });
      const againBody = new Uint8Array(await again.arrayBuffer());
      const firstAnswer = await fetch(`${second.url}/v1/batches`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: batch });
      expect(toHex(againBody)).to.equal(toHex(new Uint8Array(await firstAnswer.arrayBuffer())));
      const merchant = await world.admin('GET', '/v1/accounts/merchant:M-T1');
      expect(merchant.body.balance).to.equal(amounts.reduce((a, b) => a + b, 0));
      const health = (await fetch(`${second.url}/v1/health`).then((r) => r.json())) as { receipts: Record<string, number> };
      expect(health.receipts).to.deep.equal({ settled: 5 });
      await kill(second);
    });
  });
}

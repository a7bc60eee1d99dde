// The settlement service end to end, on a real HTTP server on loopback, against SQLite and a real
// PostgreSQL: the same tests for both backends.
import { expect } from 'chai';
import { toHex, fromHex, xorByte } from '../firmware/base/bytes';
import { decodeReceipt, encodeReceipt } from '../firmware/core/protocol/receipt';
import { UPDATE_DENY_LIST, UPDATE_KEYRING, UPDATE_TIME, verifyUpdate } from '../firmware/core/uplink/updates';
import { ALG_ED25519, ALG_P256 } from '../firmware/core/crypto/verify';
import { issueWallet } from '../host/wallet/issuer';
import { WalletEmulator } from '../host/wallet/emulator';
import { RESULT_ACCEPTED, RESULT_DUPLICATE, RESULT_REJECTED } from '../firmware/core/uplink/wire';
import { BACKENDS, World, updatesOf, worldPerTest } from './settlement-fixtures';

for (const { name, start } of BACKENDS) {
  describe(`settlement service (${name})`, function () {
    this.timeout(60_000);
    const ctx = worldPerTest(start, name);

    it('settles a batch: merchant credited, wallet debited, receipts acknowledged, time sent', async () => {
      const t1 = await ctx.world.terminal('T1');
      const w = ctx.world.wallet({ balance: 50_000 }).emulator();
      for (const amount of [1200, 800, 450]) expect((await t1.pay(w, amount)).kind).to.equal('approved');
      const up = await t1.upload(ctx.world.url);
      expect(up.status).to.equal(200);
      expect(up.response!.ackedUpTo).to.equal(3);
      expect(up.response!.results.map((r) => r.status)).to.deep.equal([RESULT_ACCEPTED, RESULT_ACCEPTED, RESULT_ACCEPTED]);
      expect(updatesOf(up.response!)).to.include(UPDATE_TIME);
      expect(t1.journal.records).to.have.length(0);
      const s = ctx.world.service!.settlement;
      expect(await s.balance('merchant:M-T1')).to.equal(2450);
      expect(await s.balance(`wallet:${w.info.walletId}`)).to.equal(-2450);
      expect(await s.balance('advance')).to.equal(0);
      expect(await s.stats()).to.deep.equal({ settled: 3 });
      const health = await fetch(`${ctx.world.url}/v1/health`).then((r) => r.json());
      expect(health).to.deep.include({ ok: true, database: name });
    });

    it('signs responses and updates with an Ed25519 root key and verifies Ed25519 issuers', async () => {
      await ctx.world.close();
      ctx.world = await World.create({ database: await ctx.backend.fresh(), seed: `${name} ed25519`, rootAlg: ALG_ED25519, issuerAlg: ALG_ED25519 });
      const t1 = await ctx.world.terminal('T1');
      const w = ctx.world.wallet({ alg: ALG_ED25519 }).emulator();
      await t1.pay(w, 999);
      const up = await t1.upload(ctx.world.url); // the fixture verifies the response and every update with the root key
      expect(up.response!.results[0]!.status).to.equal(RESULT_ACCEPTED);
      expect(ctx.world.rootPublicKey).to.have.length(32);
    });

    it('answers an identical retry with the same bytes and settles a re-batched retry once', async () => {
      const t1 = await ctx.world.terminal('T1');
      const w = ctx.world.wallet().emulator();
      await t1.pay(w, 100);
      await t1.pay(w, 200);
      const records = [...t1.journal.records];
      const body = t1.batch();
      const first = await ctx.world.post('/v1/batches', body);
      const second = await ctx.world.post('/v1/batches', body);
      expect(first.status).to.equal(200);
      expect(toHex(second.body)).to.equal(toHex(first.body));
      // The terminal lost the answer and built a new batch (new nonce) of the same receipts.
      const rebatch = await t1.upload(ctx.world.url, t1.batch({ records }));
      expect(rebatch.response!.results.map((r) => r.status)).to.deep.equal([RESULT_DUPLICATE, RESULT_DUPLICATE]);
      expect(await ctx.world.service!.settlement.balance('merchant:M-T1')).to.equal(300);
      expect((await ctx.world.counts()).receipts).to.equal(2);
    });

    it('keeps each terminal sequence on the terminal\'s side (terminal_receipts), also for receipts settled before that table', async () => {
      const database = await ctx.backend.fresh();
      await ctx.world.close();
      ctx.world = await World.create({ database, seed: `${name} layout` });
      const t1 = await ctx.world.terminal('T1');
      const w = ctx.world.wallet().emulator();
      for (const amount of [100, 200]) await t1.pay(w, amount);
      const settled = [...t1.journal.records];
      await t1.upload(ctx.world.url);
      const rows = (db: { read: (f: (tx: any) => Promise<unknown>) => Promise<unknown> }) =>
        db.read((tx) => tx.all('SELECT terminal_id, terminal_seq, wallet_id, outcome FROM terminal_receipts ORDER BY terminal_seq')) as Promise<Record<string, unknown>[]>;
      const expected = [1, 2].map((seq) => ({ terminal_id: 'T1', terminal_seq: seq, wallet_id: w.info.walletId, outcome: 'settled' }));
      expect((await rows(ctx.world.service!.settlement.db)).map((r) => ({ ...r, terminal_seq: Number(r.terminal_seq) }))).to.deep.equal(expected);
      // The database as it was before the layout (schema 8), then opened again: the migration copies
      // the sequences over, and a retry of those receipts is a duplicate, not a second settlement.
      await ctx.world.service!.settlement.db.transaction(async (tx) => {
        await tx.run('DROP TABLE terminal_receipts');
        await tx.run('DELETE FROM schema_version WHERE version = 9');
        if (name === 'postgres') {
          await tx.run('DROP INDEX receipts_terminal');
          await tx.run('ALTER TABLE receipts ADD CONSTRAINT receipts_terminal_id_terminal_seq_key UNIQUE (terminal_id, terminal_seq)');
        }
      });
      await ctx.world.service!.close();
      await ctx.world.start(database);
      if (name === 'postgres') {
        // Distributable by wallet: no unique key left on receipts but its own id.
        const unique = await ctx.world.service!.settlement.db.read((tx) => tx.get<{ n: number }>(`SELECT COUNT(*) AS n FROM pg_constraint WHERE conrelid = 'receipts'::regclass AND contype = 'u'`));
        expect(Number(unique!.n)).to.equal(0);
      }
      expect((await rows(ctx.world.service!.settlement.db)).map((r) => ({ ...r, terminal_seq: Number(r.terminal_seq) }))).to.deep.equal(expected);
      const retry = await t1.upload(ctx.world.url, t1.batch({ records: settled }));
      expect(retry.response!.results.map((r) => r.status)).to.deep.equal([RESULT_DUPLICATE, RESULT_DUPLICATE]);
      // A receipt that fails verification has no wallet to trust: only the terminal's side names it.
      const bad = t1.journal.records.length;
      await t1.pay(w, 300);
      const record = t1.journal.records[bad]!;
      const r = decodeReceipt(record.payload);
      const response = r.response.slice();
      xorByte(response, response.length - 1, 0x01); // the wallet's signature
      const tampered = encodeReceipt({ ...r, response });
      const up = await t1.upload(ctx.world.url, t1.batch({ records: [{ ...record, payload: tampered }] }));
      expect(up.response!.results[0]!.status).to.equal(RESULT_REJECTED);
      const last = (await rows(ctx.world.service!.settlement.db)).at(-1)!;
      expect([Number(last.terminal_seq), last.wallet_id, last.outcome]).to.deep.equal([3, null, 'invalid']);
      expect((await ctx.world.counts()).receipts).to.equal(3);
    }).timeout(180_000); // a service restarted on the same database: slow on a loaded machine

    it('settles exactly once under concurrent duplicate uploads', async () => {
      const t1 = await ctx.world.terminal('T1');
      const t2 = await ctx.world.terminal('T2');
      const wallets = [ctx.world.wallet().emulator(), ctx.world.wallet().emulator()];
      for (let i = 0; i < 12; i++) await t1.pay(wallets[i % 2]!, 100 + i);
      for (let i = 0; i < 6; i++) await t2.pay(wallets[i % 2]!, 1000 + i);
      const r1 = [...t1.journal.records];
      const b1 = t1.batch();
      const b2 = t2.batch();
      // The same batch many times, re-batched copies with fresh nonces, and overlapping halves, all at once.
      const bodies = [
        ...Array.from({ length: 6 }, () => b1),
        ...Array.from({ length: 4 }, () => t1.batch({ records: r1 })),
        t1.batch({ records: r1.slice(0, 6) }),
        t1.batch({ records: r1.slice(4) }),
        ...Array.from({ length: 4 }, () => b2),
      ];
      const answers = await Promise.all(bodies.map((b) => ctx.world.post('/v1/batches', b)));
      expect(answers.map((a) => a.status)).to.deep.equal(bodies.map(() => 200));
      for (let i = 1; i < 6; i++) expect(toHex(answers[i]!.body)).to.equal(toHex(answers[0]!.body));
      const s = ctx.world.service!.settlement;
      const expected1 = Array.from({ length: 12 }, (_, i) => 100 + i).reduce((a, b) => a + b, 0);
      const expected2 = Array.from({ length: 6 }, (_, i) => 1000 + i).reduce((a, b) => a + b, 0);
      expect(await s.balance('merchant:M-T1')).to.equal(expected1);
      expect(await s.balance('merchant:M-T2')).to.equal(expected2);
      expect(await s.stats()).to.deep.equal({ settled: 18 });
      expect(await s.findings()).to.have.length(0);
      expect(await s.balance('advance')).to.equal(0);
    });

    it('detects a cloned wallet at two terminals, deny-lists it, and a third terminal then refuses the clone', async () => {
      const t1 = await ctx.world.terminal('T1');
      const t2 = await ctx.world.terminal('T2');
      const t3 = await ctx.world.terminal('T3');
      const spec = ctx.world.wallet({ balance: 10_000 });
      const original = spec.emulator();
      const clone = spec.emulator();
      expect((await t1.pay(original, 3000)).kind).to.equal('approved');
      expect((await t2.pay(clone, 2500)).kind).to.equal('approved'); // offline: nobody can tell yet
      expect((await t1.upload(ctx.world.url)).response!.results[0]!.status).to.equal(RESULT_ACCEPTED);
      const up2 = await t2.upload(ctx.world.url);
      expect(up2.response!.results[0]!.reason).to.match(/^clone: credited/);
      // T2 got the deny list in the same response.
      expect(updatesOf(up2.response!)).to.include(UPDATE_DENY_LIST);
      expect(t2.risk.denyVersion).to.equal(1);

      const s = ctx.world.service!.settlement;
      const findings = await s.findings(spec.walletId);
      expect(findings.map((f) => f.kind)).to.deep.equal(['clone']);
      const evidence = findings[0]!.evidence as { counter: number; receipt: { terminalId: string; bytes: string }; other: { terminalId: string; bytes: string } };
      expect(evidence.counter).to.equal(1);
      expect([evidence.receipt.terminalId, evidence.other.terminalId]).to.deep.equal(['T2', 'T1']);
      expect(decodeReceipt(fromHex(evidence.other.bytes)).terminalSeq).to.equal(1);
      // Credited first; the loss is booked against the issuer, the advance account closes to zero.
      expect(await s.balance('merchant:M-T2')).to.equal(2500);
      expect(await s.balance(`loss:issuer:${ctx.world.issuer.key.keyId}`)).to.equal(-2500);
      expect(await s.balance('advance')).to.equal(0);

      // T3 has not seen the deny list: before its next upload the clone still passes there.
      const before = await t3.pay(clone, 100);
      expect(before.kind).to.equal('approved');
      const up3 = await t3.upload(ctx.world.url);
      expect(up3.status).to.equal(200);
      expect(t3.risk.denyVersion).to.equal(1);
      const refused = await t3.pay(clone, 500);
      expect(refused.kind).to.equal('declined');
      expect(refused.kind === 'declined' && refused.decline.code).to.equal('walletDenied');
      // ...and a spend that slipped through at T3 before the update is booked as a denied-wallet loss.
      expect(await s.stats()).to.deep.equal({ settled: 1, clone: 1, denied: 1 });
    });

    it('detects a double spend on one terminal (the same counter twice)', async () => {
      const t1 = await ctx.world.terminal('T1');
      const spec = ctx.world.wallet();
      await t1.pay(spec.emulator(), 700);
      expect((await t1.upload(ctx.world.url)).status).to.equal(200);
      // T1 lost its risk state (a reset): a clone spends counter 1 again at the same terminal.
      const t1b = await ctx.world.terminal('T1', { register: false, seed: 'T1 again', deviceSecretKey: t1.deviceSecretKey, lastSeq: 1 });
      expect((await t1b.pay(spec.emulator(), 650)).kind).to.equal('approved');
      const up = await t1b.upload(ctx.world.url);
      expect(up.status).to.equal(200);
      const findings = await ctx.world.service!.settlement.findings(spec.walletId);
      expect(findings.map((f) => f.kind)).to.deep.equal(['double-spend']);
    });

    it('detects a double spend inside one batch, and links the evidence to the receipt before it', async () => {
      const t1 = await ctx.world.terminal('T1');
      const spec = ctx.world.wallet();
      await t1.pay(spec.emulator(), 700);
      const t1b = await ctx.world.terminal('T1', { register: false, seed: 'T1 reset', deviceSecretKey: t1.deviceSecretKey, lastSeq: 1 });
      await t1b.pay(spec.emulator(), 650);
      const up = await t1.upload(ctx.world.url, t1.batch({ records: [...t1.journal.records, ...t1b.journal.records] }));
      expect(up.response!.results.map((r) => r.reason ?? 'ok')).to.deep.equal(['ok', 'double-spend: credited, loss booked, wallet denied']);
      const [finding] = await ctx.world.service!.settlement.findings(spec.walletId);
      expect(finding!.otherReceiptId).to.be.a('number');
      expect(finding!.otherReceiptId).to.not.equal(finding!.receiptId);
      expect(await ctx.world.service!.settlement.balance('merchant:M-T1')).to.equal(1350);
      expect(await ctx.world.service!.settlement.balance(`wallet:${spec.walletId}`)).to.equal(-700);
    });

    it('does not credit a terminal that approved a wallet on the deny list it already held', async () => {
      const t1 = await ctx.world.terminal('T1');
      const spec = ctx.world.wallet();
      await ctx.world.service!.settlement.reportLost(spec.walletId);
      await t1.pay(ctx.world.wallet().emulator(), 100);
      await t1.upload(ctx.world.url); // gets deny version 1
      await t1.upload(ctx.world.url); // and reports holding it
      expect(t1.risk.denyVersion).to.equal(1);
      // The same terminal, its risk state wiped (a faulty or tampered build), approves the lost wallet.
      const faulty = await ctx.world.terminal('T1', { register: false, seed: 'faulty', deviceSecretKey: t1.deviceSecretKey, lastSeq: 1 });
      expect((await faulty.pay(spec.emulator(), 900)).kind).to.equal('approved');
      const up = await faulty.upload(ctx.world.url);
      expect(up.response!.results[0]!.status).to.equal(RESULT_REJECTED);
      expect(up.response!.results[0]!.reason).to.match(/was on the deny list \(version 1\) the terminal held since #1/);
      expect(await ctx.world.service!.settlement.balance('merchant:M-T1')).to.equal(100);
      expect(await ctx.world.service!.settlement.stats()).to.deep.equal({ settled: 1, 'ignored-deny': 1 });
    });

    it('a lost-wallet report puts the wallet on the deny list; terminals refuse it; later spends are losses', async () => {
      const t1 = await ctx.world.terminal('T1');
      const t3 = await ctx.world.terminal('T3');
      const spec = ctx.world.wallet();
      const w = spec.emulator();
      await t1.pay(w, 100);
      // The holder reports the loss as of now (the first payment, 5 s ago, was theirs).
      const report = await ctx.world.admin('POST', `/v1/wallets/${spec.walletId}/lost`, { at: t1.clock.wallTime()! });
      expect(report.status).to.equal(200);
      expect(report.body).to.deep.equal({ walletId: spec.walletId, status: 'lost', denyListVersion: 1 });
      // The finder spends it at T1, which is offline and has not heard yet: approved there.
      t1.clock.advance(60_000);
      expect((await t1.pay(w, 300)).kind).to.equal('approved');
      const list = (await fetch(`${ctx.world.url}/v1/deny-list?since=0`).then((r) => r.json())) as { entries: { walletId: string }[]; update: string };
      expect(list.entries.map((e) => e.walletId)).to.deep.equal([spec.walletId]);
      const update = verifyUpdate(fromHex(list.update), ctx.world.rootAlg, ctx.world.rootPublicKey);
      expect(update.kind === UPDATE_DENY_LIST && update.add.map(toHex)).to.deep.equal([spec.walletId]);

      await t3.upload(ctx.world.url);
      const refused = await t3.pay(w, 100);
      expect(refused.kind === 'declined' && refused.decline.code).to.equal('walletDenied');
      const up1 = await t1.upload(ctx.world.url);
      expect(up1.response!.results.map((r) => r.reason ?? 'ok')).to.deep.equal(['ok', 'lost: credited, loss booked, wallet denied']);
      expect(t1.risk.denyVersion).to.equal(1);
      const s = ctx.world.service!.settlement;
      expect(await s.balance(`wallet:${spec.walletId}`)).to.equal(-100); // the holder pays only what they spent
      expect(await s.balance(`loss:issuer:${ctx.world.issuer.key.keyId}`)).to.equal(-300);
      const kinds = (await s.findings(spec.walletId)).map((f) => f.kind);
      expect(kinds).to.deep.equal(['reported-lost', 'lost']);
    });

    it('a lost wallet spent at a terminal whose clock says before the report: the wallet\'s counter says after', async () => {
      const t1 = await ctx.world.terminal('T1');
      const t2 = await ctx.world.terminal('T2');
      const spec = ctx.world.wallet();
      const w = spec.emulator();
      const lostAt = t1.clock.wallTime()!;
      expect((await ctx.world.admin('POST', `/v1/wallets/${spec.walletId}/lost`, { at: lostAt })).status).to.equal(200);
      // The finder spends at T1 (an honest clock): booked as lost.
      t1.clock.advance(60_000);
      expect((await t1.pay(w, 200)).kind).to.equal('approved');
      expect((await t1.upload(ctx.world.url)).response!.results[0]!.reason).to.match(/^lost/);
      // Then at T2, whose clock (and its floor: a tampered build) says an hour before the report.
      t2.clock.setWallTime(lostAt - 3600);
      t2.risk.clock.lastKnownTime = 0;
      expect((await t2.pay(w, 300)).kind).to.equal('approved');
      const up = await t2.upload(ctx.world.url);
      expect(up.response!.results.map((r) => r.reason ?? 'ok')).to.deep.equal(['lost: credited, loss booked, wallet denied']);
      const s = ctx.world.service!.settlement;
      expect(await s.balance(`wallet:${spec.walletId}`), 'the holder pays none of it').to.equal(0);
      expect(await s.balance(`loss:issuer:${ctx.world.issuer.key.keyId}`)).to.equal(-500);
    });

    it('books spending beyond the wallet\'s known balance as an overspend', async () => {
      const t1 = await ctx.world.terminal('T1');
      const spec = ctx.world.wallet({ balance: 100_000 }); // a tampered element claims far more than was loaded
      const reg = await ctx.world.admin('POST', '/v1/wallets', { walletId: spec.walletId, balance: 1000 });
      expect(reg.status).to.equal(200);
      const w = spec.emulator();
      await t1.pay(w, 600);
      await t1.pay(w, 600);
      const up = await t1.upload(ctx.world.url);
      expect(up.response!.results.map((r) => r.reason ?? 'ok')).to.deep.equal(['ok', 'overspend: credited, loss booked, wallet denied']);
      expect(t1.risk.denyVersion).to.equal(1);
    });

    it('flags a wallet whose signed balance goes up along its counter (a tampered element)', async () => {
      const t1 = await ctx.world.terminal('T1');
      const t2 = await ctx.world.terminal('T2');
      const spec = ctx.world.wallet({ balance: 1000 });
      const w = spec.emulator();
      await t1.pay(w, 600); // counter 1 leaves 400
      // The element's balance is reset to 1000 (an attack on the element): counter 2 leaves 700.
      const tampered = new WalletEmulator({ ...spec.options, balance: 1000, counter: 1 });
      await t2.pay(tampered, 300);
      await t1.upload(ctx.world.url);
      const up = await t2.upload(ctx.world.url);
      expect(up.response!.results[0]!.reason).to.equal('overspend: credited, loss booked, wallet denied');
      const [finding] = await ctx.world.service!.settlement.findings(spec.walletId);
      expect(finding!.evidence.reason).to.equal(`wallet ${spec.walletId} counter 2 spent 300 leaving 700, but counter 1 had left 400`);
      expect((finding!.evidence.other as { terminalId: string }).terminalId).to.equal('T1');
    });

    it('rejects tampered and over-cap receipts without crediting them', async () => {
      const t1 = await ctx.world.terminal('T1');
      const w = ctx.world.wallet().emulator();
      await t1.pay(w, 500);
      await t1.pay(w, 600);
      // Tamper: the amount inside the second request goes up; the wallet's signature no longer covers it.
      const r = decodeReceipt(t1.journal.records[1]!.payload);
      const request = r.request.slice();
      xorByte(request, request.indexOf(0x81) + 7, 0x10);
      t1.journal.records[1]!.payload = encodeReceipt({ ...r, request });
      const up = await t1.upload(ctx.world.url);
      expect(up.response!.results[0]!.status).to.equal(RESULT_ACCEPTED);
      expect(up.response!.results[1]!.status).to.equal(RESULT_REJECTED);
      expect(up.response!.results[1]!.reason).to.match(/^invalid: badSignature/);
      expect(await ctx.world.service!.settlement.balance('merchant:M-T1')).to.equal(500);

      // A cap lowered at the service after the tap: above it, nothing is credited.
      const reg = await ctx.world.admin('POST', '/v1/terminals', { terminalId: 'T1', publicKey: toHex(t1.devicePublicKey), merchantId: 'M-T1', maxTransaction: 100 });
      expect(reg.status).to.equal(200);
      await t1.pay(w, 150);
      const up2 = await t1.upload(ctx.world.url);
      expect(up2.response!.results[0]).to.deep.include({ status: RESULT_REJECTED });
      expect(up2.response!.results[0]!.reason).to.match(/above the cap/);
      expect(await ctx.world.service!.settlement.balance('merchant:M-T1')).to.equal(500);
    });

    it('refuses bad input with a clear HTTP error and writes nothing', async () => {
      const t1 = await ctx.world.terminal('T1');
      const w = ctx.world.wallet().emulator();
      await t1.pay(w, 100);
      const good = t1.batch();
      const before = await ctx.world.counts();
      const expectError = async (p: Promise<{ status: number; json?: any }>, status: number, code: string) => {
        const r = await p;
        expect(r.status, code).to.equal(status);
        expect(r.json.error).to.equal(code);
        expect(r.json.message).to.be.a('string').and.not.empty;
      };
      await expectError(ctx.world.post('/v1/batches', Uint8Array.from([0x80, 0x05, 1])), 400, 'malformed-batch');
      await expectError(ctx.world.post('/v1/batches', new Uint8Array(0)), 400, 'empty-body');
      await expectError(ctx.world.post('/v1/batches', new Uint8Array(300_000)), 413, 'body-too-large');
      await expectError(ctx.world.post('/v1/batches', good, 'text/plain'), 415, 'unsupported-media-type');
      const badSig = good.slice();
      xorByte(badSig, badSig.length - 5, 1);
      await expectError(ctx.world.post('/v1/batches', badSig), 401, 'bad-signature');
      const stranger = await ctx.world.terminal('T9', { register: false });
      await stranger.pay(w, 100);
      await expectError(ctx.world.post('/v1/batches', stranger.batch()), 403, 'unknown-terminal');
      // Another terminal's key signing T1's batch.
      const impostor = await ctx.world.terminal('T1', { register: false, seed: 'impostor' });
      await impostor.pay(w, 100);
      await expectError(ctx.world.post('/v1/batches', impostor.batch()), 401, 'bad-signature');
      expect(await ctx.world.counts()).to.deep.equal(before);

      // A replay: a used nonce with different contents.
      const nonce = new Uint8Array(16).fill(7);
      expect((await ctx.world.post('/v1/batches', t1.batch({ nonce, records: [] }))).status).to.equal(200);
      const after = await ctx.world.counts();
      await expectError(ctx.world.post('/v1/batches', t1.batch({ nonce })), 409, 'replayed-batch');
      expect(await ctx.world.counts()).to.deep.equal(after);

      // Revoked terminals are refused.
      expect((await ctx.world.admin('POST', '/v1/terminals/T1/revoke')).status).to.equal(200);
      await expectError(ctx.world.post('/v1/batches', t1.batch()), 403, 'terminal-revoked');
      expect(await ctx.world.counts()).to.deep.equal(after);

      // Operator routes need the token and valid bodies.
      expect((await ctx.world.admin('POST', '/v1/wallets/00/lost', {})).status).to.equal(400);
      const unauth = await ctx.world.admin('POST', '/v1/terminals', { terminalId: 'T5' }, 'wrong');
      expect(unauth).to.deep.equal({ status: 401, body: { error: 'unauthorized', message: unauth.body.message } });
      const invalid = await ctx.world.admin('POST', '/v1/terminals', { terminalId: 'T5', publicKey: 'zz', merchantId: 'M', maxTransaction: 1 });
      expect(invalid.status).to.equal(400);
      expect(invalid.body.error).to.equal('bad-request');
    });

    it('takes a rotated-in issuer key without a restart and sends terminals the new keyring', async () => {
      const t1 = await ctx.world.terminal('T1');
      t1.keyringVersion = 1;
      const now = Math.floor(Date.now() / 1000);
      ctx.world.keys.addIssuer({ alg: ALG_ED25519, keyId: 8, notBefore: now - 100, notAfter: now + 86400 * 30 });
      const issued = issueWallet(ctx.world.keys.issuer(8), ctx.world.random, { alg: ALG_P256, walletClass: 2, notBefore: now - 100, notAfter: now + 86400 });
      t1.verifier.replaceKeys(ctx.world.keys.keyring().keys); // as the keyring update would on the device
      const w = new WalletEmulator({ profile: 'phone', certificate: issued.certificate, secretKey: issued.keys.secretKey, balance: 5000, holderVerified: true });
      expect((await t1.pay(w, 250)).kind).to.equal('approved');
      const up = await t1.upload(ctx.world.url);
      expect(up.response!.results[0]!.status).to.equal(RESULT_ACCEPTED);
      const keyring = up.response!.updates.map((u) => verifyUpdate(u, ctx.world.rootAlg, ctx.world.rootPublicKey)).find((u) => u.kind === UPDATE_KEYRING);
      expect(keyring && keyring.kind === UPDATE_KEYRING && [keyring.version, keyring.keys.map((k) => k.keyId)]).to.deep.equal([2, [7, 8]]);
    });

    it('sends a deny-list delta from the terminal\'s version, chunked and signed', async () => {
      const s = ctx.world.service!.settlement;
      const ids = Array.from({ length: 5 }, () => ctx.world.wallet().walletId);
      for (const id of ids) await s.reportLost(id);
      const t1 = await ctx.world.terminal('T1');
      t1.risk.applyDenyDelta({ version: 2, addWallets: ids.slice(0, 2), removeWallets: [], addSerials: [], removeSerials: [] });
      const up = await t1.upload(ctx.world.url);
      const delta = up.response!.updates.map((u) => verifyUpdate(u, ctx.world.rootAlg, ctx.world.rootPublicKey)).find((u) => u.kind === UPDATE_DENY_LIST)!;
      expect(delta.kind === UPDATE_DENY_LIST && [delta.fromVersion, delta.version, delta.add.map(toHex)]).to.deep.equal([2, 5, ids.slice(2)]);
      const again = await t1.upload(ctx.world.url);
      expect(updatesOf(again.response!)).to.not.include(UPDATE_DENY_LIST);
    });
  });
}


// The back office over HTTP, on both backends: sign-in and sessions, escaping of everything the database
// holds, receipt filters and the CSV export, the terminal status batches carry, and the plot's series.
// (test/browser-pages.test.ts drives the same pages in a real browser.)
import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { FIRMWARE_VERSION } from '../firmware/app/version';
import { decodeTlv, encodeTlv } from '../firmware/core/protocol/tlv';
import { decodeBatch, encodeBatch, WireError } from '../firmware/core/uplink/wire';
import { BACKENDS, World, worldPerTest } from './settlement-fixtures';

const HTML = { accept: 'text/html' };

for (const { name, start } of BACKENDS) {
  describe(`back office (${name})`, function () {
    this.timeout(60_000);
    const ctx = worldPerTest(start, `office ${name}`);

    const get = (path: string, headers: Record<string, string> = {}) => fetch(ctx.world.url + path, { headers, redirect: 'manual' });
    const bearer = () => ({ authorization: `Bearer ${ctx.world.token}` });
    const signIn = async (token: string) =>
      fetch(ctx.world.url + '/office/login', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token }).toString(),
        redirect: 'manual',
      });

    it('asks for the operator token: a page redirects to sign-in, a script gets 401; a wrong token sets no cookie', async () => {
      const page = await get('/office/findings', HTML);
      expect(page.status).to.equal(303);
      expect(page.headers.get('location')).to.equal('/office/login');
      const script = await get('/office/receipts.csv');
      expect(script.status).to.equal(401);
      expect(((await script.json()) as { error: string }).error).to.equal('unauthorized');
      expect((await get('/office', { authorization: 'Bearer nope' })).status).to.equal(401);
      const wrong = await signIn('not-the-token');
      expect(wrong.status).to.equal(401);
      expect(wrong.headers.get('set-cookie')).to.equal(null);
      expect(await wrong.text()).to.contain('not the operator token');
      expect((await get('/office', bearer())).status).to.equal(200);
    });

    it('signs in with an HttpOnly SameSite cookie that never holds the token, refuses tampered and expired ones, signs out', async () => {
      const ok = await signIn(ctx.world.token);
      expect(ok.status).to.equal(303);
      const setCookie = ok.headers.get('set-cookie')!;
      expect(setCookie).to.match(/^tapline_office=\d+\.[0-9a-f]{64}; Path=\/office; HttpOnly; SameSite=Strict; Max-Age=43200$/);
      expect(setCookie).to.not.contain(ctx.world.token);
      const cookie = setCookie.split(';')[0]!;
      const page = await get('/office/terminals', { cookie });
      expect(page.status).to.equal(200);
      expect(page.headers.get('content-security-policy')).to.contain("default-src 'none'");
      const [, value] = cookie.split('=');
      const [expires, mac] = value!.split('.');
      const flipped = mac!.slice(0, -1) + (mac!.endsWith('0') ? '1' : '0');
      expect((await get('/office/terminals', { cookie: `tapline_office=${expires}.${flipped}` })).status).to.equal(401);
      // a later expiry with the old MAC: the MAC covers the expiry
      expect((await get('/office/terminals', { cookie: `tapline_office=${Number(expires) + 3600}.${mac}` })).status).to.equal(401);
      // correctly signed but expired
      const past = Math.floor(Date.now() / 1000) - 1;
      const expired = createHmac('sha256', ctx.world.token).update(`tapline-office-session|${past}`).digest('hex');
      expect((await get('/office/terminals', { cookie: `tapline_office=${past}.${expired}` })).status).to.equal(401);
      const out = await fetch(ctx.world.url + '/office/logout', { method: 'POST', headers: { cookie }, redirect: 'manual' });
      expect(out.status).to.equal(303);
      expect(out.headers.get('set-cookie')).to.contain('Max-Age=0');
    });

    it('escapes what the database holds on every page', async () => {
      const t = await ctx.world.terminal('T1');
      const w = ctx.world.wallet({ balance: 50_000 }).emulator();
      await t.pay(w, 700);
      expect((await t.upload(ctx.world.url)).status).to.equal(200);
      const evil = '<script>alert(1)</script>"\'&';
      await ctx.world.service!.settlement.db.transaction(async (tx) => {
        await tx.run('UPDATE receipts SET reason = $1', [evil]);
        await tx.run('INSERT INTO findings (kind, wallet_id, receipt_id, other_receipt_id, evidence, created_at) VALUES ($1, $2, $3, $4, $5, $6)', [
          '<b>kind</b>',
          w.info.walletId,
          null,
          null,
          JSON.stringify({ reason: evil, receipt: { terminalId: '<i>T</i>', seq: 1, bytes: '<u>' } }),
          1,
        ]);
        await tx.run('INSERT INTO ledger (account, amount, receipt_id, memo, created_at) VALUES ($1, $2, $3, $4, $5)', ['merchant:<x>', 0, null, evil, 1]);
      });
      for (const path of ['/office', '/office/receipts', '/office/findings', '/office/accounts', '/office/terminals', '/office/deny-list']) {
        const body = await (await get(path, bearer())).text();
        expect(body, path).to.not.contain('<script>alert');
        expect(body, path).to.not.match(/<[biux]>/);
      }
      const receipts = await (await get('/office/receipts', bearer())).text();
      expect(receipts).to.contain('&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;');
      const findings = await (await get('/office/findings', bearer())).text();
      expect(findings).to.contain('&lt;i&gt;T&lt;/i&gt;');
    });

    it('filters receipts, refuses a bad filter with 400, and exports CSV with quoting and formulas defused', async () => {
      const t1 = await ctx.world.terminal('T1');
      const t2 = await ctx.world.terminal('T2');
      const w = ctx.world.wallet({ balance: 50_000 }).emulator();
      for (const amount of [100, 200]) await t1.pay(w, amount);
      await t2.pay(w, 300);
      await t1.upload(ctx.world.url);
      await t2.upload(ctx.world.url);
      const rows = async (qs: string) => ((await (await get(`/office/receipts?${qs}`, bearer())).text()).match(/<tr><td class="num">/g) ?? []).length;
      expect(await rows('')).to.equal(3);
      expect(await rows('terminal=T1')).to.equal(2);
      expect(await rows(`wallet=${w.info.walletId}&terminal=T2`)).to.equal(1);
      expect(await rows('outcome=clone')).to.equal(0);
      const today = new Date().toISOString().slice(0, 10);
      expect(await rows(`from=${today}&to=${today}`)).to.equal(3);
      expect(await rows('to=2000-01-01')).to.equal(0);
      const bad = await get('/office/receipts?wallet=zz&from=yesterday', bearer());
      expect(bad.status).to.equal(400);
      expect(await bad.text()).to.contain('wallet id: 16 lowercase hex digits').and.to.contain('from: a date as YYYY-MM-DD');
      expect((await get('/office/receipts.csv?outcome=nope', bearer())).status).to.equal(400);

      await ctx.world.service!.settlement.db.transaction((tx) => tx.run(`UPDATE receipts SET reason = $1 WHERE terminal_id = 'T2'`, ['=HYPERLINK("x"), said "hi"']));
      const csv = await get('/office/receipts.csv', bearer());
      expect(csv.headers.get('content-type')).to.contain('text/csv');
      expect(csv.headers.get('content-disposition')).to.contain('attachment');
      const lines = (await csv.text()).trim().split('\n');
      expect(lines).to.have.length(4);
      expect(lines[0]).to.equal('id,received_at,terminal_id,terminal_seq,merchant_id,wallet_id,counter,amount_minor,outcome,credited,reason');
      expect(lines[3]).to.match(/,T2,1,M-T2,[0-9a-f]{16},\d+,300,settled,1,"'=HYPERLINK\(""x""\), said ""hi"""$/);
      const only = (await (await get('/office/receipts.csv?terminal=T1', bearer())).text()).trim().split('\n');
      expect(only).to.have.length(3);
    });

    it('shows what terminals report in their batches: firmware, backlog, offline totals, state versions', async () => {
      const t = await ctx.world.terminal('T1');
      const w = ctx.world.wallet({ balance: 50_000 }).emulator();
      for (const amount of [1000, 250]) await t.pay(w, amount);
      const body = encodeBatch(
        {
          terminalId: t.terminalId,
          nonce: ctx.world.random(16),
          denyListVersion: 0,
          keyringVersion: 3,
          configVersion: 2,
          status: { firmware: FIRMWARE_VERSION, backlog: 17, offlineAmount: 1250, offlineCount: 2 },
          items: t.journal.records.map((r) => ({ seq: r.seq, receipt: r.payload })),
        },
        t.deviceSecretKey,
      );
      expect((await t.upload(ctx.world.url, body)).status).to.equal(200);
      const page = await (await get('/office/terminals', bearer())).text();
      const row = page.split('<tr>').find((r) => r.includes('>T1</a>'))!;
      const cells = [...row.matchAll(/<td[^>]*>(.*?)<\/td>/gs)].map((m) => m[1]!.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim());
      expect(cells[1]).to.equal('M-T1');
      expect(cells[3]).to.match(/^\d+ s ago \d{4}-\d\d-\d\dT/);
      expect(cells.slice(4, 12)).to.deep.equal(['2', '2', '17', '12.50 2 payments', FIRMWARE_VERSION, '3', '0', '2']);
      // a batch without the status still records its upload and versions
      await t.pay(w, 5);
      expect((await t.upload(ctx.world.url)).status).to.equal(200);
      const later = await ctx.world.service!.settlement.db.read((tx) => tx.get<{ firmware: string | null; backlog: number | null }>('SELECT firmware, backlog FROM terminal_reports'));
      expect(later).to.deep.equal({ firmware: null, backlog: null });
    });

    it('plots receipts per time bucket: settled, credited with a finding, rejected', async () => {
      const t1 = await ctx.world.terminal('T1');
      const t2 = await ctx.world.terminal('T2');
      const w = ctx.world.wallet({ balance: 50_000 });
      const clone = w.emulator();
      await t1.pay(w.emulator(), 400);
      await t2.pay(clone, 400); // the same counter at another terminal
      await t1.upload(ctx.world.url);
      await t2.upload(ctx.world.url);
      const page = await (await get('/office', bearer())).text();
      expect(page).to.contain('<svg').and.to.contain('1 settled</title>').and.to.contain('1 findings</title>');
    });
  });
}

describe('terminal status in upload batches', () => {
  it('round-trips, is optional, and a partial status is a malformed batch', async () => {
    const world = await World.create({ seed: 'status' });
    try {
      const key = world.random(32);
      key[0] = 1;
      const base = { terminalId: 'T1', nonce: world.random(16), denyListVersion: 1, keyringVersion: 2, configVersion: 3, items: [] };
      const status = { firmware: '0.1.0', backlog: 5, offlineAmount: 2 ** 40, offlineCount: 9 };
      expect(decodeBatch(encodeBatch({ ...base, status }, key)).status).to.deep.equal(status);
      expect(decodeBatch(encodeBatch(base, key)).status).to.equal(undefined);
      const fields = decodeTlv(encodeBatch({ ...base, status }, key), { maxBytes: 70_000, maxFields: 20 });
      const partial = encodeTlv(fields.filter((f) => f.tag !== 0x8a));
      expect(() => decodeBatch(partial)).to.throw(WireError, /status needs all/);
      expect(() => encodeBatch({ ...base, status: { ...status, firmware: '' } }, key)).to.throw(WireError, /firmware version/);
    } finally {
      await world.close();
    }
  });

  it('reports the firmware version package.json names', () => {
    expect(FIRMWARE_VERSION).to.equal(JSON.parse(readFileSync('package.json', 'utf8')).version);
  });
});

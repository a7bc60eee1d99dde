// Both pages in a real browser (Debian's chromium through puppeteer-core, test/browser.ts): the terminal
// page of `npm start -- --web` driving the simulator (firmware on XS, simulated board, local settlement
// service), and the back office of that same service. What a user would check: a tap on the page leads
// to APPROVED on the OLED the page draws (its canvas pixels, compared with the device's own approved
// screen), and a clone caught by the service (the same wallet at two terminals, then uploads) shows in
// the back office's findings with its evidence. Screenshots go to docs/screenshots/ for the README.
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'puppeteer-core';
import { WebSocket } from 'ws';
import { World } from '../host/sim/world';
import { WebTerminal } from '../host/sim/web/server';
import { renderScreen } from '../host/sim/hw/screen-gallery';
import { toHex } from '../firmware/base/bytes';
import { launchBrowser, type TestBrowser } from './browser';

// The page's globals as the callbacks passed to page.evaluate see them (they run in the browser; this
// project compiles without the DOM library).
declare const document: any;
declare const window: { tapline: { oled: { lines: string[]; bytes: Uint8Array } } };

// CI (a fresh clone) and TAPLINE_SCREENSHOTS=1 write the committed screenshots; elsewhere they go to a
// temporary folder, so a local test run leaves the work tree clean.
const SHOTS = process.env.CI || process.env.TAPLINE_SCREENSHOTS ? join('docs', 'screenshots') : mkdtempSync(join(tmpdir(), 'tapline-shots-'));
const W = 128;
const H = 64;

/** The 128x64 pixels the page's canvas shows, read back from the canvas, in the panel's byte layout. */
async function canvasPixels(page: Page): Promise<string> {
  const bits = await page.evaluate((w: number, h: number) => {
    const canvas = document.getElementById('oled');
    const scale = canvas.width / w;
    const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
    const out: number[] = new Array((w * h) / 8).fill(0);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        // the middle of each scaled dot, clear of the seam drawn between dots
        const i = ((y * scale + 1) * canvas.width + x * scale + 1) * 4;
        // runs in the page, which cannot import: out is filled above and i lies inside the canvas
        const k = (y >> 3) * w + x;
        if (data[i]! > 128) out[k] = out[k]! | (1 << (y & 7));
      }
    return out;
  }, W, H);
  return toHex(Uint8Array.from(bits));
}

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  let last: T | undefined | false;
  while (Date.now() < end) {
    last = await probe();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}

/** Waits for the screen's meaning (the display effect's lines, as the page holds them) to match. */
async function untilScreen(page: Page, what: string, match: (lines: string) => boolean): Promise<void> {
  let last = '';
  try {
    await until(what, async () => match((last = await screenLines(page))));
  } catch {
    throw new Error(`timed out waiting for ${what}; the screen says: ${last}`);
  }
}

async function press(page: Page, keys: string): Promise<void> {
  for (const k of keys) await page.click(`button[data-key="${k}"]`);
}

const screenLines = (page: Page) => page.evaluate(() => window.tapline.oled.lines.join(' | '));

describe('the pages in a real browser @xs', function () {
  this.timeout(300_000);
  let dir: string;
  let world: World;
  let web: WebTerminal;
  let chromium: TestBrowser;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tapline-web-'));
    mkdirSync(SHOTS, { recursive: true });
    world = await World.open({ dir, mode: 'merchant' });
    web = await WebTerminal.start({ world });
    chromium = await launchBrowser();
  });

  after(async () => {
    await chromium?.close();
    await web?.close();
    await world?.close();
    rmSync(dir, { recursive: true, force: true });
    if (SHOTS.startsWith(tmpdir())) rmSync(SHOTS, { recursive: true, force: true });
  });

  it('the simulator takes a socket only from its own page', async () => {
    const open = (origin: string) =>
      new Promise<{ code: number; first?: string }>((done) => {
        const ws = new WebSocket(web.url.replace('http', 'ws') + '/ws', { origin });
        let first: string | undefined;
        ws.on('message', (m) => {
          first ??= String(m);
          ws.close();
        });
        ws.on('close', (code) => done({ code, first }));
      });
    const evil = await open('http://evil.example');
    expect(evil.code).to.equal(1008);
    expect(evil.first).to.equal(undefined);
    const own = await open(web.url);
    expect(JSON.parse(own.first!).type).to.equal('state');
  });

  it('a tap on the terminal page is APPROVED on the OLED it draws; a clone then shows in the back office', async () => {
    const page = await chromium.browser.newPage();
    await page.setViewport({ width: 1280, height: 900 });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(web.url + '/');
    await untilScreen(page, 'the terminal to boot', (l) => l.includes('enter amount'));

    // key an amount, tap bob's phone: the OLED must show exactly the device's approved screen
    await press(page, '1250#');
    await untilScreen(page, 'the tap prompt', (l) => l.startsWith('pay'));
    await page.click('button[data-wallet="bob-phone"]');
    const bob = world.wallets.get('bob-phone')!;
    const approved = toHex(renderScreen((s) => s.approved(1250, 200_000 - 1250)).screen());
    await until('APPROVED on the drawn OLED', async () => (await canvasPixels(page)) === approved);
    expect(bob.balance).to.equal(200_000 - 1250);
    // the page's own model of the panel is what it drew
    const model = await page.evaluate(() => Array.from(window.tapline.oled.bytes));
    expect(toHex(Uint8Array.from(model))).to.equal(approved);
    expect(await page.$eval('#led-green', (e) => e.classList.contains('on'))).to.equal(true);
    await page.screenshot({ path: join(SHOTS, 'terminal-approved.png') });
    await page.click('#remove');

    // alice pays at the other till (online, uploads at once); her clone pays here, offline, same counter
    await web.act(() => world.payElsewhere('alice-card', 1500));
    await untilScreen(page, 'the idle screen', (l) => l.includes('enter amount'));
    await press(page, '2000#');
    await untilScreen(page, 'the tap prompt', (l) => l.startsWith('pay'));
    await page.click('button[data-wallet="mallory-clone"]');
    await untilScreen(page, 'the clone approved offline', (l) => l.startsWith('APPROVED'));
    await page.click('#remove');
    // Wi-Fi returns: the switch on the page; the upload reveals the same counter at two terminals
    await page.click('label.switch:has(#network)');
    await until('the clone finding', async () => (await world.service.settlement.findings()).some((f) => f.kind === 'clone'));
    await until('the effect log to show the deny list the upload brought back', async () => page.$eval('#log', (e) => e.textContent?.includes('deny list version 1') ?? false));
    expect(errors).to.deep.equal([]);

    // the back office of the same service: sign in with the operator token, then the findings
    const office = await chromium.browser.newPage();
    await office.setViewport({ width: 1280, height: 900 });
    const walletId = world.wallets.get('alice-card')!.info.walletId;
    await office.goto(world.service.url + '/office/findings');
    expect(office.url()).to.equal(world.service.url + '/office/login');
    await office.type('input[name=token]', 'not the token');
    await Promise.all([office.waitForNavigation(), office.click('form.login button')]);
    expect(await office.$eval('.error', (e) => e.textContent)).to.contain('not the operator token');
    await office.type('input[name=token]', world.adminToken);
    await Promise.all([office.waitForNavigation(), office.click('form.login button')]);
    expect(office.url()).to.equal(world.service.url + '/office');
    await office.screenshot({ path: join(SHOTS, 'office-overview.png'), fullPage: true });

    await office.goto(world.service.url + '/office/findings');
    const finding = await office.$(`article.finding[data-kind="clone"][data-wallet="${walletId}"]`);
    expect(finding, 'a clone finding for alice-card').to.not.equal(null);
    const evidence = await finding!.evaluate((e) => e.textContent ?? '');
    expect(evidence).to.contain('SIM-TILL-1').and.to.contain('SIM-TILL-2');
    await office.screenshot({ path: join(SHOTS, 'office-findings.png'), fullPage: true });

    // the deny list names the wallet and why; the terminals page shows what the terminal reported
    await office.goto(world.service.url + '/office/deny-list');
    expect(await office.$eval('table', (e) => e.textContent)).to.contain(walletId).and.to.contain('clone');
    await office.goto(world.service.url + '/office/terminals');
    const till = await office.$$eval('tbody tr', (rows) => rows.map((r) => Array.from(r.querySelectorAll('td'), (td: any) => String(td.textContent).trim())));
    const row = till.find((cells) => cells[0] === 'SIM-TILL-1');
    expect(row, 'SIM-TILL-1 on the terminals page').to.not.equal(undefined);
    expect(row![8]).to.equal('0.1.0');
    expect(row![3]).to.not.contain('never');
    await office.screenshot({ path: join(SHOTS, 'office-terminals.png'), fullPage: true });

    await office.goto(world.service.url + '/office/receipts');
    const receipts = await office.$$eval('tbody tr', (rows) => rows.length);
    expect(receipts).to.equal(3);
    await office.screenshot({ path: join(SHOTS, 'office-receipts.png'), fullPage: true });
    // the CSV export the page links to, fetched with the session cookie the sign-in set
    await office.select('select[name=outcome]', 'clone');
    await Promise.all([office.waitForNavigation(), office.click('form.filters button')]);
    expect(await office.$$eval('tbody tr', (rows) => rows.length)).to.equal(1);
    const href = await office.$eval('a.button.secondary', (a) => (a as unknown as { href: string }).href);
    expect(href).to.equal(world.service.url + '/office/receipts.csv?outcome=clone');
    const cookies = (await office.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const csv = await (await fetch(href, { headers: { cookie: cookies } })).text();
    const lines = csv.trim().split('\n');
    expect(lines[0]).to.match(/^id,received_at,terminal_id/);
    expect(lines.slice(1)).to.have.length(1);
    expect(lines[1]).to.contain(walletId).and.to.contain(',clone,');

    await office.goto(world.service.url + '/office/accounts');
    await office.screenshot({ path: join(SHOTS, 'office-accounts.png'), fullPage: true });
  });
});

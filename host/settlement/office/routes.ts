// The back office: server-rendered pages under /office for the operator, behind the same operator token
// as the JSON routes. Signing in posts the token once; the service answers with a session cookie that
// carries its expiry and an HMAC keyed by the token (HttpOnly, SameSite=Strict), so the token itself is
// never stored in the browser and rotating keys/admin.token ends every session. Scripts may instead send
// `Authorization: Bearer <token>` (e.g. for the CSV export). Read-only: nothing here changes money.
import { createHmac } from 'node:crypto';
import { sameSecret as same } from '../secret';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SettlementError, type Settlement } from '../settlement';
import { ago, badge, html, money, page, table, time, type Html } from './html';
import { receiptsPlot } from './plot';
import { MAX_EXPORT_ROWS, OfficeQueries, PAGE_ROWS, type FindingView, type ReceiptFilter, type ReceiptView } from './queries';

export interface OfficeOptions {
  settlement: Settlement;
  adminToken: string;
  /** Session length (default 12 hours). */
  sessionSeconds?: number;
}

const COOKIE = 'tapline_office';
const STYLE = readFileSync(new URL('./office.css', import.meta.url), 'utf8');
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};
const OUTCOMES = ['settled', 'double-spend', 'clone', 'overspend', 'lost', 'denied', 'over-cap', 'ignored-deny', 'replayed', 'invalid'];
const FINDING_KINDS = ['clone', 'double-spend', 'overspend', 'lost', 'denied', 'reported-lost'];
const ID = /^[A-Za-z0-9._-]{1,16}$/;
const WALLET = /^[0-9a-f]{16}$/;

export function registerOffice(app: FastifyInstance, options: OfficeOptions): void {
  void app.register(async (office) => office.register(routes, options), { prefix: '/office' });
}

async function routes(office: FastifyInstance, options: OfficeOptions): Promise<void> {
  const { settlement } = options;
  const q = new OfficeQueries(settlement.db);
  const token = Buffer.from(options.adminToken);
  const sessionSeconds = options.sessionSeconds ?? 12 * 3600;
  const sign = (expires: number) => createHmac('sha256', token).update(`tapline-office-session|${expires}`).digest('hex');

  const signedIn = (request: FastifyRequest): boolean => {
    const header = request.headers.authorization ?? '';
    if (header.startsWith('Bearer ')) return same(Buffer.from(header.slice(7)), token);
    const value = cookie(request.headers.cookie, COOKIE);
    const m = value ? /^(\d{1,12})\.([0-9a-f]{64})$/.exec(value) : null;
    if (!m) return false;
    const expires = Number(m[1]);
    return expires > Date.now() / 1000 && same(Buffer.from(m[2]!), Buffer.from(sign(expires)));
  };

  office.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_req, body, done) =>
    done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );

  office.addHook('onSend', async (_request, reply) => {
    reply.headers(SECURITY_HEADERS);
  });

  office.addHook('onRequest', async (request, reply) => {
    const path = request.url.split('?')[0]!;
    if (path === '/office/login' || path === '/office/style.css') return;
    if (signedIn(request)) return;
    if (request.method === 'GET' && (request.headers.accept ?? '').includes('text/html')) return reply.redirect('/office/login', 303);
    throw new SettlementError(401, 'unauthorized', 'the back office needs the operator token: sign in at /office/login or send Authorization: Bearer ...');
  });

  const send = (reply: FastifyReply, body: string, status = 200) => reply.code(status).type('text/html; charset=utf-8').send(body);

  office.get('/style.css', async (_request, reply) => reply.type('text/css; charset=utf-8').send(STYLE));

  office.get('/login', async (request, reply) => {
    if (signedIn(request)) return reply.redirect('/office', 303);
    return send(reply, loginPage());
  });

  office.post('/login', async (request, reply) => {
    const given = (request.body as { token?: unknown } | undefined)?.token;
    if (typeof given !== 'string' || !same(Buffer.from(given.trim()), token)) {
      return send(reply, loginPage('That is not the operator token. It is in keys/admin.token, next to the service\'s keys.'), 401);
    }
    const expires = Math.floor(Date.now() / 1000) + sessionSeconds;
    const secure = request.protocol === 'https' ? '; Secure' : '';
    reply.header('set-cookie', `${COOKIE}=${expires}.${sign(expires)}; Path=/office; HttpOnly; SameSite=Strict; Max-Age=${sessionSeconds}${secure}`);
    return reply.redirect('/office', 303);
  });

  office.post('/logout', async (_request, reply) => {
    reply.header('set-cookie', `${COOKIE}=; Path=/office; HttpOnly; SameSite=Strict; Max-Age=0`);
    return reply.redirect('/office/login', 303);
  });

  office.get('/', async (_request, reply) => {
    const now = settlement.now();
    const [totals, series, findings, terminals] = await Promise.all([q.totals(), q.settledSeries(now), q.findings(undefined, 5), q.terminals()]);
    const body = html`
<section class="cards">
  ${card('Terminals', totals.terminals, `${terminals.filter((t) => t.lastUpload !== null).length} have uploaded`)}
  ${card('Receipts', totals.receipts.toLocaleString('en-US'), 'received and verified')}
  ${card('Credited', money(totals.settledAmount), 'paid to merchants')}
  ${card('Findings', totals.findings, 'clones, double spends, overspends, lost', totals.findings > 0 ? 'bad' : '')}
  ${card('Deny list', totals.denied, 'wallets refused at every terminal')}
  ${card('Advance', money(totals.advance), 'zero once every batch is settled', totals.advance !== 0 ? 'warn' : '')}
</section>
<h2>Receipts settled over time</h2>
${receiptsPlot(series.points, series.bucketSeconds)}
<h2>Latest findings <a class="more" href="/office/findings">all findings →</a></h2>
${findingsTable(findings)}`;
    return send(reply, page('Overview', '/office', body));
  });

  office.get('/terminals', async (_request, reply) => {
    const now = settlement.now();
    const rows = await q.terminals();
    const body = html`<p class="lead">What each terminal reported in its newest upload batch. "Waiting" counts receipts still in its journal after that batch; offline totals are its risk engine's since it last settled.</p>
${table(
  rows,
  [
    { head: 'Terminal', cell: (t) => html`<a href="/office/receipts?terminal=${encodeURIComponent(t.terminalId)}">${t.terminalId}</a>` },
    { head: 'Merchant', cell: (t) => t.merchantId },
    { head: 'Status', cell: (t) => badge(t.status) },
    { head: 'Last upload', cell: (t) => html`${ago(t.lastUpload, now)}<br><small>${time(t.lastUpload)}</small>` },
    { head: 'Receipts', cell: (t) => t.receipts, className: 'num' },
    { head: 'Acked to', cell: (t) => t.ackedSeq, className: 'num' },
    { head: 'Waiting', cell: (t) => t.backlog ?? '—', className: 'num' },
    { head: 'Offline total', cell: (t) => (t.offlineAmount === null ? '—' : html`${money(t.offlineAmount)}<br><small>${t.offlineCount} payment${t.offlineCount === 1 ? '' : 's'}</small>`), className: 'num' },
    { head: 'Firmware', cell: (t) => t.firmware ?? '—' },
    { head: 'Keyring', cell: (t) => t.keyringVersion ?? '—', className: 'num' },
    { head: 'Deny list', cell: (t) => t.denyVersion ?? '—', className: 'num' },
    { head: 'Config', cell: (t) => t.configVersion ?? '—', className: 'num' },
    { head: 'Cap', cell: (t) => money(t.maxTransaction), className: 'num' },
  ],
  'No terminal is registered yet (tapline provision-terminal --register).',
)}`;
    return send(reply, page('Terminals', '/office/terminals', body));
  });

  office.get('/receipts', async (request, reply) => {
    const query = request.query as Record<string, string | undefined>;
    const { filter, errors } = receiptFilter(query);
    const before = /^\d{1,15}$/.test(query.before ?? '') ? Number(query.before) : undefined;
    const rows = errors.length ? [] : await q.receipts(filter, PAGE_ROWS, before);
    const qs = filterQuery(query);
    const next = rows.length === PAGE_ROWS ? `/office/receipts?${qs}${qs ? '&' : ''}before=${rows[rows.length - 1]!.id}` : '';
    const body = html`<form class="filters" method="get" action="/office/receipts">
  <label>Terminal <input name="terminal" value="${query.terminal ?? ''}" placeholder="SHOP-1"></label>
  <label>Merchant <input name="merchant" value="${query.merchant ?? ''}" placeholder="BAKERY"></label>
  <label>Wallet <input name="wallet" value="${query.wallet ?? ''}" placeholder="16 hex digits" size="18"></label>
  <label>Outcome <select name="outcome"><option value="">any</option>${OUTCOMES.map((o) => html`<option${o === query.outcome ? html` selected` : ''}>${o}</option>`)}</select></label>
  <label>From (UTC) <input type="date" name="from" value="${query.from ?? ''}"></label>
  <label>To (UTC) <input type="date" name="to" value="${query.to ?? ''}"></label>
  <button type="submit">Filter</button>
  <a class="button secondary" href="/office/receipts.csv${qs ? '?' + qs : ''}">Export CSV</a>
</form>
${errors.length ? html`<p class="error">${errors.join('; ')}</p>` : ''}
${receiptsTable(rows)}
${next ? html`<p><a href="${next}">Older receipts →</a></p>` : ''}`;
    return send(reply, page('Receipts', '/office/receipts', body), errors.length ? 400 : 200);
  });

  office.get('/receipts.csv', async (request, reply) => {
    const { filter, errors } = receiptFilter(request.query as Record<string, string | undefined>);
    if (errors.length) throw new SettlementError(400, 'bad-filter', errors.join('; '));
    async function* lines() {
      yield 'id,received_at,terminal_id,terminal_seq,merchant_id,wallet_id,counter,amount_minor,outcome,credited,reason\n';
      for await (const chunk of q.exportReceipts(filter)) {
        yield chunk.map((r) => csvRow([r.id, time(r.receivedAt), r.terminalId, r.terminalSeq, r.merchantId, r.walletId ?? '', r.counter ?? '', r.amount, r.outcome, r.credited ? 1 : 0, r.reason])).join('');
      }
    }
    return reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', `attachment; filename="receipts.csv"`)
      .header('x-max-rows', String(MAX_EXPORT_ROWS))
      .send(Readable.from(lines()));
  });

  office.get('/findings', async (request, reply) => {
    const kind = (request.query as { kind?: string }).kind;
    const valid = kind && FINDING_KINDS.includes(kind) ? kind : undefined;
    const rows = await q.findings(valid, PAGE_ROWS);
    const body = html`<p class="lead">What settlement found that offline checks could not: the same wallet counter at two terminals (clone) or twice at one (double spend), spending beyond what the issuer loaded (overspend), and spends of lost or deny-listed wallets. Each one was credited to the merchant and booked as the issuer's loss; the wallet went on the deny list.</p>
<nav class="tabs"><a href="/office/findings"${valid ? '' : html` aria-current="page"`}>all</a>${FINDING_KINDS.map((k) => html`<a href="/office/findings?kind=${k}"${k === valid ? html` aria-current="page"` : ''}>${k}</a>`)}</nav>
${rows.length === 0 ? html`<p class="empty">No findings${valid ? html` of kind ${valid}` : ''}.</p>` : rows.map(findingCard)}`;
    return send(reply, page('Findings', '/office/findings', body));
  });

  office.get('/deny-list', async (_request, reply) => {
    const rows = await q.denyList();
    const body = html`<p class="lead">Every terminal receives this list, as signed deltas, in the answer to its next upload, and declines these wallets offline.</p>
${table(
  rows,
  [
    { head: 'Version', cell: (d) => d.version, className: 'num' },
    { head: 'Wallet', cell: (d) => html`<a href="/office/receipts?wallet=${d.walletId}"><code>${d.walletId}</code></a>` },
    { head: 'Why', cell: (d) => html`${badge(d.reason)} <small>${d.findings} finding${d.findings === 1 ? '' : 's'} · <a href="/office/findings">evidence</a></small>` },
    { head: 'Wallet status', cell: (d) => d.walletStatus ?? '—' },
    { head: 'Loaded', cell: (d) => money(d.funded), className: 'num' },
    { head: 'Debited', cell: (d) => money(d.spent), className: 'num' },
    { head: 'Added', cell: (d) => time(d.addedAt) },
  ],
  'The deny list is empty.',
)}`;
    return send(reply, page('Deny list', '/office/deny-list', body));
  });

  office.get('/accounts', async (request, reply) => {
    const account = (request.query as { account?: string }).account;
    const chosen = account && /^[A-Za-z0-9:._-]{1,80}$/.test(account) ? account : undefined;
    const [accounts, postings] = await Promise.all([q.accounts(), q.postings(chosen)]);
    const group = (prefix: string) => accounts.filter((a) => a.account.startsWith(prefix));
    const accountsTable = (rows: typeof accounts, empty: string) =>
      table(
        rows,
        [
          { head: 'Account', cell: (a) => html`<a href="/office/accounts?account=${encodeURIComponent(a.account)}">${a.account}</a>` },
          { head: 'Balance', cell: (a) => money(a.balance), className: 'num' },
          { head: 'Postings', cell: (a) => a.postings, className: 'num' },
        ],
        empty,
      );
    const body = html`<p class="lead">Double-entry: every credited receipt pays the merchant from the advance account; a settled receipt recovers it from the wallet's owner, or from its program when a purpose-bound balance paid; a finding closes it against the issuer as a loss.</p>
<div class="columns">
<section><h2>Merchants (owed)</h2>${accountsTable(group('merchant:'), 'No merchant has been credited yet.')}</section>
<section><h2>Advance and losses</h2>${accountsTable([...group('advance'), ...group('loss:')], 'No postings yet.')}</section>
</div>
<h2>Programs (purpose-bound funds paid)</h2>
${accountsTable(group('program:'), 'No purpose-bound balance has paid yet.')}
<h2>Wallets (debited)</h2>
${accountsTable(group('wallet:'), 'No wallet has been debited yet.')}
<h2>Advance / recovery ledger${chosen ? html`: ${chosen} <a class="more" href="/office/accounts">all accounts</a>` : ''}</h2>
${table(
  postings,
  [
    { head: '#', cell: (p) => p.id, className: 'num' },
    { head: 'Time', cell: (p) => time(p.createdAt) },
    { head: 'Account', cell: (p) => p.account },
    { head: 'Amount', cell: (p) => html`<span class="${p.amount < 0 ? 'neg' : 'pos'}">${money(p.amount)}</span>`, className: 'num' },
    { head: 'Receipt', cell: (p) => p.receiptId ?? '—', className: 'num' },
    { head: 'Memo', cell: (p) => p.memo },
  ],
  'No postings.',
)}`;
    return send(reply, page('Accounts', '/office/accounts', body));
  });
}

function loginPage(error?: string): string {
  return page(
    'Sign in',
    '',
    html`<form class="login" method="post" action="/office/login">
  <p>The back office is for the service's operators. Paste the operator token from <code>keys/admin.token</code>.</p>
  ${error ? html`<p class="error" role="alert">${error}</p>` : ''}
  <label>Operator token <input type="password" name="token" autocomplete="current-password" required autofocus></label>
  <button type="submit">Sign in</button>
</form>`,
    { signedIn: false },
  );
}

function card(title: string, value: unknown, note: string, tone = ''): Html {
  return html`<div class="card ${tone}"><div class="label">${title}</div><div class="value">${value}</div><div class="note">${note}</div></div>`;
}

function receiptsTable(rows: ReceiptView[]): Html {
  return table(
    rows,
    [
      { head: '#', cell: (r) => r.id, className: 'num' },
      { head: 'Received', cell: (r) => time(r.receivedAt) },
      { head: 'Terminal', cell: (r) => html`${r.terminalId} <small>#${r.terminalSeq}</small>` },
      { head: 'Merchant', cell: (r) => r.merchantId },
      { head: 'Wallet', cell: (r) => (r.walletId ? html`<a href="/office/receipts?wallet=${r.walletId}"><code>${r.walletId}</code></a> <small>ctr ${r.counter}</small>` : '—') },
      { head: 'Amount', cell: (r) => money(r.amount), className: 'num' },
      { head: 'Outcome', cell: (r) => html`${badge(r.outcome)}${r.credited ? '' : html` <small>not credited</small>`}` },
      { head: 'Reason', cell: (r) => html`<small>${r.reason}</small>` },
    ],
    'No receipts match.',
  );
}

function findingsTable(rows: FindingView[]): Html {
  return table(
    rows,
    [
      { head: 'Kind', cell: (f) => badge(f.kind) },
      { head: 'Wallet', cell: (f) => html`<code>${f.walletId}</code>` },
      { head: 'Where', cell: (f) => where(f) },
      { head: 'Amount', cell: (f) => money(typeof f.evidence.amount === 'number' ? f.evidence.amount : null), className: 'num' },
      { head: 'Found', cell: (f) => time(f.createdAt) },
    ],
    'No findings: nothing slipped through.',
  );
}

interface EvidenceReceipt {
  terminalId?: string;
  seq?: number;
  bytes?: string;
}

function where(f: FindingView): Html {
  const r = f.evidence.receipt as EvidenceReceipt | undefined;
  const o = f.evidence.other as EvidenceReceipt | undefined;
  if (!r) return html`<small>${String(f.evidence.reason ?? '')}</small>`;
  return html`${r.terminalId} #${r.seq}${o ? html` and ${o.terminalId} #${o.seq}` : ''}`;
}

function findingCard(f: FindingView): Html {
  const e = f.evidence;
  const r = e.receipt as EvidenceReceipt | undefined;
  const o = e.other as EvidenceReceipt | undefined;
  const receipt = (label: string, x: EvidenceReceipt) =>
    html`<div class="receipt"><div class="label">${label}</div><div><strong>${x.terminalId}</strong> sequence ${x.seq}</div>
<details><summary>receipt bytes (${x.bytes ? x.bytes.length / 2 : 0})</summary><code class="hex">${x.bytes ?? ''}</code></details></div>`;
  return html`<article class="finding" id="finding-${f.id}" data-kind="${f.kind}" data-wallet="${f.walletId}">
<header>${badge(f.kind)} <code>${f.walletId}</code> <span class="when">${time(f.createdAt)}</span></header>
<p>${String(e.reason ?? '')}</p>
<dl>
  ${e.counter !== undefined ? html`<dt>Wallet counter</dt><dd>${String(e.counter)}</dd>` : ''}
  ${typeof e.amount === 'number' ? html`<dt>Amount</dt><dd>${money(e.amount)}</dd>` : ''}
  ${typeof e.lostAt === 'number' ? html`<dt>Lost at</dt><dd>${time(e.lostAt)}</dd>` : ''}
</dl>
${r || o ? html`<div class="evidence">${r ? receipt('This receipt', r) : ''}${o ? receipt('Collides with', o) : ''}</div>` : ''}
<p><a href="/office/receipts?wallet=${f.walletId}">All receipts of this wallet →</a></p>
</article>`;
}

function receiptFilter(query: Record<string, string | undefined>): { filter: ReceiptFilter; errors: string[] } {
  const filter: ReceiptFilter = {};
  const errors: string[] = [];
  const v = (k: string) => (query[k] ?? '').trim();
  if (v('terminal')) ID.test(v('terminal')) ? (filter.terminal = v('terminal')) : errors.push('terminal id: 1..16 of A-Z a-z 0-9 . _ -');
  if (v('merchant')) ID.test(v('merchant')) ? (filter.merchant = v('merchant')) : errors.push('merchant id: 1..16 of A-Z a-z 0-9 . _ -');
  if (v('wallet')) WALLET.test(v('wallet')) ? (filter.wallet = v('wallet')) : errors.push('wallet id: 16 lowercase hex digits');
  if (v('outcome')) OUTCOMES.includes(v('outcome')) ? (filter.outcome = v('outcome')) : errors.push(`outcome: one of ${OUTCOMES.join(', ')}`);
  for (const [key, field, plus] of [['from', 'from', 0], ['to', 'to', 86_400]] as const) {
    if (!v(key)) continue;
    const ms = /^\d{4}-\d{2}-\d{2}$/.test(v(key)) ? Date.parse(v(key) + 'T00:00:00Z') : NaN;
    if (Number.isNaN(ms)) errors.push(`${key}: a date as YYYY-MM-DD`);
    else filter[field] = ms / 1000 + plus;
  }
  return { filter, errors };
}

function filterQuery(query: Record<string, string | undefined>): string {
  const p = new URLSearchParams();
  for (const k of ['terminal', 'merchant', 'wallet', 'outcome', 'from', 'to']) if (query[k]) p.set(k, query[k]!);
  return p.toString();
}

/** One CSV line (RFC 4180 quoting); a text cell that a spreadsheet would run as a formula is defused. */
function csvRow(cells: unknown[]): string {
  return (
    cells
      .map((c) => {
        let s = String(c);
        if (typeof c === 'string' && /^[=+\-@\t\r]/.test(s)) s = "'" + s;
        return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
      })
      .join(',') + '\n'
  );
}

function cookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

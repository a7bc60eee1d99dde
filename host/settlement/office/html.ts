// HTML for the back office: every value reaches the page through `esc` (or `attr`), so text from the
// database (reasons, evidence, ids) can never become markup. Pages are plain HTML and one stylesheet,
// no script: they work offline and under a strict Content-Security-Policy.

import { isoTime } from '../../../firmware/ui/text';

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function esc(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/** Trusted markup built from escaped parts. */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** A template tag: interpolated values are escaped unless they are Html (or arrays of it). */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => {
    out += part(v) + strings[i + 1]!;
  });
  return new Html(out);
}

function part(v: unknown): string {
  if (v instanceof Html) return v.text;
  if (Array.isArray(v)) return v.map(part).join('');
  if (v === undefined || v === null || v === false) return '';
  return esc(v);
}

/** Minor units as a decimal amount: 1250 -> "12.50". */
export function money(minor: number | null | undefined): string {
  if (minor === null || minor === undefined) return '—';
  const sign = minor < 0 ? '-' : '';
  const a = Math.abs(minor);
  return `${sign}${Math.floor(a / 100).toLocaleString('en-US')}.${String(a % 100).padStart(2, '0')}`;
}

/** Unix seconds as ISO 8601 UTC, to the second. */
export function time(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '—';
  return isoTime(seconds);
}

/** "3 min ago" next to a time, relative to the service's clock. */
export function ago(seconds: number | null | undefined, now: number): string {
  if (seconds === null || seconds === undefined) return 'never';
  const d = Math.max(0, now - seconds);
  if (d < 60) return `${d} s ago`;
  if (d < 3600) return `${Math.floor(d / 60)} min ago`;
  if (d < 86_400) return `${Math.floor(d / 3600)} h ago`;
  return `${Math.floor(d / 86_400)} d ago`;
}

export const NAV: [string, string][] = [
  ['/office', 'Overview'],
  ['/office/terminals', 'Terminals'],
  ['/office/receipts', 'Receipts'],
  ['/office/findings', 'Findings'],
  ['/office/deny-list', 'Deny list'],
  ['/office/accounts', 'Accounts'],
];

export function page(title: string, current: string, body: Html, options: { signedIn?: boolean } = {}): string {
  const signedIn = options.signedIn ?? true;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · tapline back office</title>
<link rel="stylesheet" href="/office/style.css">
</head>
<body>
<header class="top">
  <a class="brand" href="/office"><span class="mark">▮</span> tapline <span class="sub">settlement back office</span></a>
  ${signedIn ? html`<nav>${NAV.map(([href, label]) => html`<a href="${href}"${href === current ? html` aria-current="page"` : ''}>${label}</a>`)}</nav>
  <form method="post" action="/office/logout" class="logout"><button type="submit">Sign out</button></form>` : ''}
</header>
<main>
<h1>${title}</h1>
${body}
</main>
</body>
</html>
`.text;
}

export function table<T>(rows: T[], columns: { head: string; cell: (row: T) => unknown; className?: string }[], empty: string): Html {
  if (rows.length === 0) return html`<p class="empty">${empty}</p>`;
  return html`<div class="scroll"><table>
<thead><tr>${columns.map((c) => html`<th${c.className ? html` class="${c.className}"` : ''}>${c.head}</th>`)}</tr></thead>
<tbody>${rows.map((r) => html`<tr>${columns.map((c) => html`<td${c.className ? html` class="${c.className}"` : ''}>${c.cell(r)}</td>`)}</tr>`)}</tbody>
</table></div>`;
}

/** A coloured label for an outcome or finding kind. */
export function badge(kind: string): Html {
  const tone = kind === 'settled' || kind === 'active' ? 'ok' : ['clone', 'double-spend', 'overspend', 'lost', 'denied', 'reported-lost', 'revoked'].includes(kind) ? 'bad' : 'warn';
  return html`<span class="badge ${tone}">${kind}</span>`;
}

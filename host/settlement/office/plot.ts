// Receipts received per time bucket as an SVG bar chart drawn on the server: settled, credited with a
// finding (a loss booked), and rejected, stacked. No script and no chart library: a few rectangles.
import { html, type Html } from './html';

export interface SeriesPoint {
  at: number;
  settled: number;
  findings: number;
  rejected: number;
  amount: number;
}

const W = 960;
const H = 240;
const PAD = { left: 48, right: 12, top: 14, bottom: 34 };

export function receiptsPlot(points: SeriesPoint[], bucketSeconds: number): Html {
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const max = Math.max(1, ...points.map((p) => p.settled + p.findings + p.rejected));
  const step = niceStep(max);
  const top = Math.ceil(max / step) * step;
  const y = (v: number) => PAD.top + plotH - (v / top) * plotH;
  const slot = plotW / Math.max(1, points.length);
  const barW = Math.min(28, Math.max(2, slot * 0.7));
  const ticks: number[] = [];
  for (let v = 0; v <= top; v += step) ticks.push(v);
  const labelEvery = Math.max(1, Math.ceil(points.length / 8));
  const bars = points.map((p, i) => {
    const x = PAD.left + i * slot + (slot - barW) / 2;
    let base = 0;
    const seg = (value: number, cls: string) => {
      if (value === 0) return '';
      const r = html`<rect class="${cls}" x="${x.toFixed(1)}" y="${y(base + value).toFixed(1)}" width="${barW.toFixed(1)}" height="${(y(base) - y(base + value)).toFixed(1)}"><title>${label(p.at, bucketSeconds)}: ${value} ${cls}</title></rect>`;
      base += value;
      return r;
    };
    return html`${seg(p.settled, 'settled')}${seg(p.findings, 'findings')}${seg(p.rejected, 'rejected')}`;
  });
  const xLabels = points.map((p, i) =>
    i % labelEvery === 0 ? html`<text class="axis" x="${(PAD.left + i * slot + slot / 2).toFixed(1)}" y="${H - PAD.bottom + 16}" text-anchor="middle">${label(p.at, bucketSeconds)}</text>` : '',
  );
  return html`<figure class="plot">
<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="Receipts received per ${bucketName(bucketSeconds)}">
${ticks.map((v) => html`<line class="grid" x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}"/><text class="axis" x="${PAD.left - 8}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v}</text>`)}
${bars}
${xLabels}
<line class="base" x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(0)}" y2="${y(0)}"/>
</svg>
<figcaption>Receipts received per ${bucketName(bucketSeconds)} (UTC):
<span class="key settled"></span> settled <span class="key findings"></span> credited, loss booked (finding) <span class="key rejected"></span> rejected, not credited</figcaption>
</figure>`;
}

function niceStep(max: number): number {
  const raw = max / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (raw <= m * mag) return Math.max(1, m * mag);
  return 10 * mag;
}

function bucketName(s: number): string {
  if (s < 3600) return `${s / 60} min`;
  if (s < 86_400) return s === 3600 ? 'hour' : `${s / 3600} h`;
  return s === 86_400 ? 'day' : `${s / 86_400} days`;
}

function label(at: number, bucketSeconds: number): string {
  const iso = new Date(at * 1000).toISOString();
  return bucketSeconds < 86_400 ? iso.slice(11, 16) : iso.slice(5, 10);
}

// The terminal's screens on a 128x64 framebuffer: amount entry, tap prompt, approved, declined with
// its reason, balance, PIN entry, offline status. Each call redraws the whole frame; the caller flushes.
import type { Screen } from '../core/terminal/terminal';
import { earlierText, formatAmount, formatSigned, refundLines } from './text';
import { netOf, type DayTotal } from '../core/risk/day-totals';
import { Framebuffer } from '../../drivers/display/framebuffer';

export interface OfflineStatus {
  online: boolean;
  /** Receipts in the journal not yet acknowledged by the settlement service. */
  pending: number;
  /** Minutes since the last successful upload, if there was one. */
  minutesSinceSync?: number;
  /** How full the journal is, 0..100. */
  journalPercent?: number;
}

const LINE = 9;

export class Screens {
  readonly fb: Framebuffer;
  private readonly currency: string;

  constructor(options: { framebuffer: Framebuffer; currency?: string }) {
    this.fb = options.framebuffer;
    this.currency = options.currency ?? 'CNY';
  }

  /** Draws what a display effect of the terminal means (firmware/core/terminal/terminal.ts). */
  show(screen: Screen): void {
    switch (screen.kind) {
      case 'idle':
        this.lines(['TAPLINE', 'ENTER AMOUNT']);
        return this.footer('A BALANCE  D STATUS');
      case 'amount':
        return this.amountEntry(screen.amount);
      case 'tap':
        return this.tapPrompt(screen.amount);
      case 'processing':
        return this.lines(['HOLD', 'PROCESSING']);
      case 'pin':
        return this.pinEntry(screen.digits, screen.triesLeft);
      case 'approved':
        return this.approved(screen.amount, screen.balanceAfter, screen.earlier && earlierText(screen.earlier));
      case 'declined':
        return this.declined(screen.reason, screen.earlier && earlierText(screen.earlier));
      case 'timedOut':
        return this.lines(['TIMED OUT']);
      case 'cancelled':
        return this.lines(['CANCELLED']);
      case 'notice':
        return this.lines(screen.lines);
      case 'amountFirst':
        return this.lines(['ENTER AMOUNT', 'THEN TAP CARD']);
      case 'confirmFirst':
        this.title('PRESS # TO PAY');
        this.amountLine(screen.amount, 22);
        return this.footer('# OK   * CLEAR');
      case 'enquiry':
        return this.lines(['BALANCE', 'TAP CARD']);
      case 'balance':
        return this.balance(screen.amount);
      case 'enquiryFailed':
        return this.lines(['BALANCE', screen.reason.toUpperCase()]);
      case 'refund':
        return this.lines(refundLines(screen).map((l) => l.toUpperCase()).slice(0, 6));
      case 'status':
        if (screen.today) return this.todayStatus(screen.today, screen);
        return this.offlineStatus(screen.minutesSinceSync === undefined ? { online: screen.online, pending: screen.pending } : screen);
      case 'previousDay':
        return this.previousDay(screen.total, screen.yesterday);
    }
  }

  amountEntry(minor: number): void {
    this.title('ENTER AMOUNT');
    this.amountLine(minor, 22);
    this.footer('# OK   * CLEAR');
  }

  tapPrompt(minor: number): void {
    this.title('PAY');
    this.fb.text(this.fb.width - Framebuffer.textWidth(this.currency) - 2, 1, this.currency);
    this.contactless(20, 36);
    const amount = formatAmount(minor);
    this.fb.text(this.fb.width - Framebuffer.textWidth(amount, 2) - 2, 18, amount, { scale: 2 });
    this.fb.text(48, 42, 'TAP CARD', { scale: 1 });
    this.fb.text(48, 52, 'OR PHONE');
  }

  /** `earlier`: an in-doubt payment this tap settled, on the bottom line (the balance moves up). */
  approved(minor: number, balanceAfter?: number, earlier?: string): void {
    this.banner('APPROVED');
    // a check mark
    for (let w = 0; w < 3; w++) {
      this.fb.line(8, 38 + w, 14, 44 + w);
      this.fb.line(14, 44 + w, 26, 30 + w);
    }
    const amount = formatAmount(minor);
    this.fb.text(this.fb.width - Framebuffer.textWidth(amount, 2) - 2, 28, amount, { scale: 2 });
    if (balanceAfter !== undefined) this.right(`BALANCE ${formatAmount(balanceAfter)}`, earlier ? 46 : 54);
    if (earlier) this.right(earlier.toUpperCase(), 55);
  }

  declined(reason: string, earlier?: string): void {
    this.banner('DECLINED');
    // a cross
    for (let w = 0; w < 3; w++) {
      this.fb.line(6 + w, 28, 20 + w, 42);
      this.fb.line(20 + w, 28, 6 + w, 42);
    }
    const lines = wrap(reason, 17).slice(0, earlier ? 3 : 4);
    lines.forEach((line, i) => this.fb.text(28, 24 + i * LINE, line));
    if (earlier) this.right(earlier.toUpperCase(), 55);
  }

  balance(minor: number): void {
    this.title('BALANCE');
    this.amountLine(minor, 24);
    this.footer('ANY KEY TO CLOSE');
  }

  pinEntry(digits: number, triesLeft?: number): void {
    this.title('ENTER PIN');
    const stars = '*'.repeat(digits) + '_'.repeat(Math.max(0, 4 - digits));
    this.fb.text((this.fb.width - Framebuffer.textWidth(stars, 2)) >> 1, 24, stars, { scale: 2 });
    this.footer(triesLeft === undefined ? '# OK   * CLEAR' : `${triesLeft} TRIES LEFT`);
  }

  offlineStatus(status: OfflineStatus): void {
    this.title(status.online ? 'ONLINE' : 'OFFLINE');
    this.antenna(this.fb.width - 14, 1, status.online);
    this.fb.text(2, 16, 'PENDING RECEIPTS');
    const pending = String(status.pending);
    this.fb.text(this.fb.width - Framebuffer.textWidth(pending, 2) - 2, 14, pending, { scale: 2 });
    const since = status.minutesSinceSync;
    this.fb.text(2, 32, since === undefined ? 'NEVER SYNCED' : `LAST SYNC ${since < 60 ? `${since} MIN` : `${Math.floor(since / 60)} H`} AGO`);
    if (status.journalPercent !== undefined) {
      const p = Math.max(0, Math.min(100, Math.round(status.journalPercent)));
      this.fb.text(2, 46, 'JOURNAL');
      this.fb.rect(46, 45, 52, 9, true, false);
      this.fb.rect(48, 47, Math.round((48 * p) / 100), 5);
      this.right(`${p}%`, 46);
    }
  }

  /**
   * The D screen: today's totals (what the merchant took), then the offline status on one line.
   * Amounts up to 99,999.99 fit beside a count of four digits.
   */
  todayStatus(today: DayTotal, status: OfflineStatus): void {
    this.title(`TODAY ${monthDay(today.day)}`);
    this.right(status.online ? 'ONLINE' : 'OFFLINE', 1);
    this.dayTotal(today);
    const since = status.minutesSinceSync;
    this.fb.text(2, 42, `${status.pending} PENDING`);
    this.right(since === undefined ? 'NO SYNC' : `SYNC ${since < 60 ? `${since}M` : since < 1440 ? `${Math.floor(since / 60)}H` : `${Math.floor(since / 1440)}D`}`, 42);
    this.footer('D YESTERDAY  * CLOSE');
  }

  /** D again: the day closed before today, as the merchant closes it the next morning. */
  previousDay(total: DayTotal | undefined, yesterday: boolean): void {
    if (!total) {
      this.title('YESTERDAY');
      this.fb.text(2, 22, 'NO EARLIER DAY');
    } else {
      this.title(`${yesterday ? 'YESTERDAY' : 'LAST DAY'} ${monthDay(total.day)}`);
      this.dayTotal(total);
    }
    this.footer('D TODAY  * CLOSE');
  }

  /** Payments, refunds (count and sum) and the net, one line each under a title. */
  private dayTotal(t: DayTotal): void {
    const rows: [string, string][] = [
      [`SALES ${t.payments}`, formatAmount(t.paid)],
      [`REFUNDS ${t.refunds}`, formatAmount(t.refunded)],
      ['NET', formatSigned(netOf(t))],
    ];
    rows.forEach(([label, amount], i) => {
      this.fb.text(2, 13 + i * LINE, label);
      this.right(amount, 13 + i * LINE);
    });
  }

  /** Plain lines of text, as the terminal's display effect gives them; the first one larger. */
  lines(lines: string[]): void {
    this.fb.clear();
    let y = 2;
    lines.forEach((line, i) => {
      const scale = i === 0 && Framebuffer.textWidth(line, 2) <= this.fb.width ? 2 : 1;
      for (const part of wrap(line, scale === 2 ? 10 : 21)) {
        if (y > this.fb.height - 7) return;
        this.fb.text((this.fb.width - Framebuffer.textWidth(part, scale)) >> 1, y, part, { scale });
        y += scale === 2 ? 18 : LINE;
      }
    });
  }

  private title(text: string): void {
    this.fb.clear();
    this.fb.text(2, 1, text);
    this.fb.line(0, 10, this.fb.width - 1, 10);
  }

  private banner(text: string): void {
    this.fb.clear();
    this.fb.rect(0, 0, this.fb.width, 18);
    this.fb.text((this.fb.width - Framebuffer.textWidth(text, 2)) >> 1, 2, text, { scale: 2, on: false });
  }

  private footer(text: string): void {
    this.fb.line(0, 53, this.fb.width - 1, 53);
    this.fb.text(2, 56, text);
  }

  private right(text: string, y: number): void {
    this.fb.text(this.fb.width - Framebuffer.textWidth(text) - 2, y, text);
  }

  private amountLine(minor: number, y: number): void {
    const amount = formatAmount(minor);
    const scale = Framebuffer.textWidth(amount, 3) <= this.fb.width - 24 ? 3 : 2;
    this.fb.text(this.fb.width - Framebuffer.textWidth(amount, scale) - 2, y, amount, { scale });
    this.fb.text(2, y + 7 * scale - 7, this.currency);
  }

  /** The contactless symbol: four arcs opening to the right. */
  private contactless(x: number, y: number): void {
    for (let i = 0; i < 4; i++) for (let w = 0; w < 2; w++) this.fb.arc(x - 8, y, 6 + i * 6 + w, -40, 40);
  }

  /** Signal bars; offline, only the first and a cross beside them. */
  private antenna(x: number, y: number, on: boolean): void {
    for (let i = 0; i < 4; i++) if (on || i === 0) this.fb.rect(x + i * 3, y + 6 - i * 2, 2, 2 + i * 2);
    if (!on) {
      this.fb.line(x + 4, y + 1, x + 10, y + 7);
      this.fb.line(x + 10, y + 1, x + 4, y + 7);
    }
  }
}

/** MM-DD of a day number (UTC); "--" when the terminal never knew the time. */
function monthDay(day: number | undefined): string {
  if (day === undefined) return '--';
  const d = new Date(day * 86400_000);
  const two = (n: number) => (n < 10 ? `0${n}` : String(n));
  return `${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())}`;
}

/** Splits text into lines of at most `width` characters, at spaces where it can. */
export function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter((w) => w.length > 0)) {
    let rest = word;
    while (rest.length > width) {
      if (line) (out.push(line), (line = ''));
      out.push(rest.slice(0, width));
      rest = rest.slice(width);
    }
    if (!line) line = rest;
    else if (line.length + 1 + rest.length <= width) line += ' ' + rest;
    else (out.push(line), (line = rest));
  }
  if (line) out.push(line);
  return out;
}

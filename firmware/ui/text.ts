// The terminal's screens as short lines of text: for the serial log, the simulator's transcript and any
// display that shows text only. firmware/ui/screens.ts draws the same screens on the OLED.
import type { Earlier, Screen } from '../core/terminal/terminal';
import type { RefundScreen } from '../core/refund/flow';
import { dayDate, netOf, type DayTotal } from '../core/risk/day-totals';
import { formatAmount, formatSigned, isoTime } from '../base/amount';

export { formatAmount, formatSigned, isoTime };

/** A day's totals in lines of 21 characters at most (amounts up to 99,999.99). */
export function dayTotalLines(t: DayTotal): string[] {
  return [`${t.payments} paid ${formatAmount(t.paid)}`, `${t.refunds} refunded ${formatAmount(t.refunded)}`, `net ${formatSigned(netOf(t))}`];
}


export function screenLines(screen: Screen): string[] {
  switch (screen.kind) {
    case 'idle':
      return ['tapline', 'enter amount'];
    case 'amount':
      return ['amount', formatAmount(screen.amount)];
    case 'tap':
      return [`${screen.mode === 'merchant' ? 'pay' : 'fare'} ${formatAmount(screen.amount)}`, 'tap card'];
    case 'processing':
      return ['processing', 'hold card'];
    case 'pin':
      if (screen.triesLeft !== undefined) return ['enter PIN', `wrong PIN: ${screen.triesLeft} left`];
      return screen.digits > 0 ? ['enter PIN', '*'.repeat(screen.digits)] : ['enter PIN'];
    case 'approved':
      return ['APPROVED', formatAmount(screen.amount), `balance ${formatAmount(screen.balanceAfter)}`, ...earlierLines(screen.earlier)];
    case 'declined':
      return ['DECLINED', screen.reason, ...earlierLines(screen.earlier)];
    case 'timedOut':
      return ['timed out'];
    case 'cancelled':
      return ['cancelled'];
    case 'notice':
      return screen.lines;
    case 'amountFirst':
      return ['enter amount', 'then tap card'];
    case 'confirmFirst':
      return ['press # to pay', formatAmount(screen.amount)];
    case 'enquiry':
      return ['balance', 'tap card'];
    case 'balance':
      return ['balance', formatAmount(screen.amount)];
    case 'enquiryFailed':
      return ['balance', screen.reason];
    case 'refund':
      return refundLines(screen);
    case 'status':
      return [
        screen.online ? 'online' : 'offline',
        `${screen.pending} pending`,
        screen.minutesSinceSync === undefined ? 'never settled' : `settled ${screen.minutesSinceSync} min ago`,
        ...(screen.today ? [`today ${dayDate(screen.today.day)}`, ...dayTotalLines(screen.today)] : []),
      ];
    case 'previousDay':
      if (!screen.total) return ['no earlier day'];
      return [`${screen.yesterday ? 'yesterday' : 'day'} ${dayDate(screen.total.day)}`, ...dayTotalLines(screen.total)];
  }
}

/** A refund's steps in lines of 21 characters at most. */
export function refundLines(s: RefundScreen): string[] {
  switch (s.step) {
    case 'pin':
      if (s.triesLeft !== undefined) return ['refund: merchant PIN', `wrong PIN: ${s.triesLeft} left`];
      return ['refund: merchant PIN', '*'.repeat(s.digits)];
    case 'pick':
      return ['refund which payment', s.digits === '' ? '# = newest' : `no. ${s.digits}`, ...s.recent.map((r) => `#${r.terminalSeq} ${formatAmount(r.amount)}`)];
    case 'amount':
      return [`refund of #${s.terminalSeq}`, `left ${formatAmount(s.left)}`, s.digits === '' ? '# = all left' : formatAmount(Number(s.digits))];
    case 'tap':
      return [`refund ${formatAmount(s.amount)}`, 'tap the paying card'];
    case 'done':
      return ['REFUNDED', formatAmount(s.amount), `balance ${formatAmount(s.balanceAfter)}`, ...(s.recovered > 0 ? [`+ ${formatAmount(s.recovered)} in doubt`] : [])];
    case 'refused':
      return ['NO REFUND', s.reason];
  }
}

/** The earlier in-doubt payment this tap settled, in 21 characters at most (amounts up to 9,999.99). */
export function earlierText(e: Earlier): string {
  const what = e.outcome === 'recovered' ? 'prev paid' : e.outcome === 'released' ? 'prev not paid' : 'prev pending';
  return `${what} ${formatAmount(e.amount)}`;
}

function earlierLines(e: Earlier | undefined): string[] {
  return e ? [earlierText(e)] : [];
}

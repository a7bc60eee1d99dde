// The interactive simulator's screen in a text terminal: the OLED drawn in braille when the terminal is
// big enough, and always what it says as one line of plain text, so that a small terminal (50x20) still
// shows every screen without scrolling; then the LEDs, buzzer, network, the keys and the last log lines.
import { framebufferToBraille } from './render';

export interface TuiState {
  title: string;
  /** The OLED's framebuffer, if anything was drawn yet. */
  framebuffer?: Uint8Array;
  /** What the OLED says: the lines of the last display effect. */
  oled: string[];
  led: string;
  beep: string;
  networkUp: boolean;
  powered: boolean;
  decision: string;
  log: string[];
}

/** Wallet keys, in the order of the demo wallets. */
export const WALLET_KEYS = 'abcmd';

const WIDE_HELP = (wallets: string[]) => [
  'keypad   0-9   A-D (shift)   * cancel   # or Enter: OK   Backspace: B',
  '         A balance enquiry (then tap)   C refund   D status',
  'wallets  ' + wallets.map((w, i) => `${WALLET_KEYS[i]} ${w}`).join('   '),
  'card     r remove from the field',
  'world    n network on/off   p power cut + restart   q quit',
];

const NARROW_HELP = ['keypad 0-9 A-D * # Enter Bksp; A bal, D status', 'tap a b c m d, r remove; n net, p power, q quit'];

/** The braille OLED needs 66 columns and its 18 rows plus the lines around it. */
const WIDE = { cols: 66, rows: 34 };

/** The lines to print for a terminal of `cols` x `rows`; none is longer than `cols`, at most `rows` of them. */
export function tuiFrame(s: TuiState, wallets: string[], cols: number, rows: number): string[] {
  const wide = cols >= WIDE.cols && rows >= WIDE.rows;
  const oled = `OLED: ${s.oled.length > 0 ? s.oled.join(' | ') : '(blank)'}`;
  const status = `LED ${s.led}  buzzer ${s.beep || '-'}  net ${s.networkUp ? 'up' : 'down'}  power ${s.powered ? 'on' : 'OFF'}`;
  const head: string[] = [s.title];
  if (wide) {
    const screen = s.framebuffer ? framebufferToBraille(s.framebuffer) : [];
    head.push('+' + '-'.repeat(64) + '+', ...screen.map((l) => `|${l}|`), '+' + '-'.repeat(64) + '+');
  }
  head.push(oled, `${status}${s.decision ? `  last: ${s.decision}` : ''}`, '', ...(wide ? WIDE_HELP(wallets) : NARROW_HELP), '');
  const room = Math.max(0, rows - head.length);
  const lines = [...head, ...s.log.slice(-room)].slice(0, rows);
  return lines.map((l) => fit(l, cols));
}

function fit(line: string, cols: number): string {
  // braille cells are one column wide each, like ASCII
  const chars = [...line];
  return chars.length <= cols ? line : chars.slice(0, Math.max(0, cols - 1)).join('') + '…';
}

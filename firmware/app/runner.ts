// The terminal's main loop after boot: keys, card taps and removals, ticks and network changes go to
// the state machine; its effects go to the display, buzzer and LEDs and to the log. Watchdog-friendly:
// the caller schedules `step()` from a timer and the next step only after this one settled, so the
// engine always returns to the event loop (the ESP32's task watchdog is fed there), and no step waits
// on the reader for longer than `pollWindowMs`.
import type { Log } from '../base/platform';
import { toHex } from '../base/bytes';
import type { Effect, Key, Screen, Terminal, TerminalEvent } from '../core/terminal/terminal';
import type { Activation, NfcReader } from '../../drivers/pn532/reader';

export interface EffectSink {
  /** `screen` says what the lines mean, for a display that draws more than text. */
  display(screen: Screen): void;
  beep(pattern: 'key' | 'approved' | 'declined'): void;
  led(color: 'off' | 'blue' | 'green' | 'red'): void;
}

export interface RunnerOptions {
  terminal: Terminal;
  reader: NfcReader | undefined;
  sink: EffectSink;
  log: Log;
  /** Polled once a step; returns the keys newly pressed (drivers/keypad). */
  keypad?: { poll(): string[] };
  /** The online side (firmware/app/online.ts): told of network changes and new receipts. */
  online?: { network(up: boolean): void; receiptAdded(): void; check(): void };
  /** How long one step may wait for a card in the field. */
  pollWindowMs?: number;
  /** Sees every effect of the state machine (the simulator prints them; a test checks them). */
  observe?: (effect: Effect) => void;
}

const KEYS = '0123456789ABCD*#';

/**
 * How long one step lets the chip search. It must outlast a whole activation (anticollision, select,
 * RATS), which takes a phone or a slow card well over 50 ms: a shorter window aborts every search
 * before the chip can answer, and the card is never found. The wait yields to the event loop, so the
 * watchdog is fed meanwhile.
 */
export const POLL_WINDOW_MS = 300;

export class Runner {
  readonly #o: RunnerOptions;
  readonly #window: number;
  #polling = false;
  #tap: Activation | undefined;
  /** The card in #tap is still activated (selected, mid-session). */
  #activated = false;
  #busy = false;
  approved = 0;
  declined = 0;

  constructor(options: RunnerOptions) {
    this.#o = options;
    this.#window = options.pollWindowMs ?? POLL_WINDOW_MS;
  }

  start(): void {
    this.#apply(this.#o.terminal.start());
  }

  /** A key from the keypad, as its legend ('0'..'9', 'A'..'D', '*', '#'). Other characters are ignored. */
  async key(legend: string): Promise<void> {
    if (legend.length !== 1 || !KEYS.includes(legend)) {
      this.#o.log('warn', 'keypad', `ignored key "${legend}"`);
      return;
    }
    await this.#send({ type: 'key', key: legend as Key });
  }

  async network(up: boolean): Promise<void> {
    this.#o.online?.network(up);
    await this.#send({ type: 'network', up });
  }

  /** One turn of the loop: a tick, then one short look for a card (or for its removal). */
  async step(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      this.#o.online?.check();
      for (const legend of this.#o.keypad?.poll() ?? []) await this.key(legend);
      await this.#send({ type: 'tick' });
      const reader = this.#o.reader;
      if (!reader) return;
      if (this.#tap) {
        // While the holder keys a PIN the card's session stays open: the PAY that follows needs it.
        if (this.#o.terminal.state === 'pin') return;
        await this.#release(reader);
        // A card was handled: it counts as removed once the field no longer finds it.
        const again = await reader.waitForCard(this.#window);
        if (again) {
          await reader.release(again);
          return;
        }
        this.#tap = undefined;
        await this.#send({ type: 'card-removed' });
      } else if (this.#polling) {
        const tap = await reader.waitForCard(this.#window);
        if (!tap) return;
        this.#tap = tap;
        this.#activated = true;
        this.#o.log('info', 'nfc', `card ${toHex(tap.target.uid)} in the field`);
        try {
          await this.#send({ type: 'card', link: tap.link });
        } finally {
          if (this.#o.terminal.state !== 'pin') await this.#release(reader);
        }
      }
    } catch (e) {
      this.#o.log('error', 'loop', e instanceof Error ? `${e.name}: ${e.message}` : String(e));
    } finally {
      this.#busy = false;
    }
  }

  /** Ends the card's ISO-DEP session once the terminal is done with it. */
  async #release(reader: NfcReader): Promise<void> {
    if (!this.#tap || !this.#activated) return;
    this.#activated = false;
    await reader.release(this.#tap).catch(() => undefined);
  }

  async #send(event: TerminalEvent): Promise<void> {
    this.#apply(await this.#o.terminal.handle(event));
  }

  #apply(effects: Effect[]): void {
    const { sink, log, observe } = this.#o;
    for (const e of effects) {
      observe?.(e);
      switch (e.type) {
        case 'display':
          sink.display(e.screen);
          break;
        case 'beep':
          sink.beep(e.pattern);
          break;
        case 'led':
          sink.led(e.color);
          break;
        case 'nfc':
          this.#polling = e.poll;
          break;
        case 'outcome':
          if (e.approved) {
            this.approved++;
            this.#o.online?.receiptAdded();
            log('info', 'pay', `APPROVED ${e.amount} wallet ${e.walletId} tseq ${e.terminalSeq} jseq ${e.journalSeq}${e.deferred ? ' (verify deferred)' : ''}`);
          } else {
            this.declined++;
            log('info', 'pay', `DECLINED ${e.amount}${e.walletId ? ` wallet ${e.walletId}` : ''}: ${JSON.stringify(e.decline)}`);
          }
          break;
        case 'recovered':
          if (e.outcome === 'recovered') this.#o.online?.receiptAdded();
          log(e.outcome === 'unresolved' ? 'warn' : 'info', 'pay', `in-doubt tseq ${e.terminalSeq} (${e.amount}, wallet ${e.walletId}): ${e.outcome}`);
          break;
        case 'verified':
          log(e.ok ? 'info' : 'warn', 'pay', `deferred tseq ${e.terminalSeq} ${e.ok ? 'verified' : `FAILED ${JSON.stringify(e.decline)}`}`);
          break;
      }
    }
  }
}

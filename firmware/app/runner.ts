// The terminal's main loop after boot: keys, card taps and removals, ticks and network changes go to
// the state machine; its effects go to the display, buzzer and LEDs and to the log. Watchdog-friendly:
// the caller schedules `step()` from a timer and the next step only after this one settled, so the
// engine always returns to the event loop (the ESP32's task watchdog is fed there). No step waits on
// the reader: a card search runs on the chip (drivers/pn532: startSearch) and each step looks once at
// its ready status, so the keypad is scanned every step, with or without a card search.
import type { Log } from '../base/platform';
import { toHex } from '../base/bytes';
import { errorText, rethrowIfProgrammerError } from '../base/errors';
import type { Effect, Key, Screen, Terminal, TerminalEvent } from '../core/terminal/terminal';
import { type Activation, type CardSearch, maybeSameCard, type NfcReader } from '../../drivers/pn532/reader';

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
  /** How long a search must find nothing before a card handled counts as removed. */
  pollWindowMs?: number;
  /** Sees every effect of the state machine (the simulator prints them; a test checks them). */
  observe?: (effect: Effect) => void;
}

const KEYS = '0123456789ABCD*#';

/**
 * How long a search must find nothing before the card that was handled counts as removed. It must
 * outlast a whole activation (anticollision, select, RATS), which takes a phone or a slow card well over
 * 50 ms: a shorter window would call a card that is still there removed.
 */
export const POLL_WINDOW_MS = 300;

export class Runner {
  readonly #o: RunnerOptions;
  readonly #window: number;
  /** The state machine wants a card (for a payment or a balance): nfc effects say so. */
  #polling = false;
  #tap: Activation | undefined;
  /** #tap came while a card was wanted; one that came before (told to key the amount first) is offered again. */
  #tapWanted = false;
  /** Keys seen at the end of the last step, handled at the start of the next. */
  #keys: string[] = [];
  /** When the card handled is next looked for (it was still in the field at the last look). */
  #nextLook = 0;
  /** The card search running on the chip, polled once a step. */
  #search: CardSearch | undefined;
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

  /**
   * One turn of the loop: the keys, a tick, then one look at the card search. A key cancels the search
   * (an ACK abort; a card that answered meanwhile is kept), and the next step starts one anew for what
   * the key led to. While a card is wanted and a search runs, the look comes before the tick: the tick
   * may spend the turn on a deferred signature check (267 ms for P-256 on an ESP32-S3), and a rider
   * whose card the chip has found is served first; the check waits for the next turn.
   */
  async step(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      this.#o.online?.check();
      const keys = this.#keys.concat(this.#o.keypad?.poll() ?? []);
      this.#keys = [];
      if (keys.length > 0 && this.#search) await this.#search.cancel();
      for (const legend of keys) await this.key(legend);
      const reader = this.#o.reader;
      const cardFirst = reader !== undefined && !this.#tap && this.#search !== undefined && this.#o.terminal.answersCard;
      if (cardFirst) await this.#lookForCard(reader);
      await this.#send({ type: 'tick' });
      if (!reader || cardFirst) return;
      if (this.#tap) {
        // While the holder keys a PIN the card's session stays open: the PAY that follows needs it.
        if (this.#o.terminal.state === 'pin') return;
        await this.#release(reader);
        // A card was handled: it counts as removed once a search finds nothing for a whole window. One
        // look a window is enough; each costs a field reset, commands that hold the loop a little.
        const now = reader.pn532.clock.now();
        if (!this.#search && now < this.#nextLook) return;
        const search = await this.#searching(reader);
        if (!(await search.poll())) {
          if (search.elapsedMs() < this.#window) return;
          await search.cancel();
        }
        this.#search = undefined;
        if (search.cancelled && search.elapsedMs() < this.#window) return;
        if (search.tap && maybeSameCard(this.#tap.target, search.tap.target)) {
          // A card left on the reader since it was told to wait (amount first) pays once one is wanted.
          if (this.#polling && !this.#tapWanted) return await this.#card(reader, search.tap);
          this.#nextLook = now + this.#window;
          await reader.release(search.tap);
          return;
        }
        this.#tap = undefined;
        await this.#send({ type: 'card-removed' });
        // another card took the old one's place within the window: it is a new tap
        if (search.tap) {
          if (this.#o.terminal.answersCard) return await this.#card(reader, search.tap);
          await reader.release(search.tap);
        }
      } else if (this.#o.terminal.answersCard) {
        await this.#lookForCard(reader);
      } else if (this.#search) {
        // nobody wants a card now (a result on screen): the field goes quiet until someone does
        const search = this.#search;
        this.#search = undefined;
        await search.cancel();
      }
    } catch (e) {
      this.#search = undefined;
      // a bug goes on to the caller, which restarts the device (firmware/app/restart.ts)
      rethrowIfProgrammerError(e);
      this.#o.log('error', 'loop', errorText(e));
    } finally {
      this.#busy = false;
      // scanned again after the reader's commands, so a short press during them is not missed
      this.#scanKeys();
    }
  }

  #scanKeys(): void {
    try {
      for (const legend of this.#o.keypad?.poll() ?? []) this.#keys.push(legend);
    } catch (e) {
      this.#o.log('error', 'keypad', errorText(e));
    }
  }

  /** A card in the field goes to the state machine; its session ends unless a PIN follows. */
  async #card(reader: NfcReader, tap: Activation): Promise<void> {
    this.#tap = tap;
    this.#tapWanted = this.#polling;
    this.#activated = true;
    this.#o.log('info', 'nfc', `card ${toHex(tap.target.uid)} in the field`);
    try {
      await this.#send({ type: 'card', link: tap.link });
    } finally {
      if (this.#o.terminal.state !== 'pin') await this.#release(reader);
    }
  }

  /** One look at the search for a new card (one is started if none runs); a card found is handled. */
  async #lookForCard(reader: NfcReader): Promise<void> {
    const search = await this.#searching(reader);
    if (!(await search.poll())) return;
    this.#search = undefined;
    if (search.tap) await this.#card(reader, search.tap);
  }

  /** The search in progress, or a new one. */
  async #searching(reader: NfcReader): Promise<CardSearch> {
    this.#search ??= await reader.startSearch();
    return this.#search;
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

// Wi-Fi station connect and reconnect over Moddable's `wifi` module. Platform-free: main.ts passes
// the WiFi class and timers in. A lost connection is retried with a growing delay, so a terminal in
// a car park keeps trying without flooding the radio or the log.
import type { Log } from '../base/platform';
import { silentLog } from '../base/platform';

export type WifiMessage = 'connect' | 'gotIP' | 'lostIP' | 'disconnect' | 'station_connect' | 'station_disconnect';

export interface ModdableWiFi {
  close(): void;
}

export type ModdableWiFiClass = new (options: { ssid: string; password?: string }, callback: (message: WifiMessage) => void) => ModdableWiFi;

export interface WifiLinkOptions {
  ssid: string;
  password: string;
  WiFi: ModdableWiFiClass;
  setTimer: (callback: () => void, ms: number) => unknown;
  clearTimer: (timer: unknown) => void;
  log?: Log;
  /** Told every time the link gains or loses its IP address. */
  onChange?: (online: boolean) => void;
  firstRetryMs?: number;
  mostRetryMs?: number;
}

export class WifiLink {
  readonly #o: WifiLinkOptions;
  readonly #log: Log;
  #wifi: ModdableWiFi | undefined;
  #retry: unknown;
  #delay: number;
  #online = false;
  #closed = false;
  attempts = 0;

  constructor(options: WifiLinkOptions) {
    this.#o = options;
    this.#log = options.log ?? silentLog;
    this.#delay = options.firstRetryMs ?? 2000;
  }

  get online(): boolean {
    return this.#online;
  }

  /** The delay before the next reconnect attempt (doubles up to mostRetryMs). */
  get retryDelay(): number {
    return this.#delay;
  }

  start(): void {
    if (this.#closed || this.#wifi) return;
    this.attempts++;
    this.#log('info', 'wifi', `connecting to "${this.#o.ssid}" (attempt ${this.attempts})`);
    this.#wifi = new this.#o.WiFi({ ssid: this.#o.ssid, password: this.#o.password || undefined }, (m) => this.#message(m));
  }

  #message(message: WifiMessage): void {
    if (this.#closed) return;
    if (message === 'gotIP') {
      this.#delay = this.#o.firstRetryMs ?? 2000;
      this.#set(true);
    } else if (message === 'lostIP') {
      this.#set(false);
    } else if (message === 'disconnect') {
      this.#set(false);
      this.#drop();
      this.#log('warn', 'wifi', `disconnected; retry in ${this.#delay} ms`);
      this.#retry = this.#o.setTimer(() => {
        this.#retry = undefined;
        this.start();
      }, this.#delay);
      this.#delay = Math.min(this.#delay * 2, this.#o.mostRetryMs ?? 60_000);
    }
  }

  #set(online: boolean): void {
    if (online === this.#online) return;
    this.#online = online;
    this.#log('info', 'wifi', online ? 'got IP address' : 'lost IP address');
    this.#o.onChange?.(online);
  }

  #drop(): void {
    try {
      this.#wifi?.close();
    } catch {
      // the station may already be down
    }
    this.#wifi = undefined;
  }

  close(): void {
    this.#closed = true;
    if (this.#retry !== undefined) this.#o.clearTimer(this.#retry);
    this.#drop();
    this.#set(false);
  }
}

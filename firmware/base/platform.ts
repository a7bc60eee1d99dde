// What the platform-free core needs from the machine it runs on. The device (Moddable on ESP32), the
// simulator and the tests each pass their own implementation; nothing in firmware/core or drivers/
// imports Node or Moddable modules.

/** Time as the core sees it. Monotonic milliseconds for timeouts; wall time only when known. */
export interface Clock {
  /** Monotonic milliseconds since an arbitrary origin (Time.ticks on the device). */
  now(): number;
  /** Resolves after `ms` milliseconds (Timer on the device; virtual time in deterministic tests). */
  sleep(ms: number): Promise<void>;
  /** Unix time in seconds, or undefined when the terminal has not learnt it since power-up. */
  wallTime(): number | undefined;
}

/** Cryptographically strong random bytes (esp_random on the device, node:crypto on the host). */
export type RandomBytes = (length: number) => Uint8Array;

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** One log line: `[level] tag: message`, as printed on the serial console. */
export type Log = (level: LogLevel, tag: string, message: string) => void;

export const silentLog: Log = () => {};

/** A clock whose time only moves when told to: for deterministic simulation and tests. */
export class VirtualClock implements Clock {
  #now: number;
  #wall: number | undefined;

  constructor(options: { start?: number; wallTime?: number } = {}) {
    this.#now = options.start ?? 0;
    this.#wall = options.wallTime;
  }

  now(): number {
    return this.#now;
  }

  sleep(ms: number): Promise<void> {
    this.advance(ms);
    return Promise.resolve();
  }

  wallTime(): number | undefined {
    return this.#wall === undefined ? undefined : Math.floor(this.#wall + this.#now / 1000);
  }

  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`cannot advance a clock by ${ms} ms`);
    this.#now += ms;
  }

  /** Sets the wall time (unix seconds) as of now; undefined forgets it, as a power cycle does. */
  setWallTime(seconds: number | undefined): void {
    this.#wall = seconds === undefined ? undefined : seconds - this.#now / 1000;
  }
}

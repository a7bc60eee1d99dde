// Clock over Moddable's Time.ticks and Timer. Platform-free: main.ts passes the Moddable functions in,
// the tests pass fakes. The ESP32 has no battery-backed clock, so wall time is unknown until the
// settlement service (or SNTP) gives it, and forgotten at every power cycle.
import type { Clock } from '../base/platform';

export interface TicksClockOptions {
  /** Milliseconds since boot as the engine reports them (Time.ticks); may wrap at 2^32. */
  ticks: () => number;
  /** Calls `callback` once after `ms` (Timer.set). */
  setTimer: (callback: () => void, ms: number) => void;
  /** Sets the system's wall clock, unix seconds (Time.set), so Date agrees with the terminal. */
  setSystemTime?: (seconds: number) => void;
}

export class TicksClock implements Clock {
  readonly #ticks: () => number;
  readonly #setTimer: (callback: () => void, ms: number) => void;
  readonly #setSystemTime: ((seconds: number) => void) | undefined;
  #last: number;
  #elapsed = 0;
  #wallAt: number | undefined;

  constructor(options: TicksClockOptions) {
    this.#ticks = options.ticks;
    this.#setTimer = options.setTimer;
    this.#setSystemTime = options.setSystemTime;
    this.#last = this.#ticks();
  }

  /** Monotonic even when the tick counter wraps (an unsigned 32-bit delta is added each read). */
  now(): number {
    const raw = this.#ticks();
    this.#elapsed += (raw - this.#last) >>> 0;
    this.#last = raw;
    return this.#elapsed;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.#setTimer(resolve, Math.max(0, ms)));
  }

  wallTime(): number | undefined {
    return this.#wallAt === undefined ? undefined : Math.floor(this.#wallAt + this.now() / 1000);
  }

  /** Learns wall time (unix seconds) from a trusted source: the signed service time or SNTP. */
  setWallTime(seconds: number): void {
    if (!Number.isFinite(seconds) || seconds < 1_600_000_000) throw new RangeError(`implausible wall time ${seconds}`);
    this.#wallAt = seconds - this.now() / 1000;
    this.#setSystemTime?.(Math.floor(seconds));
  }
}

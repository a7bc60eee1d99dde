// Buzzer and status LEDs: the patterns riders and shoppers know. Approved is a short high beep with
// green, declined a long low beep with red; a key press clicks. Patterns are plain data and play on
// the injected Clock, so they run the same on the device, in the simulator and in tests.
import type { Clock } from '../../firmware/base/platform';
import { bankMask, checkRange, closed, PinMode, type DigitalBank, type DigitalBankOptions, type IOClass, type PWM, type PWMOptions } from '../io';

export type LedColor = 'off' | 'blue' | 'green' | 'red';

export interface Step {
  /** Tone frequency; 0 or absent = silence. */
  hz?: number;
  ms: number;
  led?: LedColor;
}

export const PATTERNS: Record<'key' | 'approved' | 'declined' | 'attention', Step[]> = {
  key: [{ hz: 4000, ms: 15 }],
  approved: [
    { hz: 2700, ms: 120, led: 'green' },
    { ms: 880, led: 'green' },
  ],
  declined: [
    { hz: 440, ms: 600, led: 'red' },
    { ms: 900, led: 'red' },
  ],
  attention: [
    { hz: 2000, ms: 80, led: 'blue' },
    { ms: 80, led: 'off' },
    { hz: 2000, ms: 80, led: 'blue' },
  ],
};

/** A piezo buzzer on a PWM pin; ECMA-419 fixes a PWM's frequency when it opens, so each tone opens one. */
export interface BuzzerOptions {
  /** The ECMA-419 PWM class (`device.io.PWM`); the driver opens one per tone and closes it. */
  io: IOClass<PWMOptions, PWM>;
  pin: number;
}

export class Buzzer {
  readonly #io: IOClass<PWMOptions, PWM>;
  readonly #pin: number;
  #pwm: PWM | undefined;
  #hz = 0;
  #closed = false;

  constructor(options: BuzzerOptions) {
    this.#io = options.io;
    this.#pin = checkRange('buzzer pin', options.pin, 0, 63);
  }

  tone(hz: number): void {
    if (this.#closed) closed('buzzer');
    if (hz === this.#hz) return;
    this.silence();
    if (hz <= 0) return;
    // piezo buzzers sound from a few hundred Hz to about 10 kHz
    this.#pwm = new this.#io({ pin: this.#pin, hz: checkRange('tone hz', hz, 20, 20_000) });
    this.#hz = hz;
    // half duty: the loudest square wave
    this.#pwm.write(1 << (this.#pwm.resolution - 1));
  }

  silence(): void {
    if (!this.#pwm) return;
    const pwm = this.#pwm;
    this.#pwm = undefined;
    this.#hz = 0;
    try {
      pwm.write(0);
    } finally {
      pwm.close();
    }
  }

  /** Silences and stops opening tones; a second call does nothing. */
  close(): void {
    this.silence();
    this.#closed = true;
  }
}

export interface FeedbackOptions {
  /** The buzzer; Feedback closes it with itself. */
  buzzer: Buzzer;
  /** The ECMA-419 DigitalBank class (`device.io.DigitalBank`); the driver opens the LED pins as one output bank. */
  io: IOClass<DigitalBankOptions, DigitalBank>;
  /** GPIO of each LED (a common RGB LED or three single ones), all in one bank. */
  pins: { red: number; green: number; blue?: number };
  /** LEDs wired to the supply light when the pin is low. */
  activeLow?: boolean;
  clock: Clock;
}

export class Feedback {
  readonly #buzzer: Buzzer;
  #leds: DigitalBank | undefined;
  readonly #pins: { red: number; green: number; blue?: number };
  readonly #activeLow: boolean;
  readonly #clock: Clock;
  #color: LedColor = 'off';
  #playing = 0;

  constructor(options: FeedbackOptions) {
    this.#buzzer = options.buzzer;
    this.#pins = options.pins;
    this.#activeLow = options.activeLow ?? false;
    this.#clock = options.clock;
    const { red, green, blue } = options.pins;
    const leds = bankMask(blue === undefined ? [red, green] : [red, green, blue]);
    this.#leds = new options.io({ pins: leds.mask, bank: leds.bank, mode: PinMode.Output });
    try {
      this.#apply('off');
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /** The steady colour, shown between patterns (the terminal's `led` effect). */
  setLed(color: LedColor): void {
    this.#color = color;
    this.#apply(color);
  }

  /** Plays a pattern; a newer one cuts it short. Resolves when it ends or is cut. */
  async play(pattern: keyof typeof PATTERNS | Step[]): Promise<void> {
    const steps = typeof pattern === 'string' ? PATTERNS[pattern] : pattern;
    const id = ++this.#playing;
    for (const step of steps) {
      if (id !== this.#playing) return;
      this.#apply(step.led ?? this.#color);
      this.#buzzer.tone(step.hz ?? 0);
      await this.#clock.sleep(step.ms);
    }
    if (id !== this.#playing) return;
    this.#buzzer.silence();
    this.#apply(this.#color);
  }

  /** LEDs off, buzzer closed, the bank closed; a second call does nothing. */
  close(): void {
    this.#playing++;
    this.#buzzer.close();
    const leds = this.#leds;
    if (!leds) return;
    this.#leds = undefined;
    try {
      leds.write(this.#activeLow ? this.#all() : 0);
    } finally {
      leds.close();
    }
  }

  #all(): number {
    const { red, green, blue } = this.#pins;
    return (1 << red) | (1 << green) | (blue === undefined ? 0 : 1 << blue);
  }

  #apply(color: LedColor): void {
    const leds = this.#leds ?? closed('feedback');
    const { red, green, blue } = this.#pins;
    let on = 0;
    if (color === 'red') on = 1 << red;
    else if (color === 'green') on = 1 << green;
    else if (color === 'blue' && blue !== undefined) on = 1 << blue;
    const all = this.#all();
    leds.write(this.#activeLow ? all & ~on : on);
  }
}

// Buzzer and status LEDs: the patterns riders and shoppers know. Approved is a short high beep with
// green, declined a long low beep with red; a key press clicks. Patterns are plain data and play on
// the injected Clock, so they run the same on the device, in the simulator and in tests.
import type { Clock } from '../../firmware/base/platform';
import type { DigitalBank, PWM } from '../io';

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
export class Buzzer {
  private readonly open: (hz: number) => PWM;
  private pwm: PWM | undefined;
  private hz = 0;

  constructor(options: { open: (hz: number) => PWM }) {
    this.open = options.open;
  }

  tone(hz: number): void {
    if (hz === this.hz) return;
    this.silence();
    if (hz <= 0) return;
    this.pwm = this.open(hz);
    this.hz = hz;
    // half duty: the loudest square wave
    this.pwm.write(1 << (this.pwm.resolution - 1));
  }

  silence(): void {
    if (!this.pwm) return;
    this.pwm.write(0);
    this.pwm.close();
    this.pwm = undefined;
    this.hz = 0;
  }

  close(): void {
    this.silence();
  }
}

export interface FeedbackOptions {
  buzzer: Buzzer;
  /** Output bank holding the LED pins. */
  leds: DigitalBank;
  /** GPIO of each LED (a common RGB LED or three single ones). */
  pins: { red: number; green: number; blue?: number };
  /** LEDs wired to the supply light when the pin is low. */
  activeLow?: boolean;
  clock: Clock;
}

export class Feedback {
  private readonly buzzer: Buzzer;
  private readonly leds: DigitalBank;
  private readonly pins: { red: number; green: number; blue?: number };
  private readonly activeLow: boolean;
  private readonly clock: Clock;
  private color: LedColor = 'off';
  private playing = 0;

  constructor(options: FeedbackOptions) {
    this.buzzer = options.buzzer;
    this.leds = options.leds;
    this.pins = options.pins;
    this.activeLow = options.activeLow ?? false;
    this.clock = options.clock;
    this.apply('off');
  }

  /** The steady colour, shown between patterns (the terminal's `led` effect). */
  setLed(color: LedColor): void {
    this.color = color;
    this.apply(color);
  }

  /** Plays a pattern; a newer one cuts it short. Resolves when it ends or is cut. */
  async play(pattern: keyof typeof PATTERNS | Step[]): Promise<void> {
    const steps = typeof pattern === 'string' ? PATTERNS[pattern] : pattern;
    const id = ++this.playing;
    for (const step of steps) {
      if (id !== this.playing) return;
      this.apply(step.led ?? this.color);
      this.buzzer.tone(step.hz ?? 0);
      await this.clock.sleep(step.ms);
    }
    if (id !== this.playing) return;
    this.buzzer.silence();
    this.apply(this.color);
  }

  close(): void {
    this.playing++;
    this.buzzer.close();
    this.apply('off');
    this.leds.close();
  }

  private apply(color: LedColor): void {
    const { red, green, blue } = this.pins;
    let on = 0;
    if (color === 'red') on = 1 << red;
    else if (color === 'green') on = 1 << green;
    else if (color === 'blue' && blue !== undefined) on = 1 << blue;
    const all = (1 << red) | (1 << green) | (blue === undefined ? 0 : 1 << blue);
    this.leds.write(this.activeLow ? all & ~on : on);
  }
}

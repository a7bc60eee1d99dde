// What the buzzer and the LEDs did, with the virtual time of each change: a PWM that records its
// tones and an output network that records pin levels.
import type { Clock } from '../../../firmware/base/platform';
import type { IOClass, PWM, PWMOptions } from '../../../drivers/io';
import type { PinNetwork } from './io';

export interface ToneEvent {
  at: number;
  hz: number;
  /** Duty as a fraction, 0 when silent. */
  duty: number;
}

export class BuzzerRecorder {
  readonly events: ToneEvent[] = [];
  private readonly clock: Clock;
  /** Pins an open PWM holds: ECMA-419 refuses to open one twice ("in use"). */
  private readonly pinsOpen = new Set<number>();

  constructor(options: { clock: Clock }) {
    this.clock = options.clock;
  }

  /** Opens a simulated PWM at `hz`, as embedded:io/pwm would. */
  open(options: PWMOptions): PWM {
    if (this.pinsOpen.has(options.pin)) throw new RangeError('in use');
    this.pinsOpen.add(options.pin);
    const pinsOpen = this.pinsOpen;
    const resolution = options.resolution ?? 10;
    const events = this.events;
    const clock = this.clock;
    let closed = false;
    return {
      resolution,
      write(value: number) {
        if (closed) throw new Error('closed');
        events.push({ at: clock.now(), hz: options.hz, duty: value / (1 << resolution) });
      },
      close() {
        if (closed) return;
        closed = true;
        pinsOpen.delete(options.pin);
      },
    };
  }

  /** The ECMA-419 PWM class that opens PWMs on this recorder, for a driver's `io` option. */
  pwmClass(): IOClass<PWMOptions, PWM> {
    const recorder = this;
    return class {
      constructor(options: PWMOptions) {
        return recorder.open(options);
      }
    } as unknown as IOClass<PWMOptions, PWM>;
  }

  /** The tones as [start, duration, hz]. */
  tones(): [number, number, number][] {
    const out: [number, number, number][] = [];
    for (let i = 0; i < this.events.length; i++) {
      const e = this.events[i]!;
      if (e.duty === 0) continue;
      const end = this.events.slice(i + 1).find((x) => x.duty === 0);
      out.push([e.at, (end?.at ?? e.at) - e.at, e.hz]);
    }
    return out;
  }
}

export class OutputPins implements PinNetwork {
  private level = 0;
  readonly changes: { at: number; level: number }[] = [];
  private readonly clock: Clock;

  constructor(options: { clock: Clock }) {
    this.clock = options.clock;
  }

  drive(pins: number, value: number): void {
    const next = (this.level & ~pins) | (value & pins);
    if (next !== this.level || this.changes.length === 0) this.changes.push({ at: this.clock.now(), level: next });
    this.level = next;
  }

  levels(pins: number): number {
    return this.level & pins;
  }
}

// A profile of one step by part, on the device-sized host: each probe wraps a function and charges the
// computrons spent inside it (less those of probes nested in it) to its part, so the parts add up to
// the step. Computrons, not host time: they do not move with the machine's load. The collector's time
// has no computrons; it shows only in the step's host time.
export type Part = string;

export class Profile {
  readonly #meter: () => number;
  readonly #spent = new Map<Part, number>();
  readonly #calls = new Map<Part, number>();
  /** Computrons of nested probes, one entry per open probe. */
  readonly #nested: number[] = [];
  #active = false;

  constructor(meter: () => number) {
    this.#meter = meter;
  }

  /** `fn`, charged to `part` while the profile is active. */
  probe<A extends unknown[], R>(part: Part, fn: (...args: A) => R): (...args: A) => R {
    return (...args: A): R => {
      if (!this.#active) return fn(...args);
      const started = this.#meter();
      this.#nested.push(0);
      try {
        return fn(...args);
      } finally {
        const total = this.#meter() - started;
        const nested = this.#nested.pop()!;
        this.#spent.set(part, (this.#spent.get(part) ?? 0) + total - nested);
        this.#calls.set(part, (this.#calls.get(part) ?? 0) + 1);
        if (this.#nested.length > 0) this.#nested[this.#nested.length - 1]! += total;
      }
    };
  }

  /** Replaces the named methods of `target` with probes charged to `part`. */
  probeMethods(part: Part, target: object, names: string[]): void {
    const t = target as Record<string, (...args: unknown[]) => unknown>;
    for (const name of names) {
      const method = t[name];
      if (typeof method !== 'function') throw new Error(`no method ${name} to profile`);
      t[name] = this.probe(part, method.bind(target));
    }
  }

  /** Runs `step` with the probes on; what no probe took is charged to `rest`. */
  async run<T>(rest: Part, step: () => Promise<T>): Promise<{ value: T; total: number; parts: Array<{ part: Part; computrons: number; calls: number }> }> {
    this.#spent.clear();
    this.#calls.clear();
    this.#active = true;
    const started = this.#meter();
    let value: T;
    try {
      value = await step();
    } finally {
      this.#active = false;
    }
    const total = this.#meter() - started;
    let probed = 0;
    for (const v of this.#spent.values()) probed += v;
    const parts = [...this.#spent].map(([part, computrons]) => ({ part, computrons, calls: this.#calls.get(part) ?? 0 }));
    parts.push({ part: rest, computrons: total - probed, calls: 1 });
    parts.sort((a, b) => b.computrons - a.computrons);
    return { value, total, parts };
  }
}

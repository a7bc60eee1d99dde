// Runs inside XS for bench/tap.bench.ts: one terminal-side tap against a recorded wallet exchange, so
// the metering covers the terminal's work only (the wallet emulator signs during setup, unmetered).
import { serve } from '../../host/xs/guest';
import { TapBench, type TapBenchSetup } from './core-tap-bench';

const bench = new TapBench();
serve({
  setup: (a: TapBenchSetup) => bench.setup(a),
  prepare: (a: { cold: boolean }) => bench.prepare(a.cold),
  tap: () => bench.tap(),
  noop: () => Promise.resolve('approved'),
  gc: () => {
    const g = globalThis as any;
    if (typeof g.gc === 'function') g.gc();
    return typeof g.gc;
  },
});

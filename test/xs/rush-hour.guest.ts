// Runs inside XS for bench/rush-hour.bench.ts: the rush-hour gate (test/xs/rush-hour.ts), one message
// per step so each tap and each turn of the loop has its own meter.
import { serve } from '../../host/xs/guest';
import { RushHour } from './rush-hour';

const gate = new RushHour();
serve({
  setup: (a: Parameters<RushHour['setup']>[0]) => gate.setup(a),
  prepare: (a: { i: number; atMs: number }) => gate.prepare(a),
  tap: (a: { tapMs: number }) => gate.tap(a),
  tick: (a: { atMs: number }) => gate.tick(a),
  noop: () => 'ok',
});

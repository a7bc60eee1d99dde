// Runs inside XS for bench/rush-hour.bench.ts: the rush-hour gate (test/xs/rush-hour.ts), one message
// per step so each tap and each deferred verification has its own meter.
import { serve } from '../../host/xs/guest';
import { RushHour } from './rush-hour';

const gate = new RushHour();
serve({
  setup: (a: { identities: number }) => gate.setup(a),
  prepare: (a: { i: number; atMs: number }) => gate.prepare(a),
  ready: (a: { atMs: number }) => gate.ready(a),
  tap: () => gate.tap(),
  verifyOne: (a: { atMs: number }) => gate.verifyOne(a),
  noop: () => 'ok',
});

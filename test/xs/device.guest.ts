// Runs inside XS: the device app's boot and main loop (test/xs/device-world.ts) on the device's engine.
import { serve } from '../../host/xs/guest';
import { backToBack, badProvisioning, bootAndPay, cardBeforeDeferredCheck, offlineCapAcrossReboot, payThenReboot, slowReader, tapAtIdle, transitBootDefault } from './device-world';
import type { ReaderTransport } from '../../firmware/app/pins';
import type { DeviceWorld } from './device-world';

// Keeps the last world alive between calls, so a benchmark can measure what it retains after a GC.
const kept: { world?: DeviceWorld } = {};

serve({
  bootAndPay: (a: { transport: ReaderTransport; keep?: boolean }) => bootAndPay(a.transport, a.keep ? (w) => (kept.world = w) : undefined),
  collect: () => {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc) gc();
    return { gc: gc !== undefined, kept: kept.world !== undefined };
  },
  release: () => {
    kept.world = undefined;
  },
  payThenReboot: () => payThenReboot(),
  offlineCapAcrossReboot: () => offlineCapAcrossReboot(),
  slowReader: () => slowReader(),
  tapAtIdle: (a: { transport: ReaderTransport }) => tapAtIdle(a.transport),
  badProvisioning: () => badProvisioning(),
  backToBack: (a: { uids: string[]; stayMs: number }) => backToBack(a.uids, a.stayMs),
  transitBootDefault: () => transitBootDefault(),
  cardBeforeDeferredCheck: () => cardBeforeDeferredCheck(),
});

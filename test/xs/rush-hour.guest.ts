// Runs inside XS for bench/rush-hour.bench.ts: the rush-hour gate (test/xs/rush-hour.ts), one message
// per step so each tap and each turn of the loop has its own meter. On the device-sized host
// (native/xsdev, its host app script) the journal is on a host flash partition and hashing and
// signature checks are the device's native module, as on the device; elsewhere RAM flash and JavaScript.
import { serve } from '../../host/xs/guest';
import { HostPartition, xsdev } from '../../host/xsdev/host-flash';
import { PartitionAdapter } from '../../firmware/app/device-storage';
import { nativeHashes, nativeVerify } from '../../firmware/app/native';
import { RamFlash } from '../../host/flash/ram-flash';
import { RushHour, type GatePlatform } from './rush-hour';

const onDevice = typeof xsdev.hostFlash === 'object' && typeof xsdev.taplineNative === 'object';
const platform: GatePlatform = onDevice
  ? {
      partition: (bytes) => {
        const p = new HostPartition(bytes);
        return { flash: new PartitionAdapter(p), programmed: () => p.counters().programmed };
      },
      hashes: nativeHashes(xsdev.taplineNative),
      verify: nativeVerify(xsdev.taplineNative),
      meter: xsdev.xsdevMeter,
    }
  : {
      partition: (bytes) => {
        const flash = new RamFlash({ blocks: bytes / 4096 });
        return { flash, programmed: () => flash.counters.bytesProgrammed };
      },
      meter: () => {
        throw new Error('the rush-hour gate times its taps by the device-sized host\'s meter (native/xsdev)');
      },
    };

const gate = new RushHour(platform);
serve({
  setup: (a: Parameters<RushHour['setup']>[0]) => gate.setup(a),
  native: () => onDevice,
  prepare: (a: { i: number; atMs: number }) => gate.prepare(a),
  tap: (a: { msPerComputron: number }) => gate.tap(a),
  tick: (a: { atMs: number }) => gate.tick(a),
  checkpointCost: () => gate.checkpointCost(),
  noop: () => 'ok',
});

// The device app's figures on the XS engine: boot (provisioning, journal recovery, reader bring-up,
// self-test) plus one keyed payment, and a reboot that replays the journal; and the size of the device
// bundle. Each row uses a fresh XS worker. `slotsAfterCall` is the heap in use right after the call and `liveSlotsAfterGC` what survives a collection (both above the idle engine's) (an XS slot is
// 16 bytes on the ESP32's 32-bit build, 32 bytes in the 64-bit worker); `engineHeapBytes` is what the
// worker had allocated from the system (chunks + slots) by the end of the call. The scenario carries
// the simulated PN532 and the wallet emulator (its keys and signing) in the same engine, and includes
// garbage not yet collected, so the slot figures are an upper bound for the terminal alone.
import type { Report } from './main';
import { XSScenario } from '../host/xs/scenario';
import { buildDevice } from '../host/build/device';

export async function run(report: Report, options: { quick: boolean }): Promise<void> {
  for (const minify of [false, true]) {
    const out = await buildDevice({ minify, outfile: `build/device/bench-tapline${minify ? '.min' : ''}.js` });
    report({ bench: `device-bundle${minify ? '-min' : ''}`, bytes: out.bytes });
  }
  const rows: [string, string, unknown][] = [
    ['device-boot-pay-i2c', 'bootAndPay', { transport: 'i2c' }],
    ['device-pay-reboot', 'payThenReboot', null],
  ];
  if (!options.quick) rows.splice(1, 0, ['device-boot-pay-spi', 'bootAndPay', { transport: 'spi' }], ['device-boot-pay-uart', 'bootAndPay', { transport: 'uart' }]);
  for (const [bench, handler, args] of rows) {
    const xs = await XSScenario.load('test/xs/device.guest.ts');
    try {
      const base = (await xs.call<{ gc: boolean }>('collect')).meter.currentHeapCount;
      const { meter } = await xs.call(handler, handler === 'bootAndPay' ? { ...(args as object), keep: true } : args);
      const collected = await xs.call<{ gc: boolean; kept: boolean }>('collect');
      const live = collected.meter.currentHeapCount - base;
      report({
        bench,
        computrons: meter.compute,
        slotsAfterCall: meter.currentHeapCount - base,
        liveSlotsAfterGC: collected.value.gc ? live : 'no gc()',
        liveBytesEsp32: collected.value.gc ? live * 16 : 'n/a',
        retains: collected.value.kept ? 'terminal + simulated reader + wallet' : 'nothing (world released)',
        engineHeapBytes: meter.allocate,
      });
    } finally {
      await xs.close();
    }
  }
}

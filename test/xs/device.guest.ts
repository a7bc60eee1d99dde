// Runs inside XS: the device app's boot and main loop (test/xs/device-world.ts) on the device's engine.
import { serve } from '../../host/xs/guest';
import { badProvisioning, bootAndPay, payThenReboot, slowReader } from './device-world';
import type { ReaderTransport } from '../../firmware/app/pins';

serve({
  bootAndPay: (a: { transport: ReaderTransport }) => bootAndPay(a.transport),
  payThenReboot: () => payThenReboot(),
  slowReader: () => slowReader(),
  badProvisioning: () => badProvisioning(),
});

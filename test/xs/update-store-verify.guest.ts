// Runs inside XS: test/xs/update-store-verify.ts; on the device-sized host (native/xsdev) with the
// device's native signature primitive, elsewhere with noble's.
import { serve } from '../../host/xs/guest';
import { xsdev } from '../../host/xsdev/host-flash';
import { nativeVerify } from '../../firmware/app/native';
import { storeVerifyScenario } from './update-store-verify';

const native = typeof xsdev.taplineNative === 'object';
serve({
  native: () => native,
  scenario: () => storeVerifyScenario(native ? nativeVerify(xsdev.taplineNative) : undefined),
});

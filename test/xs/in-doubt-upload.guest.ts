// Runs inside XS: a power cut after PAY settled at the service (test/xs/in-doubt-upload.ts); the host
// carries the bytes to and from a real settlement service.
import { serve } from '../../host/xs/guest';
import { UploadScenario, type IssuerJson } from './in-doubt-upload';

let s: UploadScenario | undefined;

serve({
  start: (o: { rootPublic: string; issuer: IssuerJson; now: number }) => (s = new UploadScenario(o)).terminal,
  cutAfterPay: () => s!.cutAfterPay(),
  networkUp: () => s!.networkUp(),
  answer: (a: { status: number; body: string }) => s!.answer(a),
  walletSync: (a: { nonce: string }) => s!.walletSync(a),
  reboot: () => s!.reboot(),
});

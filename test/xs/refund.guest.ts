// Runs inside XS: the offline-refund scenarios and the power-cut campaign (test/refund-scenarios.ts).
import { serve } from '../../host/xs/guest';
import type { Alg } from '../../firmware/core/crypto/verify';
import { REFUND_SCENARIOS, runRefundCampaign } from '../refund-scenarios';

serve({
  scenario: (a: { name: string; alg: Alg }) => REFUND_SCENARIOS[a.name]!.run(a.alg),
  campaign: (a: { alg: Alg }) => runRefundCampaign(a.alg),
});

// Runs inside XS: the power-cut-in-a-tap campaign (test/in-doubt-campaign.ts).
import { serve } from '../../host/xs/guest';
import type { Alg } from '../../firmware/core/crypto/verify';
import { recoveryWorld, runCampaign, type CampaignOptions } from '../in-doubt-campaign';

let next: (() => Promise<string>) | undefined;

serve({
  campaign: (o: CampaignOptions) => runCampaign(o),
  /** A terminal with (or without) the wallet's last payment in doubt; `tap` then meters its next tap. */
  prepare: async (a: { alg: Alg; inDoubt: boolean; bound?: boolean }) => void (next = (await recoveryWorld(a.alg, a.inDoubt, a.bound)).next),
  tap: () => next!(),
});

// Runs inside XS: the power-cut-in-a-tap campaign (test/in-doubt-campaign.ts).
import { serve } from '../../host/xs/guest';
import { runCampaign, type CampaignOptions } from '../in-doubt-campaign';

serve({ campaign: (o: CampaignOptions) => runCampaign(o) });

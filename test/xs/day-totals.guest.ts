// Runs inside XS: the day-totals scenarios (test/day-totals-scenarios.ts) on the device's engine.
import { serve } from '../../host/xs/guest';
import type { Alg } from '../../firmware/core/crypto/verify';
import { DAY_TOTALS_SCENARIOS } from '../day-totals-scenarios';

serve({
  scenario: (a: { name: string; alg: Alg }) => DAY_TOTALS_SCENARIOS[a.name]?.run(a.alg) ?? `no scenario "${a.name}"`,
});

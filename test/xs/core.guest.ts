// Runs inside XS: the payment core's tap scenarios (test/xs/core-scenarios.ts) on the device's engine.
import { serve } from '../../host/xs/guest';
import { SCENARIOS } from './core-scenarios';
import type { Alg } from '../../firmware/core/crypto/verify';

serve({
  names: () => Object.keys(SCENARIOS),
  scenario: (a: { name: string; alg: Alg }) => SCENARIOS[a.name]!.run(a.alg),
});

// Runs inside XS: the transit fare scenarios (test/xs/fares-scenarios.ts) on the device's engine.
import { serve } from '../../host/xs/guest';
import type { Alg } from '../../firmware/core/crypto/verify';
import { FARE_SCENARIOS } from './fares-scenarios';

serve({
  names: () => Object.keys(FARE_SCENARIOS),
  scenario: (a: { name: string; alg: Alg }) => FARE_SCENARIOS[a.name]!.run(a.alg),
});

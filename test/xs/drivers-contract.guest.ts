// Runs inside XS: the driver contract scenarios (test/xs/drivers-contract-scenarios.ts) on the device's engine.
import { serve } from '../../host/xs/guest';
import { CONTRACT_SCENARIOS, runContract } from './drivers-contract-scenarios';

serve({
  names: () => CONTRACT_SCENARIOS,
  scenario: (a: { name: string }) => runContract(a.name),
});

// Runs inside XS: the restart scenarios (test/xs/restart-scenarios.ts) on the device's engine.
import { serve } from '../../host/xs/guest';
import { RESTART_SCENARIOS } from './restart-scenarios';

serve({
  names: () => Object.keys(RESTART_SCENARIOS),
  scenario: (name: string) => RESTART_SCENARIOS[name]?.run() ?? `no scenario "${name}"`,
});

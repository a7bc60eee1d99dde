// Runs inside XS: the wallet-rule scenarios (test/xs/wallet-rules-scenarios.ts) on the device's engine.
import { serve } from '../../host/xs/guest';
import type { Alg } from '../../firmware/core/crypto/verify';
import { WALLET_RULE_SCENARIOS } from './wallet-rules-scenarios';

serve({
  names: () => Object.keys(WALLET_RULE_SCENARIOS),
  scenario: (a: { name: string; alg: Alg }) => WALLET_RULE_SCENARIOS[a.name]!.run(a.alg),
});

// Runs inside XS: the wallet table against its model (test/wallet-table-scenarios.ts) on the device's engine.
import { serve } from '../../host/xs/guest';
import { walletTableModel, WALLET_TABLE_RUNS } from '../wallet-table-scenarios';

serve({
  run: (a: { index: number }) => walletTableModel(WALLET_TABLE_RUNS[a.index]!),
});

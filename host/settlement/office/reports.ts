// What a terminal says about itself in each batch (firmware, state versions, backlog, offline totals),
// kept as its newest report for the back office. Written inside the batch's transaction, so the report
// and the receipts it came with land together.
import type { SignedBatch } from '../../../firmware/core/uplink/wire';
import type { Tx } from '../db';

export async function recordReport(tx: Tx, batch: SignedBatch, now: number): Promise<void> {
  const s = batch.status;
  await tx.run(
    `INSERT INTO terminal_reports (terminal_id, reported_at, wall_time, firmware, deny_version, keyring_version, config_version, backlog, offline_amount, offline_count)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (terminal_id) DO UPDATE SET reported_at = $2, wall_time = $3, firmware = $4, deny_version = $5, keyring_version = $6,
       config_version = $7, backlog = $8, offline_amount = $9, offline_count = $10`,
    [
      batch.terminalId,
      now,
      batch.wallTime ?? null,
      s?.firmware ?? null,
      batch.denyListVersion,
      batch.keyringVersion,
      batch.configVersion,
      s?.backlog ?? null,
      s?.offlineAmount ?? null,
      s?.offlineCount ?? null,
    ],
  );
}

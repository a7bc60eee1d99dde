// A bug restarts the device; an operating error never does. A programmer error (isProgrammerError:
// an AssertionError, TypeError, RangeError...) means the code's own state can no longer be trusted, so
// nothing turns it into a decline: it goes up through the tap, the terminal and the main loop to here,
// where it is logged with its cause, counted in the boot record and the device restarts. What is money
// is already in the journal, so a restart loses nothing (docs/JOURNAL.md). A bug boot meets every time
// would restart forever: after MAX_BOOT_BUG_RESTARTS of those in a row the device halts with the error
// on its log instead, for a person to look at.
import { errorText, isProgrammerError } from '../base/errors';
import type { Log } from '../base/platform';
import type { BootRecord, BootRecordStore, Restart } from '../base/ports';

export const MAX_BOOT_BUG_RESTARTS = 3;

/** Longest cause kept in the record (NVS values are small; the log has the rest). */
export const MAX_CAUSE_CHARS = 160;

const FRESH: BootRecord = { boots: 0, bugRestarts: 0, bootBugStreak: 0, lastCause: '' };

/** Counts this boot and logs the record; call first thing at boot. */
export function countBoot(store: BootRecordStore, log: Log): BootRecord {
  const before = store.load() ?? FRESH;
  const record = { ...before, boots: before.boots + 1 };
  store.save(record);
  const bugs = record.bugRestarts === 0 ? 'no restart after a bug' : `${record.bugRestarts} restarts after a bug, the last: ${record.lastCause}`;
  log(record.bootBugStreak > 0 ? 'warn' : 'info', 'boot', `boot ${record.boots}; ${bugs}`);
  return record;
}

/** Boot finished: a later bug is not one that boot meets every time. */
export function bootFinished(store: BootRecordStore): void {
  const record = store.load() ?? FRESH;
  if (record.bootBugStreak !== 0) store.save({ ...record, bootBugStreak: 0 });
}

export interface BugOptions {
  store: BootRecordStore;
  restart: Restart;
  log: Log;
  /** Where the bug surfaced: during boot or after it. */
  phase: 'boot' | 'run';
}

/**
 * The end of a programmer error: logs it, counts it and restarts. Returns 'halted' when boot has met it
 * MAX_BOOT_BUG_RESTARTS times in a row (the device stays down, its log says why), 'restarted' when the
 * restart port returned (a host models the restart; the device does not come back from it). An
 * operating error is not this function's business: it throws the error back to the caller.
 */
export function restartOnBug(e: unknown, o: BugOptions): 'restarted' | 'halted' {
  if (!isProgrammerError(e)) throw e;
  const cause = errorText(e).slice(0, MAX_CAUSE_CHARS);
  const before = o.store.load() ?? FRESH;
  const streak = o.phase === 'boot' ? before.bootBugStreak + 1 : 0;
  const stack = e instanceof Error && typeof e.stack === 'string' ? e.stack : '';
  o.log('error', 'bug', `${cause}${stack ? `\n${stack}` : ''}`);
  if (o.phase === 'boot' && before.bootBugStreak >= MAX_BOOT_BUG_RESTARTS) {
    o.log('error', 'bug', `boot met this bug ${before.bootBugStreak} times in a row: halted, not restarting`);
    return 'halted';
  }
  o.store.save({ ...before, bugRestarts: before.bugRestarts + 1, bootBugStreak: streak, lastCause: cause });
  o.log('error', 'bug', `restart ${before.bugRestarts + 1} after a bug`);
  o.restart(cause);
  return 'restarted';
}

/** A record kept in memory: on a host the object outlives the simulated device it is given to. */
export class MemoryBootRecordStore implements BootRecordStore {
  #record: BootRecord | undefined;
  load(): BootRecord | undefined {
    return this.#record && { ...this.#record };
  }
  save(record: BootRecord): void {
    this.#record = { ...record };
  }
}

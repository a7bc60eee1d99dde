// What the terminal keeps in its journal besides receipts, and how a boot gets it back: the journal
// with the terminal's record types, the state checkpoint (risk state and open intents), and the replay
// of the records after it. Used by the boot sequence (boot.ts) and by the power-cut campaigns, so that
// what they test is what the device does. Platform-free.
import type { Log } from '../base/platform';
import { Journal, type JournalOptions } from '../core/journal/journal';
import type { Flash } from '../core/journal/flash';
import { RiskEngine, type RiskOptions } from '../core/risk/engine';
import { RECORD_CLOCK, type Terminal } from '../core/terminal/terminal';
import { InDoubt } from '../core/terminal/in-doubt';
import { RECORD_RECEIPT } from '../core/protocol/receipt';
import { decodeFields, decodeUint, encodeUint, required, encodeTlv, type FieldRule } from '../core/protocol/tlv';
import { RECORD_DENY_LIST, UPDATE_RECORD_TYPES } from '../core/uplink/store';
import { errorText, rethrowIfProgrammerError } from '../base/errors';
import { decodeRefundRecord, RECORD_REFUND, RECORD_REFUND_INTENT } from '../core/protocol/refund';
import { RECORD_REFUND_PIN } from '../core/refund/flow';

/** Journal record type of the terminal's state checkpoint: risk state and open intents (the latest one counts). */
export const RECORD_RISK_STATE = 2;
/**
 * Journal record type of a delta of the state checkpoint: the state as the full checkpoint it names,
 * changed by the records up to it (the wallets changed since and everything else whole). One record,
 * written in place of a full checkpoint of several parts (docs/JOURNAL.md, delta checkpoints).
 */
export const RECORD_RISK_DELTA = 5;
/** Records between the terminal's periodic checkpoints. */
export const CHECKPOINT_EVERY = 8;

const STATE = { risk: 0x80, inDoubt: 0x81, base: 0x82 } as const;
const STATE_RULES: Record<number, FieldRule> = { [STATE.risk]: { min: 1, max: 0xffff }, [STATE.inDoubt]: { min: 1, max: 0xffff } };
const DELTA_RULES: Record<number, FieldRule> = { ...STATE_RULES, [STATE.base]: { min: 4, max: 4 } };

/** What a checkpoint holds: everything a reboot must not forget that the records after it do not say. */
export function encodeState(risk: RiskEngine, inDoubt: InDoubt): Uint8Array {
  // the risk state (up to 26 KB of wallets) is written straight into the checkpoint: one copy, not two
  return encodeTlv([risk.encodeAs(STATE.risk), { tag: STATE.inDoubt, value: inDoubt.encode() }]);
}

/** The same state as a delta of the full checkpoint at journal sequence `base`, or undefined (only a full one can say it). */
export function encodeDelta(risk: RiskEngine, inDoubt: InDoubt, base: number): Uint8Array | undefined {
  const delta = risk.encodeDeltaAs(STATE.risk);
  return delta && encodeTlv([delta, { tag: STATE.inDoubt, value: inDoubt.encode() }, { tag: STATE.base, value: encodeUint(base, 4) }]);
}

/** The state of a full checkpoint, or of a delta and its full checkpoint. Throws TlvError (a torn or foreign record). */
export function decodeState(full: Uint8Array, riskOptions: RiskOptions, delta?: Uint8Array): { risk: RiskEngine; inDoubt: InDoubt } {
  const f = decodeFields(full, STATE_RULES, 0x30000);
  const d = delta && decodeFields(delta, DELTA_RULES, 0x10000);
  return { risk: RiskEngine.decode(required(f, STATE.risk), riskOptions, d && required(d, STATE.risk)), inDoubt: InDoubt.decode(required(d ?? f, STATE.inDoubt)) };
}

/** The journal sequence of the full checkpoint a delta counts from. Throws TlvError. */
function deltaBase(delta: Uint8Array): number {
  return decodeUint(required(decodeFields(delta, DELTA_RULES, 0x10000), STATE.base));
}

export class TerminalStore {
  readonly journal: Journal;
  risk: RiskEngine;
  inDoubt = new InDoubt();
  /** Journal sequence of the checkpoint the state came from (0: none, everything is replayed). */
  replayFrom = 0;
  /** The full checkpoint this.risk's changes count from (RiskEngine.rebase), 0: none; a delta names it. */
  #deltaBase = 0;
  readonly #log: Log;
  readonly #riskOptions: RiskOptions;
  /** The last record replay() applied (0: none yet). */
  #replayedUpTo = 0;

  constructor(o: { flash: Flash; log: Log; riskOptions: RiskOptions; journal?: Partial<JournalOptions> }) {
    this.#log = o.log;
    this.#riskOptions = o.riskOptions;
    this.risk = new RiskEngine(o.riskOptions);
    this.journal = new Journal({
      flash: o.flash,
      log: o.log,
      // A refund and its intent go to the service like receipts (an intent keeps its block until then).
      acknowledgedTypes: [RECORD_RECEIPT, RECORD_REFUND, RECORD_REFUND_INTENT],
      keyedTypes: [RECORD_RISK_STATE, RECORD_CLOCK, RECORD_REFUND_PIN, ...UPDATE_RECORD_TYPES],
      // A checkpoint of many wallets and a deny list of 10,000 ids do not fit one record.
      spanningTypes: [RECORD_RISK_STATE, RECORD_DENY_LIST],
      checkpoint: {
        type: RECORD_RISK_STATE,
        snapshot: () => encodeState(this.risk, this.inDoubt),
        written: (seq) => {
          this.risk.rebase();
          this.#deltaBase = seq;
        },
        // A checkpoint of many wallets is several records: between two, one record of what changed.
        delta: { type: RECORD_RISK_DELTA, snapshot: (base) => (base === this.#deltaBase ? encodeDelta(this.risk, this.inDoubt, base) : undefined) },
      },
      // What a boot replays at most: a full journal's reboot within 300 ms on an ESP32-S3
      // (docs/JOURNAL.md, boot); a checkpoint (or a delta of one) is one record per eight.
      checkpointEvery: CHECKPOINT_EVERY,
      ...o.journal,
    });
  }

  /**
   * After journal.open(): the state of the newest readable checkpoint, with the newest delta of it if
   * that reads (else the full one and the records after it: a longer replay, the same state).
   */
  loadCheckpoint(): void {
    const checkpoint = this.journal.latest(RECORD_RISK_STATE);
    if (!checkpoint) return;
    const delta = this.#deltaOf(checkpoint.seq);
    try {
      ({ risk: this.risk, inDoubt: this.inDoubt } = decodeState(checkpoint.payload, this.#riskOptions, delta?.payload));
      this.replayFrom = delta?.seq ?? checkpoint.seq;
      this.#deltaBase = checkpoint.seq;
      if (!delta) this.risk.rebase();
      return;
    } catch (e) {
      rethrowIfProgrammerError(e);
      if (!delta) {
        this.#log('warn', 'risk', `checkpoint ${checkpoint.seq} unreadable (${errorText(e)}); rebuilding from the journal`);
        return;
      }
      this.#log('warn', 'risk', `checkpoint delta ${delta.seq} unreadable (${errorText(e)}); replaying from checkpoint ${checkpoint.seq}`);
    }
    this.replayFrom = 0;
    this.#deltaBase = 0;
    try {
      ({ risk: this.risk, inDoubt: this.inDoubt } = decodeState(checkpoint.payload, this.#riskOptions));
      this.replayFrom = checkpoint.seq;
      this.#deltaBase = checkpoint.seq;
      this.risk.rebase();
    } catch (e) {
      rethrowIfProgrammerError(e);
      this.#log('warn', 'risk', `checkpoint ${checkpoint.seq} unreadable (${errorText(e)}); rebuilding from the journal`);
    }
  }

  /** The newest delta of the full checkpoint at `base`, if any (one of an older checkpoint is stale). */
  #deltaOf(base: number): { seq: number; payload: Uint8Array } | undefined {
    const delta = this.journal.latest(RECORD_RISK_DELTA);
    if (!delta || delta.seq < base) return undefined;
    try {
      if (deltaBase(delta.payload) === base) return delta;
      this.#log('warn', 'risk', `checkpoint delta ${delta.seq} counts from ${deltaBase(delta.payload)}, not checkpoint ${base}: ignored`);
    } catch (e) {
      rethrowIfProgrammerError(e);
      this.#log('warn', 'risk', `checkpoint delta ${delta.seq} unreadable (${errorText(e)}); replaying from checkpoint ${base}`);
    }
    return undefined;
  }

  /**
   * Applies the records after the checkpoint to the terminal (built on this.risk and this.inDoubt):
   * intents, releases and receipts; receipts the service acknowledged do not count as offline. With
   * `maxRecords`, stops after that many and the next call goes on from there (`done` once all are
   * applied): boot returns to the event loop between slices, so the watchdog is fed.
   */
  replay(terminal: Terminal, maxRecords = Infinity): { restored: number; unreadable: number; done: boolean } {
    let restored = 0;
    let unreadable = 0;
    let visited = 0;
    let done = true;
    const acked = this.journal.ackedUpTo;
    this.journal.replay(Math.max(this.replayFrom, this.#replayedUpTo), (r) => {
      if (visited === maxRecords) {
        done = false;
        return false;
      }
      visited++;
      this.#replayedUpTo = r.seq;
      try {
        if (r.type === RECORD_RECEIPT) {
          // Only the receipt's facts are read (receiptFacts): receipts are most of what a full journal replays.
          // Each counts, whatever its number: a recovered in-doubt payment comes after higher-numbered
          // ones, with or without a checkpoint before it (none: the state it applies to is empty).
          this.inDoubt.closed(this.#restoreReceipt(terminal, r.payload, { afterCheckpoint: true, offline: r.seq > acked }));
          restored++;
          return;
        }
        this.inDoubt.replay(r.type, r.payload);
        // A refund's terminal sequence is never handed out again.
        if (r.type === RECORD_REFUND || r.type === RECORD_REFUND_INTENT) this.inDoubt.lastSeq = Math.max(this.inDoubt.lastSeq, decodeRefundRecord(r.payload).refundSeq);
        // A refund counts in the day totals when its record is durable, at the tap and here alike.
        if (r.type === RECORD_REFUND) terminal.restoreRefund(r.payload);
      } catch (e) {
        rethrowIfProgrammerError(e);
        unreadable++;
        this.#log('error', 'journal', `record ${r.seq} (type ${r.type}) does not restore: ${errorText(e)}`);
      }
    });
    return { restored, unreadable, done };
  }

  /**
   * Restores a receipt and returns its terminal sequence (for the in-doubt book). One that does not
   * restore still closes its intent if its envelope reads (InDoubt.replay), then its error goes on.
   */
  #restoreReceipt(terminal: Terminal, payload: Uint8Array, o: { afterCheckpoint: boolean; offline: boolean }): number {
    try {
      return terminal.restoreRecord(payload, o);
    } catch (e) {
      rethrowIfProgrammerError(e);
      this.inDoubt.replay(RECORD_RECEIPT, payload);
      throw e;
    }
  }
}

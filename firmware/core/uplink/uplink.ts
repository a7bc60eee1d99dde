// The upload state machine: when the network is up, unacknowledged receipts leave the journal in
// signed batches; the service's acknowledgement lets the journal reclaim them; signed updates in the
// response go through the UpdateStore. A failed exchange is retried with the very same bytes after an
// exponential backoff with jitter, so the service sees an identical retry; after a reboot the next batch
// starts again from the journal's acknowledged-up-to (the service dedupes by terminal id and sequence).
import { equalBytes, utf8Decode } from '../../base/bytes';
import type { Alg, VerifyFn } from '../crypto/verify';
import type { Journal } from '../journal/journal';
import { type Clock, type Log, type RandomBytes, silentLog } from '../../base/platform';
import type { UpdateStore } from './store';
import { BATCH_PATH, type HttpTransport, TransportError } from './transport';
import {
  decodeBatchResponse, encodeBatch, MAX_BATCH_RECEIPTS, MAX_RECEIPTS_FIELD_BYTES, NONCE_LENGTH, receiptItemBytes, SIGNATURE_FIELD_BYTES,
  verifyBatchResponse, WireError, type IntentOutcome, type TerminalStatus,
} from './wire';
import { assert, present } from '../../base/assert';
import { rethrowIfProgrammerError } from '../../base/errors';

const DEFAULT_MAX_BATCH_RECEIPTS = 64;
const DEFAULT_MAX_BATCH_BYTES = 48_000;
assert(DEFAULT_MAX_BATCH_RECEIPTS <= MAX_BATCH_RECEIPTS, 'the default batch is one the wire format takes');
assert(DEFAULT_MAX_BATCH_BYTES <= MAX_RECEIPTS_FIELD_BYTES, 'the default byte budget is one the wire format takes');

export interface UplinkOptions {
  journal: Journal;
  transport: HttpTransport;
  store: UpdateStore;
  clock: Clock;
  random: RandomBytes;
  log?: Log;
  terminalId: string;
  /** The terminal's P-256 device key (32 bytes): it signs every batch. */
  deviceSecretKey: Uint8Array;
  /** The provisioning root key: it signs responses and updates. */
  root: { alg: Alg; publicKey: Uint8Array };
  /** Checks the response's signature: boot's primitive, as the update store's (default noble's). */
  verify?: VerifyFn;
  timeoutMs?: number;
  /** First retry delay, and the cap the doubling stops at. */
  backoffMs?: number;
  maxBackoffMs?: number;
  maxBatchReceipts?: number;
  /** Receipt bytes per batch (the wire format allows up to 65535 for the receipts field). */
  maxBatchBytes?: number;
  /** What each batch reports about the terminal (firmware, offline totals); the backlog is counted here. */
  status?: () => Omit<TerminalStatus, 'backlog'>;
  /**
   * In-doubt payments (docs/PROTOCOL.md, "Open intents at upload"): every batch carries the intents
   * still open (encoded as journaled), and the answer names those the service settled from the wallet's
   * own log, which the terminal then closes.
   */
  intents?: { open(): Uint8Array[]; settled(outcome: IntentOutcome): Promise<void> };
}

export type UplinkState = 'offline' | 'idle' | 'uploading' | 'backoff';

export interface UplinkStats {
  posts: number;
  batchesAcknowledged: number;
  receiptsAcknowledged: number;
  failures: number;
  updatesApplied: number;
  updatesRefused: number;
}

interface Pending {
  bytes: Uint8Array;
  nonce: Uint8Array;
  /** The batch carries the receipts after `fromSeq` (the journal's acknowledged-up-to when built) up to `lastSeq`. */
  fromSeq: number;
  lastSeq: number;
  count: number;
  /** The signature the batch was sent with: every retry must carry it (the very same bytes). */
  signature: Uint8Array;
}

export class Uplink {
  readonly #o: UplinkOptions;
  readonly #log: Log;
  #up = false;
  #state: UplinkState = 'offline';
  #pending: Pending | undefined;
  #attempt = 0;
  #running: Promise<void> | undefined;
  #wantExchange = false;
  readonly stats: UplinkStats = { posts: 0, batchesAcknowledged: 0, receiptsAcknowledged: 0, failures: 0, updatesApplied: 0, updatesRefused: 0 };

  constructor(options: UplinkOptions) {
    const backoffMs = options.backoffMs ?? 1000;
    if (!Number.isSafeInteger(backoffMs) || backoffMs < 1) throw new RangeError(`backoffMs must be a whole number of ms from 1, not ${backoffMs}`);
    const cap = options.maxBackoffMs ?? 300_000;
    if (!Number.isSafeInteger(cap) || cap < backoffMs) throw new RangeError(`maxBackoffMs must be a whole number of ms from backoffMs (${backoffMs}), not ${cap}`);
    const receipts = options.maxBatchReceipts ?? DEFAULT_MAX_BATCH_RECEIPTS;
    if (!Number.isInteger(receipts) || receipts < 1 || receipts > MAX_BATCH_RECEIPTS) throw new RangeError(`maxBatchReceipts must be 1..${MAX_BATCH_RECEIPTS}, not ${receipts}`);
    const bytes = options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
    if (!Number.isInteger(bytes) || bytes < 1 || bytes > MAX_RECEIPTS_FIELD_BYTES) throw new RangeError(`maxBatchBytes must be 1..${MAX_RECEIPTS_FIELD_BYTES}, not ${bytes}`);
    this.#o = options;
    this.#log = options.log ?? silentLog;
  }

  get state(): UplinkState {
    return this.#state;
  }

  /** The network came up (Wi-Fi got an IP): upload, and at least one exchange to fetch updates and time. */
  networkUp(): Promise<void> {
    this.#up = true;
    this.#wantExchange = true;
    return this.#kick();
  }

  networkDown(): void {
    this.#up = false;
    this.#state = 'offline';
  }

  /** A receipt was journaled: upload it if the network is up. */
  receiptAdded(): Promise<void> {
    return this.#up ? this.#kick() : Promise.resolve();
  }

  /** Resolves when the current upload run, if any, has stopped. */
  settled(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  #kick(): Promise<void> {
    if (!this.#running) {
      this.#running = this.#run().finally(() => (this.#running = undefined));
    }
    return this.#running;
  }

  async #run(): Promise<void> {
    const j = this.#o.journal;
    while (this.#up && (this.#pending || this.#wantExchange || j.lastAcknowledgeable > j.ackedUpTo)) {
      this.#wantExchange = false;
      this.#state = 'uploading';
      if (!this.#pending) {
        assert(this.#attempt === 0, 'a new batch is built only after the last one was acknowledged (a retry resends it)');
        this.#pending = this.#build();
      }
      assert(equalBytes(this.#pending.bytes.subarray(this.#pending.bytes.length - this.#pending.signature.length), this.#pending.signature), 'a retry sends the bytes that were signed');
      const ok = await this.#exchange(this.#pending);
      if (ok) {
        this.#pending = undefined;
        this.#attempt = 0;
        continue;
      }
      this.stats.failures++;
      if (!this.#up) break;
      this.#state = 'backoff';
      await this.#o.clock.sleep(this.#delay());
      this.#attempt++;
    }
    this.#state = this.#up ? 'idle' : 'offline';
  }

  /** Exponential backoff with full jitter in [d/2, d): spreads terminals that lost the service together. */
  #delay(): number {
    const base = this.#o.backoffMs ?? 1000;
    const cap = this.#o.maxBackoffMs ?? 300_000;
    const d = Math.min(cap, base * 2 ** Math.min(this.#attempt, 30));
    const [hi, lo] = this.#o.random(2);
    const delay = Math.floor(d / 2 + ((d / 2) * ((present(hi, 'random byte') << 8) | present(lo, 'random byte'))) / 65536);
    assert(d >= base && d <= cap, 'the backoff stays between the first delay and the cap');
    assert(delay >= Math.floor(d / 2), 'the jittered delay is at least half the backoff');
    assert(delay < d, 'the jittered delay is below the backoff');
    return delay;
  }

  #build(): Pending {
    const j = this.#o.journal;
    const maxBytes = this.#o.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
    const maxReceipts = this.#o.maxBatchReceipts ?? DEFAULT_MAX_BATCH_RECEIPTS;
    const records = j.unacknowledged(maxReceipts, maxBytes);
    // Keep the receipts field under the wire limit, counting each item's own TLV header.
    let size = 0;
    const items: { seq: number; receipt: Uint8Array }[] = [];
    for (const r of records) {
      size += receiptItemBytes(r.seq, r.payload);
      if (items.length > 0 && size > MAX_RECEIPTS_FIELD_BYTES) break;
      items.push({ seq: r.seq, receipt: r.payload });
    }
    const nonce = this.#o.random(NONCE_LENGTH);
    const versions = this.#o.store.versions;
    const wallTime = this.#o.clock.wallTime();
    const last = items[items.length - 1];
    const lastSeq = last ? last.seq : j.ackedUpTo;
    const status = this.#o.status ? { ...this.#o.status(), backlog: Math.max(0, j.lastAcknowledgeable - lastSeq) } : undefined;
    const bytes = encodeBatch(
      {
        terminalId: this.#o.terminalId, nonce, ...(wallTime !== undefined ? { wallTime } : {}), ...versions, ...(status ? { status } : {}), items,
        ...(this.#o.intents ? { intents: this.#o.intents.open() } : {}),
      },
      this.#o.deviceSecretKey,
    );
    this.#log('info', 'uplink', `batch of ${items.length} receipt(s) up to ${lastSeq}, ${bytes.length} bytes`);
    const pending = { bytes, nonce, fromSeq: j.ackedUpTo, lastSeq, count: items.length, signature: bytes.slice(bytes.length - SIGNATURE_FIELD_BYTES + 2) };
    assertBatchRange(pending, items, maxReceipts, j.lastSeq);
    return pending;
  }

  /** One POST of the pending batch. True when the service's answer was taken in; false to retry later. */
  async #exchange(p: Pending): Promise<boolean> {
    this.stats.posts++;
    let status: number;
    let body: Uint8Array;
    try {
      ({ status, body } = await this.#o.transport.post(BATCH_PATH, p.bytes, this.#o.timeoutMs ?? 15_000));
    } catch (e) {
      if (!(e instanceof TransportError) && (e as Error).name !== 'TransportError') throw e;
      this.#log('warn', 'uplink', `upload failed: ${(e as Error).message}`);
      return false;
    }
    if (status !== 200) {
      this.#log(status >= 500 ? 'warn' : 'error', 'uplink', `service answered ${status}: ${describeError(body)}`);
      return false;
    }
    let response;
    try {
      response = decodeBatchResponse(body);
    } catch (e) {
      if (!(e instanceof WireError)) throw e;
      this.#log('warn', 'uplink', `unreadable response (${body.length} bytes): ${e.message}`);
      return false;
    }
    if (!verifyBatchResponse(response, this.#o.root.alg, this.#o.root.publicKey, this.#o.verify)) {
      this.#log('error', 'uplink', 'response not signed by the root key: ignored');
      return false;
    }
    if (response.terminalId !== this.#o.terminalId || !equalBytes(response.nonce, p.nonce)) {
      this.#log('error', 'uplink', 'response answers another batch: ignored');
      return false;
    }
    // Never more than what this batch carried; an older or repeated acknowledgement changes nothing.
    const j = this.#o.journal;
    const ack = Math.min(response.ackedUpTo, p.lastSeq);
    if (ack > j.ackedUpTo) {
      const before = j.ackedUpTo;
      try {
        j.acknowledge(ack);
      } catch (e) {
        rethrowIfProgrammerError(e);
        // The service holds them: the same batch is sent again later and answered as duplicates.
        this.#log('error', 'uplink', `could not record acknowledgement ${ack}: ${(e as Error).message}`);
        return false;
      }
      this.stats.receiptsAcknowledged += countBetween(p, before, ack);
      this.stats.batchesAcknowledged++;
      this.#log('info', 'uplink', `acknowledged up to ${ack}`);
    }
    assertAckedWithin(p, j.ackedUpTo, j.lastSeq);
    for (const r of response.results) {
      if (r.status === 2) this.#log('warn', 'uplink', `receipt ${r.seq} rejected by the service: ${r.reason ?? 'no reason'}`);
    }
    for (const outcome of response.intents ?? []) await this.#o.intents?.settled(outcome);
    for (const u of response.updates) {
      try {
        this.#o.store.apply(u, p.nonce);
        this.stats.updatesApplied++;
      } catch (e) {
        if ((e as Error).name !== 'UpdateError') throw e;
        this.stats.updatesRefused++;
        this.#log('error', 'uplink', `update refused: ${(e as Error).message}`);
      }
    }
    return ack >= p.lastSeq;
  }
}

/**
 * A batch starts right after what the service holds and ends at a record the journal wrote: the
 * batches' ranges (fromSeq, lastSeq] follow each other without a gap or an overlap, since the next one
 * is built from the acknowledged-up-to this one reaches.
 */
function assertBatchRange(p: Pending, items: { seq: number }[], maxReceipts: number, journalLastSeq: number): void {
  assert(items.length <= maxReceipts, 'a batch holds at most maxBatchReceipts receipts');
  let prev = p.fromSeq;
  for (const item of items) {
    assert(item.seq > prev, 'batch sequence numbers ascend from the acknowledged-up-to');
    prev = item.seq;
  }
  assert(p.lastSeq === prev, 'a batch ends at its last receipt (or where it starts, when empty)');
  assert(p.lastSeq <= journalLastSeq, 'a batch carries only records the journal wrote');
}

/** acknowledged <= sent <= written: the journal is never told the service holds more than was sent. */
function assertAckedWithin(p: Pending, ackedUpTo: number, journalLastSeq: number): void {
  assert(p.fromSeq <= ackedUpTo, 'the acknowledged-up-to never moves back');
  assert(ackedUpTo <= p.lastSeq, 'nothing past the batch sent is acknowledged');
  assert(p.lastSeq <= journalLastSeq, 'the batch sent ends at a record the journal wrote');
}

function countBetween(p: Pending, before: number, ack: number): number {
  return ack >= p.lastSeq ? p.count : Math.max(0, Math.min(p.count, ack - before));
}

function describeError(body: Uint8Array): string {
  try {
    const e = JSON.parse(utf8Decode(body.subarray(0, 512))) as { error?: string; message?: string };
    return `${e.error ?? '?'}: ${e.message ?? ''}`;
  } catch {
    return `${body.length} bytes`;
  }
}

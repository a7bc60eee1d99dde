// Receipt re-verification in worker threads, one per core by default. A worker does all the work a
// receipt needs before the settlement may look at it: it parses the envelope and the messages, checks
// the issuer key and the dates, builds the signed payloads and verifies both signatures (verify.ts
// ReceiptVerifier, with its own certificate memory and key cache), then hands back the parsed content.
// The main thread only splits a batch and settles it: it runs HTTP and SQL for every receipt, and on
// two cores every microsecond it spends per receipt counts (docs/SCALING.md).
//
// A wallet's receipts always go to the same worker, chosen by its certificate's bytes, so each wallet's
// key is parsed, and its certificate verified, in one worker, not in every one. The receipts travel
// packed in one transferred buffer per worker; the checks come back as structured-cloned objects.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { present } from '../../firmware/base/assert';
import type { IssuerKey } from '../../firmware/core/crypto/keyring';
import type { ReceiptCheck } from '../../firmware/core/crypto/receipt';
import { ReceiptVerifier, type ReceiptChecker } from './verify';

const ROLE = 'tapline receipt worker';

/** What the main thread sends: receipts packed (2-byte length, bytes), and the keys when they changed. */
interface Job {
  receipts: Uint8Array;
  now: number;
  keys?: IssuerKey[];
  forget?: boolean;
}

interface Pending {
  resolve(checks: ReceiptCheck[]): void;
  reject(e: Error): void;
}

interface Slot {
  worker: Worker;
  queue: Pending[];
  /** The key map this worker holds, by identity: a new map is sent once. */
  keys: ReadonlyMap<number, IssuerKey> | undefined;
  forget: boolean;
  /** The worker has answered once (it started). */
  answered: boolean;
}

const MAX_FAILED_STARTS = 8;

export class ReceiptPool implements ReceiptChecker {
  readonly size: number;
  #slots: Slot[] = [];
  #closed = false;
  #failedStarts = 0;
  #broken: Error | undefined;

  constructor(options: { threads?: number } = {}) {
    this.size = Math.max(1, options.threads ?? availableParallelism());
    for (let i = 0; i < this.size; i++) this.#slots.push(this.#spawn());
  }

  async verify(receipts: Uint8Array[], keys: ReadonlyMap<number, IssuerKey>, now: number): Promise<ReceiptCheck[]> {
    if (this.#broken) throw new Error(`receipt workers cannot start: ${this.#broken.message}`);
    if (this.#closed) throw new Error('receipt pool is closed');
    const groups: number[][] = this.#slots.map(() => []);
    receipts.forEach((r, i) => present(groups[shardOf(r, this.size)], 'shard').push(i));
    const out = new Array<ReceiptCheck>(receipts.length);
    await Promise.all(
      groups.map(async (indexes, worker) => {
        if (indexes.length === 0) return;
        const checks = await this.#send(worker, indexes.map((i) => present(receipts[i], 'receipt')), keys, now);
        indexes.forEach((i, k) => (out[i] = present(checks[k], 'check')));
      }),
    );
    return out;
  }

  /** The keyring changed: every worker verifies certificates again under the new keys. */
  forgetCertificates(): void {
    for (const slot of this.#slots) slot.forget = true;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }

  #send(worker: number, receipts: Uint8Array[], keys: ReadonlyMap<number, IssuerKey>, now: number): Promise<ReceiptCheck[]> {
    const slot = present(this.#slots[worker], 'worker');
    const job: Job = { receipts: pack(receipts), now };
    if (slot.keys !== keys) (job.keys = [...keys.values()]), (slot.keys = keys);
    if (slot.forget) (job.forget = true), (slot.forget = false);
    return new Promise((resolve, reject) => {
      slot.queue.push({ resolve, reject });
      slot.worker.postMessage(job, [job.receipts.buffer as ArrayBuffer]);
    });
  }

  #spawn(): Slot {
    // The service runs its TypeScript through tsx; a worker starts without the parent's loader. Its eval'd
    // source resolves bare names from the working directory, which for `tapline serve` (or the simulator)
    // may hold no node_modules: so tsx is named by the URL this module resolves it to.
    const tsx = tsxApiUrl();
    const source = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); })`;
    const worker = new Worker(source, { eval: true, workerData: { role: ROLE } });
    const slot: Slot = { worker, queue: [], keys: undefined, forget: false, answered: false };
    worker.unref();
    worker.on('message', (checks: ReceiptCheck[]) => {
      slot.answered = true;
      this.#failedStarts = 0;
      slot.queue.shift()?.resolve(checks);
    });
    const fail = (e: Error) => {
      for (const p of slot.queue.splice(0)) p.reject(e);
      if (this.#closed) return;
      // a worker that cannot even start would be respawned forever: after a few, the pool gives up
      if (!slot.answered && ++this.#failedStarts > MAX_FAILED_STARTS) {
        this.#closed = true;
        this.#broken = e;
        return;
      }
      const index = this.#slots.indexOf(slot);
      if (index >= 0) this.#slots[index] = this.#spawn();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`receipt worker exited (${code})`)));
    return slot;
  }
}

/** tsx's ESM API as a file URL (import.meta.resolve where the loader keeps it, else Node's resolver). */
function tsxApiUrl(): string {
  const meta = import.meta as { resolve?: (specifier: string) => string };
  if (typeof meta.resolve === 'function') return meta.resolve('tsx/esm/api');
  // Node's require resolves the CommonJS build; the worker needs the ESM one, named by tsx's own exports
  const manifest = createRequire(import.meta.url).resolve('tsx/package.json');
  const exports = (JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Record<string, { import: { default: string } }> }).exports;
  return pathToFileURL(join(dirname(manifest), present(exports['./esm/api'], "tsx's esm/api export").import.default)).href;
}

/**
 * The worker for a receipt: by the last two bytes of its certificate (the issuer's signature, or the
 * signed fields after it), found where the canonical envelope puts it (version 80, sequence 81, then
 * the certificate 82). Only a routing choice: a receipt not laid out so goes to worker 0, which then
 * refuses it with the parser's reason.
 */
export function shardOf(receipt: Uint8Array, size: number): number {
  let at = 9;
  if (receipt[0] !== 0x80 || receipt[at] !== 0x82) return 0;
  let length = receipt[at + 1] ?? 0;
  at += 2;
  if (length === 0x81) length = receipt[at++] ?? 0;
  else if (length === 0x82) (length = ((receipt[at] ?? 0) << 8) | (receipt[at + 1] ?? 0)), (at += 2);
  const end = at + length;
  if (length < 2 || length > 0x7fff || end > receipt.length) return 0;
  return (((receipt[end - 1] ?? 0) << 8) | (receipt[end - 2] ?? 0)) % size;
}

function pack(receipts: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const r of receipts) size += 2 + r.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const r of receipts) {
    if (r.length > 0xffff) throw new RangeError('receipt too large to pack');
    out[at++] = r.length >> 8;
    out[at++] = r.length & 0xff;
    out.set(r, at);
    at += r.length;
  }
  return out;
}

function unpack(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    const length = (bytes[at]! << 8) | bytes[at + 1]!;
    at += 2;
    out.push(bytes.subarray(at, (at += length)));
  }
  return out;
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === ROLE) {
  const verifier = new ReceiptVerifier();
  let keys = new Map<number, IssuerKey>();
  parentPort!.on('message', (job: Job) => {
    if (job.keys) keys = new Map(job.keys.map((k) => [k.keyId, k]));
    if (job.forget) verifier.forgetCertificates();
    // A programmer error rejects: unhandled, it ends the worker, and the batch waiting on it fails.
    void verifier.verify(unpack(job.receipts), keys, job.now).then((checks) => parentPort!.postMessage(checks));
  });
}

// Signature verification in worker threads, one per core by default: OpenSSL verifies in whichever
// thread calls it, so the main thread's event loop (HTTP, SQL, settling) keeps going while the pool
// checks a batch's signatures. Each worker keeps its own bounded cache of parsed keys. The checks travel
// packed in one transferred buffer per worker and come back as one byte per verdict.
import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { present } from '../../firmware/base/assert';
import type { Alg } from '../../firmware/core/crypto/verify';
import { NodeVerifier, type SignatureCheck, type SignatureVerifier } from './verify';

/** Below this many checks a round trip to a worker costs more than it saves. */
const INLINE_BELOW = 8;
const ROLE = 'tapline verify worker';

interface Pending {
  resolve(verdicts: Uint8Array): void;
  reject(e: Error): void;
}

interface Slot {
  worker: Worker;
  queue: Pending[];
}

export class VerifyPool implements SignatureVerifier {
  readonly size: number;
  #slots: Slot[] = [];
  #inline = new NodeVerifier();
  #closed = false;

  constructor(options: { threads?: number } = {}) {
    this.size = Math.max(1, options.threads ?? availableParallelism());
    for (let i = 0; i < this.size; i++) this.#slots.push(this.#spawn());
  }

  async verifyAll(checks: SignatureCheck[]): Promise<boolean[]> {
    if (this.#closed) throw new Error('verify pool is closed');
    if (checks.length < INLINE_BELOW) return checks.map((c) => this.#inline.verify(c.alg, c.publicKey, c.message, c.signature));
    // A wallet's checks always go to the same worker: each key is parsed (and cached) in one worker,
    // not in all of them. Wallet keys are uniformly random, so the workers' shares stay even.
    const groups: number[][] = this.#slots.map(() => []);
    checks.forEach((check, i) => present(groups[shardOf(check, this.size)], 'shard').push(i));
    const out = new Array<boolean>(checks.length);
    await Promise.all(
      groups.map(async (indexes, worker) => {
        if (indexes.length === 0) return;
        const verdicts = await this.#send(worker, indexes.map((i) => present(checks[i], 'check')));
        indexes.forEach((i, k) => (out[i] = verdicts[k] === 1));
      }),
    );
    return out;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }

  #send(worker: number, checks: SignatureCheck[]): Promise<Uint8Array> {
    const slot = present(this.#slots[worker], 'worker');
    const packed = pack(checks);
    return new Promise((resolve, reject) => {
      slot.queue.push({ resolve, reject });
      slot.worker.postMessage(packed, [packed.buffer as ArrayBuffer]);
    });
  }

  #spawn(): Slot {
    // The service runs its TypeScript through tsx; a worker starts without the parent's loader.
    const source = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); })`;
    const worker = new Worker(source, { eval: true, workerData: { role: ROLE } });
    const slot: Slot = { worker, queue: [] };
    worker.unref();
    worker.on('message', (verdicts: Uint8Array) => slot.queue.shift()?.resolve(verdicts));
    const fail = (e: Error) => {
      for (const p of slot.queue.splice(0)) p.reject(e);
      if (this.#closed) return;
      const index = this.#slots.indexOf(slot);
      if (index >= 0) this.#slots[index] = this.#spawn();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`verify worker exited (${code})`)));
    return slot;
  }
}

/** The worker for a check: by the bytes it names as its shard (default its key), last two bytes. */
function shardOf(check: SignatureCheck, size: number): number {
  const key = check.shard ?? check.publicKey;
  return (((key[key.length - 1] ?? 0) << 8) | (key[key.length - 2] ?? 0)) % size;
}

// Packed: per check alg (1), key length (1), key, signature length (1), signature, message length (2), message.
function pack(checks: SignatureCheck[]): Uint8Array {
  let size = 0;
  for (const c of checks) size += 5 + c.publicKey.length + c.signature.length + c.message.length;
  const out = new Uint8Array(size);
  let at = 0;
  const put = (bytes: Uint8Array) => (out.set(bytes, at), (at += bytes.length));
  for (const c of checks) {
    if (c.publicKey.length > 255 || c.signature.length > 255 || c.message.length > 0xffff) throw new RangeError('signature check too large to pack');
    out[at++] = c.alg;
    out[at++] = c.publicKey.length;
    put(c.publicKey);
    out[at++] = c.signature.length;
    put(c.signature);
    out[at++] = c.message.length >> 8;
    out[at++] = c.message.length & 0xff;
    put(c.message);
  }
  return out;
}

function verifyPacked(verifier: NodeVerifier, bytes: Uint8Array): Uint8Array {
  const verdicts: number[] = [];
  let at = 0;
  const take = (n: number) => bytes.subarray(at, (at += n));
  while (at < bytes.length) {
    const alg = bytes[at++]! as Alg;
    const publicKey = take(bytes[at++]!);
    const signature = take(bytes[at++]!);
    const length = (bytes[at]! << 8) | bytes[at + 1]!;
    at += 2;
    verdicts.push(verifier.verify(alg, publicKey, take(length), signature) ? 1 : 0);
  }
  return Uint8Array.from(verdicts);
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === ROLE) {
  const verifier = new NodeVerifier();
  parentPort!.on('message', (bytes: Uint8Array) => {
    const verdicts = verifyPacked(verifier, bytes);
    parentPort!.postMessage(verdicts, [verdicts.buffer as ArrayBuffer]);
  });
}

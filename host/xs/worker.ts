// Drives the real XS engine: the `xsnap-worker` binary that `@agoric/xsnap` builds from Moddable's
// sources at install. We speak its netstring protocol on file descriptors 3 (to XS) and 4 (from XS)
// ourselves, rather than through the package's JS API, because that API needs SES in the parent process.
//
// Protocol (xsnap-worker.c): we send `e<code>` (evaluate) or `?<bytes>` (call globalThis.handleCommand);
// XS answers `.<meter json>\x01<reply>` or `!<error>`. While running, XS may call issueCommand(bytes),
// which arrives here as `?<bytes>` and blocks XS until we answer `/<reply>`: that is the synchronous
// bridge the simulator uses to reach host-only things (sockets, files, the terminal).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

export interface Meter {
  /** XS "computrons": deterministic count of work done by the engine for this message. */
  compute: number;
  /** Bytes of heap (chunks + slots) the engine has allocated from the system. */
  allocate: number;
  /** Slots in use at the end of the message. */
  currentHeapCount: number;
  /** native/xsdev only: this message's peaks and host time, and the machine's creation values. */
  device?: DeviceMeter;
}

export interface DeviceMeter {
  /** Slots and chunk bytes in use at the end of the message, beyond the preloaded image (garbage included). */
  slots: number;
  peakSlots: number;
  chunkBytes: number;
  peakChunkBytes: number;
  /**
   * The message ran with a collection before every allocation (xsdevLiveHeap): its peaks are then the
   * most that was reachable at once, beyond the preloaded image, and garbage is not in them.
   */
  live: boolean;
  /** Slots and chunk bytes in use as the message began (with `live`: reachable then, after a collection). */
  startSlots: number;
  startChunkBytes: number;
  /** Deepest XS stack, in slots. */
  stackPeak: number;
  hostMs: number;
  creation: { chunk: number; heap: number; stack: number };
  /** What the preload put in the shared (flash) image. */
  preload: { slots: number; chunkBytes: number; keys: number };
}

export interface XSResult {
  reply: Uint8Array;
  meter: Meter;
}

export interface XSWorkerOptions {
  /** Answers issueCommand(bytes) calls made by code running in XS. */
  onCommand?: (message: Uint8Array) => Uint8Array | Promise<Uint8Array>;
  /** Receives what XS prints (print / console.log), line by line. Default: discarded. */
  onPrint?: (line: string) => void;
  /** Abort a message after this many computrons (0: no limit). */
  meteringLimit?: number;
  /** Size in bytes of the XS parser buffer, for large bundles. */
  parserBufferSize?: number;
  /** Another engine binary speaking the same protocol (native/xsdev), with its arguments. */
  engine?: { path: string; args: string[] };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function xsnapBinary(): string {
  const require = createRequire(import.meta.url);
  const pkg = dirname(require.resolve('@agoric/xsnap/package.json'));
  const platform = process.platform === 'darwin' ? 'mac' : 'lin';
  const bin = join(pkg, 'xsnap-native', 'xsnap', 'build', 'bin', platform, 'release', 'xsnap-worker');
  if (!existsSync(bin)) {
    throw new Error(`xsnap-worker not found at ${bin}: run "npm install" (it builds XS from source)`);
  }
  return bin;
}

export class XSWorker {
  readonly #process: ChildProcess;
  readonly #toXS: Writable;
  readonly #options: XSWorkerOptions;
  #buffer: Uint8Array = new Uint8Array(0);
  #pending: Array<{ resolve: (r: XSResult) => void; reject: (e: Error) => void }> = [];
  #exited: Error | undefined;
  #stdout = '';

  constructor(options: XSWorkerOptions = {}) {
    this.#options = options;
    const args = options.engine ? options.engine.args : ['tapline'];
    if (options.meteringLimit) args.push('-l', String(options.meteringLimit));
    if (options.parserBufferSize) args.push('-s', String(options.parserBufferSize));
    this.#process = spawn(options.engine ? options.engine.path : xsnapBinary(), args, {
      stdio: ['ignore', 'pipe', 'inherit', 'pipe', 'pipe', 'ignore', 'ignore', 'ignore', 'ignore'],
    });
    this.#toXS = this.#process.stdio[3] as Writable;
    const fromXS = this.#process.stdio[4] as Readable;
    fromXS.on('data', (chunk: Buffer) => this.#receive(chunk));
    (this.#process.stdout as Readable).on('data', (chunk: Buffer) => this.#print(chunk.toString('utf8')));
    this.#process.on('exit', (code, signal) => {
      this.#exited = new Error(`xsnap-worker exited (code ${code}, signal ${signal})`);
      for (const p of this.#pending.splice(0)) p.reject(this.#exited);
    });
  }

  /** Evaluates a script (a bundle, or an expression) in the worker's global scope. */
  evaluate(code: string): Promise<XSResult> {
    return this.#send(concat(encoder.encode('e'), encoder.encode(code)));
  }

  /** Calls globalThis.handleCommand(ArrayBuffer) in XS; its returned ArrayBuffer is the reply. */
  command(message: Uint8Array | string): Promise<XSResult> {
    const bytes = typeof message === 'string' ? encoder.encode(message) : message;
    return this.#send(concat(encoder.encode('?'), bytes));
  }

  /** Calls handleCommand with a JSON value and parses the JSON reply. */
  async call<T = unknown>(value: unknown): Promise<{ value: T; meter: Meter }> {
    const { reply, meter } = await this.command(JSON.stringify(value));
    const text = decoder.decode(reply);
    return { value: (text.length ? JSON.parse(text) : undefined) as T, meter };
  }

  async close(): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.#process.once('exit', () => resolve()));
    this.#toXS.end();
    this.#process.kill();
    await exited;
  }

  #send(payload: Uint8Array): Promise<XSResult> {
    if (this.#exited) return Promise.reject(this.#exited);
    return new Promise((resolve, reject) => {
      this.#pending.push({ resolve, reject });
      this.#toXS.write(netstring(payload));
    });
  }

  #print(text: string): void {
    this.#stdout += text;
    let newline: number;
    while ((newline = this.#stdout.indexOf('\n')) >= 0) {
      const line = this.#stdout.slice(0, newline);
      this.#stdout = this.#stdout.slice(newline + 1);
      this.#options.onPrint?.(line);
    }
  }

  #receive(chunk: Uint8Array): void {
    this.#buffer = concat(this.#buffer, chunk);
    for (;;) {
      const colon = this.#buffer.indexOf(0x3a);
      if (colon < 0) return;
      const length = Number(decoder.decode(this.#buffer.subarray(0, colon)));
      const end = colon + 1 + length;
      if (this.#buffer.length < end + 1) return;
      const message = this.#buffer.slice(colon + 1, end);
      this.#buffer = this.#buffer.slice(end + 1); // skip the trailing ','
      void this.#dispatch(message);
    }
  }

  async #dispatch(message: Uint8Array): Promise<void> {
    const kind = message[0];
    if (kind === 0x3f /* ? */) {
      let reply: Uint8Array;
      try {
        if (!this.#options.onCommand) throw new Error('no onCommand handler for issueCommand');
        reply = await this.#options.onCommand(message.subarray(1));
      } catch (error) {
        reply = encoder.encode(JSON.stringify({ hostError: String((error as Error)?.message ?? error) }));
      }
      this.#toXS.write(netstring(concat(encoder.encode('/'), reply)));
      return;
    }
    const waiter = this.#pending.shift();
    if (!waiter) throw new Error('xsnap protocol error: unexpected message');
    if (kind === 0x2e /* . */) {
      const separator = message.indexOf(1);
      const meter = separator >= 0 ? JSON.parse(decoder.decode(message.subarray(1, separator))) : {};
      waiter.resolve({
        reply: message.slice(separator >= 0 ? separator + 1 : 1),
        meter: {
          compute: meter.compute ?? 0,
          allocate: meter.allocate ?? 0,
          currentHeapCount: meter.currentHeapCount ?? 0,
          device: meter.peakSlots === undefined ? undefined : {
            slots: meter.slots, peakSlots: meter.peakSlots, chunkBytes: meter.chunkBytes, peakChunkBytes: meter.peakChunkBytes, live: meter.live === true, startSlots: meter.startSlots, startChunkBytes: meter.startChunkBytes, stackPeak: meter.stackPeak,
            hostMs: meter.hostMs, creation: meter.creation, preload: meter.preload,
          },
        },
      });
    } else if (kind === 0x21 /* ! */) {
      waiter.reject(new Error(`XS: ${decoder.decode(message.subarray(1))}`));
    } else {
      waiter.reject(new Error(`xsnap protocol error: unknown reply ${String.fromCharCode(kind ?? 0)}`));
    }
  }
}

function netstring(payload: Uint8Array): Uint8Array {
  return concat(encoder.encode(`${payload.length}:`), payload, encoder.encode(','));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

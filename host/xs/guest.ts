// The XS side of a scenario: code bundled into the engine calls serve() with named handlers; the host
// calls them by name with JSON arguments (host/xs/scenario.ts). Platform-free: it runs on XS and Node.
import { utf8Decode, utf8Encode } from '../../firmware/base/bytes';

export type Handler = (args: any) => unknown;

interface Outcome {
  ok: boolean;
  value?: unknown;
  error?: string;
}

/**
 * Installs globalThis.handleCommand. A call runs the handler; if it returns a promise, the engine's
 * run loop settles it before the worker replies, so a second, cheap "result" message fetches it.
 * That keeps the metering of the first message equal to the handler's own work.
 */
export function serve(handlers: Record<string, Handler>): void {
  let last: Outcome = { ok: false, error: 'no call yet' };
  const g = globalThis as any;
  g.handleCommand = (message: ArrayBuffer) => {
    const { op, args } = JSON.parse(utf8Decode(new Uint8Array(message))) as { op: string; args: unknown };
    if (op === '__result') return toBuffer(JSON.stringify(last));
    last = { ok: false, error: `handler ${op} did not settle` };
    const handler = handlers[op];
    if (!handler) {
      last = { ok: false, error: `no handler named ${op}` };
      return toBuffer('');
    }
    try {
      const value = handler(args);
      if (value && typeof (value as Promise<unknown>).then === 'function') {
        (value as Promise<unknown>).then(
          (v) => (last = { ok: true, value: v }),
          (e) => (last = { ok: false, error: describe(e) }),
        );
      } else {
        last = { ok: true, value };
      }
    } catch (e) {
      last = { ok: false, error: describe(e) };
    }
    return toBuffer('');
  };
}

function describe(e: unknown): string {
  if (e && typeof e === 'object' && 'message' in e) return `${(e as Error).name ?? 'Error'}: ${(e as Error).message}`;
  return String(e);
}

function toBuffer(text: string): ArrayBuffer {
  const bytes = utf8Encode(text);
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

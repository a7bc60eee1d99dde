// HttpTransport over Moddable's `http` Request. Platform-free: main.ts passes the Request class and
// the timer functions in. Plain HTTP only: batches are signed by the terminal's device key and answers
// by the provisioning root key, so the service's replies are authenticated without TLS (which would
// also cost ~40 KB of heap on a plain ESP32); confidentiality is not provided.
import { TransportError, type HttpResponse, type HttpTransport } from '../core/uplink/transport';
import { present } from '../base/assert';

/** The subset of Moddable's `http` Request the transport drives. */
export interface ModdableRequest {
  callback: (message: number, value1?: unknown, value2?: unknown) => unknown;
  close(): void;
}

export type ModdableRequestClass = new (options: {
  host: string;
  port: number;
  path: string;
  method: string;
  headers: string[];
  body: ArrayBuffer;
  response: typeof ArrayBuffer;
}) => ModdableRequest;

export interface ModdableHttpOptions {
  /** The provisioning file's settlementUrl: http://host[:port][/base] */
  baseUrl: string;
  Request: ModdableRequestClass;
  setTimer: (callback: () => void, ms: number) => unknown;
  clearTimer: (timer: unknown) => void;
}

const STATUS = 1;
const COMPLETE = 5;
const MOST_RESPONSE_BYTES = 64 * 1024;

export function parseBaseUrl(url: string): { host: string; port: number; base: string } {
  const m = /^http:\/\/([A-Za-z0-9.-]+)(?::([0-9]{1,5}))?(\/[A-Za-z0-9._~\/-]*)?$/.exec(url);
  if (!m) throw new TransportError(`settlement URL "${url}" is not http://host[:port][/path] (https is not supported on the device)`);
  const port = m[2] === undefined ? 80 : Number(m[2]);
  if (port < 1 || port > 65535) throw new TransportError(`settlement URL port ${port} out of range`);
  return { host: present(m[1], 'URL host'), port, base: (m[3] ?? '').replace(/\/+$/, '') };
}

export class ModdableHttpTransport implements HttpTransport {
  readonly #host: string;
  readonly #port: number;
  readonly #base: string;
  readonly #options: ModdableHttpOptions;

  constructor(options: ModdableHttpOptions) {
    const { host, port, base } = parseBaseUrl(options.baseUrl);
    this.#host = host;
    this.#port = port;
    this.#base = base;
    this.#options = options;
  }

  post(path: string, body: Uint8Array, timeoutMs: number): Promise<HttpResponse> {
    const { Request, setTimer, clearTimer } = this.#options;
    return new Promise<HttpResponse>((resolve, reject) => {
      let status = 0;
      let settled = false;
      let request: ModdableRequest | undefined;
      const finish = (error: TransportError | undefined, response?: HttpResponse) => {
        if (settled) return;
        settled = true;
        clearTimer(timer);
        if (error) {
          try {
            request?.close();
          } catch {
            // already closed by the http module
          }
          reject(error);
        } else resolve(present(response, 'HTTP response'));
      };
      const timer = setTimer(() => finish(new TransportError(`no complete answer from ${this.#host} within ${timeoutMs} ms`)), timeoutMs);
      try {
        request = new Request({
          host: this.#host,
          port: this.#port,
          path: this.#base + path,
          method: 'POST',
          headers: ['content-type', 'application/octet-stream'],
          body: body.slice().buffer as ArrayBuffer,
          response: ArrayBuffer,
        });
      } catch (e) {
        finish(new TransportError(`cannot open a connection to ${this.#host}:${this.#port}: ${(e as Error).message}`));
        return;
      }
      request.callback = (message: number, value1?: unknown) => {
        if (message === STATUS) status = Number(value1);
        else if (message === COMPLETE) {
          const bytes = value1 instanceof ArrayBuffer ? new Uint8Array(value1) : new Uint8Array(0);
          if (status < 100 || status > 599) finish(new TransportError(`answer without a valid HTTP status (${status})`));
          else if (bytes.length > MOST_RESPONSE_BYTES) finish(new TransportError(`answer of ${bytes.length} bytes is too large`));
          else finish(undefined, { status, body: bytes });
        } else if (message < 0) finish(new TransportError(`connection to ${this.#host}:${this.#port} failed (${String(value1 ?? message)})`));
        return undefined;
      };
    });
  }
}

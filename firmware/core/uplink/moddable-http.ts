// HttpTransport over Moddable's `http` module and Wi-Fi events into the uplink: the device glue, kept
// platform-free by taking the Moddable classes and the timer as arguments (firmware/app passes
// `Request` from "http", `WiFi` from "wifi" and `Timer` from "timer").
import { type HttpResponse, type HttpTransport, TransportError } from './transport';

/** The parts of Moddable's `http` Request this transport uses. */
export interface ModdableRequest {
  callback?: (message: number, value1?: unknown, value2?: unknown) => void;
  close(): void;
}
export type ModdableRequestClass = new (options: {
  host: string;
  port: number;
  path: string;
  method: string;
  headers: (string | number)[];
  body: ArrayBuffer;
  response: typeof ArrayBuffer;
}) => ModdableRequest;

export interface TimerLike {
  set(callback: () => void, ms: number): unknown;
  clear(id: unknown): void;
}

// Moddable http callback messages.
const MSG_ERROR = -2;
const MSG_STATUS = 1;
const MSG_COMPLETE = 5;

export class ModdableHttpTransport implements HttpTransport {
  readonly #Request: ModdableRequestClass;
  readonly #timer: TimerLike;
  readonly #host: string;
  readonly #port: number;

  constructor(options: { Request: ModdableRequestClass; timer: TimerLike; baseUrl: string }) {
    const m = /^http:\/\/([^/:]+)(?::(\d+))?\/?$/.exec(options.baseUrl);
    if (!m) throw new TypeError(`settlement URL must be http://host[:port], not "${options.baseUrl}"`);
    this.#Request = options.Request;
    this.#timer = options.timer;
    this.#host = m[1]!;
    this.#port = m[2] ? Number(m[2]) : 80;
  }

  post(path: string, body: Uint8Array, timeoutMs: number): Promise<HttpResponse> {
    return new Promise((resolve, reject) => {
      let status = 0;
      let done = false;
      const copy = body.slice();
      let request: ModdableRequest | undefined;
      const finish = (error: string | undefined, response?: HttpResponse) => {
        if (done) return;
        done = true;
        this.#timer.clear(timer);
        try {
          request?.close();
        } catch {
          // Already closed by the module.
        }
        if (error) reject(new TransportError(error));
        else resolve(response!);
      };
      const timer = this.#timer.set(() => finish(`no complete answer within ${timeoutMs} ms`), timeoutMs);
      try {
        request = new this.#Request({
          host: this.#host,
          port: this.#port,
          path,
          method: 'POST',
          headers: ['content-type', 'application/octet-stream', 'content-length', copy.length],
          body: copy.buffer as ArrayBuffer,
          response: ArrayBuffer,
        });
      } catch (e) {
        finish(`request failed: ${(e as Error).message}`);
        return;
      }
      request.callback = (message, value1) => {
        if (message === MSG_ERROR) finish('connection failed or dropped');
        else if (message === MSG_STATUS) status = Number(value1);
        else if (message === MSG_COMPLETE) {
          const bytes = value1 instanceof ArrayBuffer ? new Uint8Array(value1) : new Uint8Array(0);
          finish(undefined, { status, body: bytes });
        }
      };
    });
  }
}

/** Moddable `wifi` callback messages mapped onto the uplink's network events. */
export function wifiToUplink(uplink: { networkUp(): Promise<void>; networkDown(): void }): (message: string) => void {
  return (message) => {
    if (message === 'gotIP') void uplink.networkUp();
    else if (message === 'lostIP' || message === 'disconnect') uplink.networkDown();
  };
}

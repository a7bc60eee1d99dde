// How the uplink reaches the settlement service. The device implements it over Moddable's `http`
// module, the host over Node's http client (host/net/http-node.ts); tests may wrap either.
import { TaplineError } from '../../base/errors';

export interface HttpResponse {
  status: number;
  body: Uint8Array;
}

export interface HttpTransport {
  /**
   * POSTs `body` (application/octet-stream) to `path` on the settlement service. Resolves with any
   * complete HTTP response (including 4xx/5xx); rejects with TransportError when the connection fails,
   * is dropped, or `timeoutMs` passes before the whole body has arrived.
   */
  post(path: string, body: Uint8Array, timeoutMs: number): Promise<HttpResponse>;
}

export class TransportError extends TaplineError {
  override readonly name: string = 'TransportError';
}

/** The one route the terminal uses: body = batch bytes, 200 = batch response bytes. */
export const BATCH_PATH = '/v1/batches';

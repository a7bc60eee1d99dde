// HttpTransport over Node's http client: what the simulator and the tests use to reach the settlement
// service. A dropped connection, a timeout or a body shorter than announced is a TransportError.
import { request } from 'node:http';
import { type HttpResponse, type HttpTransport, TransportError } from '../../firmware/core/uplink/transport';

export class NodeHttpTransport implements HttpTransport {
  readonly #base: URL;
  readonly #maxBody: number;

  constructor(options: { baseUrl: string; maxBodyBytes?: number }) {
    this.#base = new URL(options.baseUrl);
    if (this.#base.protocol !== 'http:') throw new TypeError(`only http: URLs are supported, not ${this.#base.protocol}`);
    this.#maxBody = options.maxBodyBytes ?? 1 << 20;
  }

  post(path: string, body: Uint8Array, timeoutMs: number): Promise<HttpResponse> {
    const url = new URL(path, this.#base);
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (message: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.destroy();
        reject(new TransportError(message));
      };
      const timer = setTimeout(() => fail(`no complete answer within ${timeoutMs} ms`), timeoutMs);
      const req = request(
        url,
        {
          method: 'POST',
          headers: { 'content-type': 'application/octet-stream', 'content-length': body.length, connection: 'close' },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let length = 0;
          res.on('data', (chunk: Buffer) => {
            length += chunk.length;
            if (length > this.#maxBody) fail(`answer longer than ${this.#maxBody} bytes`);
            else chunks.push(chunk);
          });
          res.on('aborted', () => fail('connection dropped mid-answer'));
          res.on('error', (e) => fail(`answer failed: ${e.message}`));
          res.on('end', () => {
            if (!res.complete) return fail('connection dropped mid-answer');
            const announced = Number(res.headers['content-length'] ?? length);
            if (announced !== length) return fail(`answer truncated: ${length} of ${announced} bytes`);
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            resolve({ status: res.statusCode ?? 0, body: new Uint8Array(Buffer.concat(chunks)) });
          });
        },
      );
      req.on('error', (e) => fail(`connection failed: ${e.message}`));
      req.end(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
    });
  }
}

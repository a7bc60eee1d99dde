// Moddable's http Request, played over a real loopback connection, for the device adapters' tests.
import { request as nodeRequest } from 'node:http';
import type { ModdableRequest } from '../firmware/app/device-http';

/**
 * Moddable's `http` Request protocol (callback messages 1 status, 2 header, 3 headers complete,
 * 5 complete with an ArrayBuffer, -2 error) driven by a real HTTP exchange over loopback.
 */
export class LoopbackRequest implements ModdableRequest {
  static last: LoopbackRequest | undefined;
  callback: (message: number, value1?: unknown, value2?: unknown) => unknown = () => undefined;
  closed = false;
  readonly options: { host: string; port: number; path: string; method: string; headers: string[]; body: ArrayBuffer };

  constructor(options: LoopbackRequest['options'] & { response: typeof ArrayBuffer }) {
    this.options = options;
    LoopbackRequest.last = this;
    const headers: Record<string, string> = {};
    for (let i = 0; i < options.headers.length; i += 2) headers[options.headers[i]!] = options.headers[i + 1]!;
    const req = nodeRequest({ host: options.host, port: options.port, path: options.path, method: options.method, headers }, (res) => {
      this.callback(1, res.statusCode);
      for (const [name, value] of Object.entries(res.headers)) this.callback(2, name, String(value));
      this.callback(3);
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (this.closed) return;
        const all = Buffer.concat(chunks);
        this.callback(5, all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength));
      });
    });
    req.on('error', (e) => {
      if (!this.closed) this.callback(-2, e.message);
    });
    req.end(Buffer.from(options.body));
  }

  close(): void {
    this.closed = true;
  }
}


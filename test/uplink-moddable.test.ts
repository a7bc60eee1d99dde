import { expect } from 'chai';
import { request } from 'node:http';
import { p256 } from '@noble/curves/nist.js';
import { ModdableHttpTransport, type ModdableRequest, wifiToUplink } from '../firmware/core/uplink/moddable-http';
import { TransportError } from '../firmware/core/uplink/transport';
import { decodeBatchResponse, encodeBatch } from '../firmware/core/uplink/wire';
import { TestService } from './uplink-service';

// A stand-in for Moddable's `http` Request, speaking its callback protocol over a real socket:
// 1 = status, 5 = response complete (ArrayBuffer), -2 = error.
class NodeBackedRequest implements ModdableRequest {
  callback?: (message: number, value1?: unknown) => void;
  #req;
  constructor(o: { host: string; port: number; path: string; method: string; headers: (string | number)[]; body: ArrayBuffer }) {
    const headers: Record<string, string> = {};
    for (let i = 0; i < o.headers.length; i += 2) headers[String(o.headers[i])] = String(o.headers[i + 1]);
    this.#req = request({ host: o.host, port: o.port, path: o.path, method: o.method, headers }, (res) => {
      this.callback?.(1, res.statusCode);
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('aborted', () => this.callback?.(-2));
      res.on('end', () => {
        if (!res.complete) return this.callback?.(-2);
        const b = Buffer.concat(chunks);
        this.callback?.(5, b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
      });
    });
    this.#req.on('error', () => this.callback?.(-2));
    this.#req.end(Buffer.from(o.body));
  }
  close(): void {
    this.#req.destroy();
  }
}

const timer = { set: (cb: () => void, ms: number) => setTimeout(cb, ms), clear: (id: unknown) => clearTimeout(id as NodeJS.Timeout) };

describe('uplink device adapter (Moddable http and wifi)', () => {
  const device = p256.utils.randomSecretKey();
  let service: TestService;
  let url: string;
  beforeEach(async () => {
    service = new TestService(p256.getPublicKey(device, true));
    url = await service.listen();
  });
  afterEach(() => service.close());

  it('posts a batch and returns the answer; a drop or a hang is a TransportError', async function () {
    this.timeout(10_000);
    const transport = new ModdableHttpTransport({ Request: NodeBackedRequest, timer, baseUrl: url });
    const batch = encodeBatch(
      { terminalId: 'T-9', nonce: new Uint8Array(16), denyListVersion: 0, keyringVersion: 0, configVersion: 0, items: [{ seq: 1, receipt: new Uint8Array([1]) }] },
      device,
    );
    const ok = await transport.post('/v1/batches', batch, 2000);
    expect(ok.status).to.equal(200);
    expect(decodeBatchResponse(ok.body).ackedUpTo).to.equal(1);
    service.script = ['drop', 'hang', '500'];
    let error = await transport.post('/v1/batches', batch, 2000).catch((e) => e);
    expect(error).to.be.instanceOf(TransportError);
    error = await transport.post('/v1/batches', batch, 200).catch((e) => e);
    expect(error).to.be.instanceOf(TransportError);
    expect((error as Error).message).to.match(/within 200 ms/);
    expect((await transport.post('/v1/batches', batch, 2000)).status).to.equal(500);
    expect(() => new ModdableHttpTransport({ Request: NodeBackedRequest, timer, baseUrl: 'https://x' })).to.throw(TypeError);
  });

  it('maps Wi-Fi messages onto network events', () => {
    const events: string[] = [];
    const on = wifiToUplink({ networkUp: async () => void events.push('up'), networkDown: () => void events.push('down') });
    for (const m of ['connect', 'gotIP', 'lostIP', 'gotIP', 'disconnect']) on(m);
    expect(events).to.deep.equal(['up', 'down', 'up', 'down']);
  });
});

// Slow and greedy clients on loopback: a body that never comes, headers that trickle, more connections
// than allowed. Each must be cut by the service, not held open.
import { expect } from 'chai';
import { connect, type Socket } from 'node:net';
import { startService, type RunningService } from '../host/settlement/service';
import { sqliteBackend, World, type Backend } from './settlement-fixtures';

/** Resolves with what the server sent once it closed the connection, or 'still open' after `waitMs`. */
function closedWithin(socket: Socket, waitMs: number): Promise<string> {
  return new Promise((resolve) => {
    let received = '';
    const timer = setTimeout(() => resolve('still open'), waitMs);
    socket.on('data', (d) => (received += d.toString('latin1')));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(received === '' ? 'closed' : received.split('\r\n')[0]!);
    });
    socket.on('error', () => undefined);
  });
}

function open(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect({ host: hostname, port: Number(port) }, () => resolve(s));
    s.on('error', reject);
  });
}

describe('settlement service: slow clients are cut, connections are bounded', function () {
  this.timeout(20_000);
  let backend: Backend;
  let world: World;
  let service: RunningService;
  const limits = { headersMs: 400, requestMs: 800, keepAliveMs: 400, idleMs: 3_000, maxConnections: 4, checkEveryMs: 100 };

  before(async () => {
    backend = await sqliteBackend();
    world = await World.create();
    service = await startService({ keys: world.keys.dir, database: await backend.fresh(), port: 0, limits });
  });
  after(async () => {
    await service?.close();
    await backend?.stop();
  });

  it('closes a connection that sends Content-Length and never the body', async () => {
    const s = await open(service.url);
    s.write('POST /v1/batches HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n');
    expect(await closedWithin(s, 5_000)).to.match(/^(HTTP\/1\.1 408|closed)/);
  });

  it('closes a connection whose headers trickle in a byte at a time', async () => {
    const s = await open(service.url);
    s.write('GET /v1/time HTTP/1.1\r\nHost: x\r\n');
    const drip = setInterval(() => s.writable && s.write('X'), 50);
    try {
      expect(await closedWithin(s, 5_000)).to.match(/^(HTTP\/1\.1 408|closed)/);
    } finally {
      clearInterval(drip);
    }
  });

  it('the operator token: only the exact token passes (compared as fixed-length digests)', async () => {
    const tries = [world.token, world.token.slice(0, -1), world.token + '0', '', world.token.toUpperCase()];
    const statuses = [];
    for (const t of tries) {
      const res = await fetch(`${service.url}/v1/accounts/advance`, { headers: { authorization: `Bearer ${t}` } });
      statuses.push(res.status);
    }
    expect(statuses).to.deep.equal([200, 401, 401, 401, world.token === world.token.toUpperCase() ? 200 : 401]);
  });

  it('refuses connections beyond the limit and still answers within it', async () => {
    const held = await Promise.all(Array.from({ length: limits.maxConnections }, () => open(service.url)));
    try {
      const extra = await open(service.url);
      expect(await closedWithin(extra, 2_000)).to.equal('closed');
    } finally {
      for (const s of held) s.destroy();
    }
    // Room again once those are gone.
    await new Promise((r) => setTimeout(r, 100));
    const res = await fetch(`${service.url}/v1/time`);
    expect(res.status).to.equal(200);
  });
});

import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import { LoopbackRequest } from './device-loopback';
import type { AddressInfo } from 'node:net';
import { utf8Encode } from '../firmware/base/bytes';
import { TransportError } from '../firmware/core/uplink/transport';
import { TicksClock } from '../firmware/app/device-clock';
import { randomBytesFrom31Bits } from '../firmware/app/device-random';
import { ModdableHttpTransport, parseBaseUrl } from '../firmware/app/device-http';
import { WifiLink, type WifiMessage } from '../firmware/app/device-wifi';
import { checkJournalPartition, PartitionAdapter, PartitionError, readProvisioningText } from '../firmware/app/device-storage';
import { buildDevice, MODDABLE_EXTERNALS } from '../host/build/device';
import { RamFlash } from '../host/flash/ram-flash';

/** Pending timers, run by hand: the tests decide when time passes. */
class Timers {
  #next = 1;
  pending = new Map<number, { callback: () => void; ms: number }>();
  set = (callback: () => void, ms: number): number => {
    const id = this.#next++;
    this.pending.set(id, { callback, ms });
    return id;
  };
  clear = (id: unknown): void => void this.pending.delete(id as number);
  fireAll(): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const t of all) t.callback();
  }
}

describe('device adapters: clock', () => {
  it('stays monotonic when Time.ticks wraps at 2^32', () => {
    let raw = 0xffffff00;
    const clock = new TicksClock({ ticks: () => raw, setTimer: () => undefined });
    expect(clock.now()).to.equal(0);
    raw = 0xffffffff;
    expect(clock.now()).to.equal(0xff);
    raw = 0x10; // wrapped
    expect(clock.now()).to.equal(0xff + 0x11);
    // a counter read as a signed 32-bit integer crosses from positive to negative
    raw = 0x7ffffff0;
    const signed = new TicksClock({ ticks: () => raw, setTimer: () => undefined });
    raw = 0x80000010 | 0;
    expect(raw).to.be.lessThan(0);
    expect(signed.now()).to.equal(0x20);
  });

  it('knows wall time only once told, sets the system clock, refuses nonsense', () => {
    let raw = 5000;
    const set: number[] = [];
    const clock = new TicksClock({ ticks: () => raw, setTimer: () => undefined, setSystemTime: (s) => set.push(s) });
    expect(clock.wallTime()).to.equal(undefined);
    clock.setWallTime(1_790_000_000);
    expect(set).to.deep.equal([1_790_000_000]);
    raw += 61_000;
    expect(clock.wallTime()).to.equal(1_790_000_061);
    expect(() => clock.setWallTime(12)).to.throw(RangeError);
    expect(() => clock.setWallTime(Number.NaN)).to.throw(RangeError);
  });

  it('sleeps on the timer', async () => {
    const timers = new Timers();
    const clock = new TicksClock({ ticks: () => 0, setTimer: timers.set });
    let woke = false;
    const sleeping = clock.sleep(250).then(() => (woke = true));
    expect([...timers.pending.values()].map((t) => t.ms)).to.deep.equal([250]);
    await Promise.resolve();
    expect(woke).to.equal(false);
    timers.fireAll();
    await sleeping;
    expect(woke).to.equal(true);
  });
});

describe('device adapters: hardware random bytes', () => {
  it('takes the low three bytes of each 31-bit hardware read', () => {
    const reads = [0x12345678, 0x00abcdef, 0x7ffffffe];
    let i = 0;
    const random = randomBytesFrom31Bits(() => reads[i++]! / 0x7fffffff);
    expect([...random(7)]).to.deep.equal([0x78, 0x56, 0x34, 0xef, 0xcd, 0xab, 0xfe]);
    expect(i).to.equal(3);
    expect(random(0).length).to.equal(0);
  });

  it('refuses a bad length or a source out of range', () => {
    expect(() => randomBytesFrom31Bits(Math.random)(-1)).to.throw(RangeError);
    expect(() => randomBytesFrom31Bits(() => 1)(4)).to.throw(RangeError, /out of range/);
    expect(() => randomBytesFrom31Bits(() => Number.NaN)(4)).to.throw(RangeError);
  });

  it('spreads bytes evenly from a uniform source', () => {
    const counts = new Array<number>(256).fill(0);
    const bytes = randomBytesFrom31Bits(Math.random)(256 * 400);
    for (const b of bytes) counts[b]!++;
    // 400 expected per value; a broken extraction (e.g. always the top byte of 31 bits) fails this.
    expect(Math.min(...counts)).to.be.greaterThan(250);
    expect(Math.max(...counts)).to.be.lessThan(550);
  });
});

describe('device adapters: flash partitions', () => {
  it('reads the provisioning file up to the erased flash, across chunks', () => {
    const flash = new RamFlash({ blocks: 4 });
    const text = JSON.stringify({ terminalId: 'T-1', note: 'ünïcode '.repeat(200) });
    flash.write(utf8Encode(text), 0);
    expect(readProvisioningText(new PartitionAdapter(flash), 100)).to.equal(text);
  });

  it('names a blank provision partition', () => {
    expect(() => readProvisioningText(new PartitionAdapter(new RamFlash({ blocks: 1 })))).to.throw(PartitionError, /blank/);
  });

  it('checks the journal partition and writes any view as bytes', () => {
    const flash = new RamFlash({ blocks: 16 });
    const part = new PartitionAdapter(flash);
    expect(checkJournalPartition(part)).to.deep.equal({ size: 16 * 4096, blocks: 16 });
    expect(() => checkJournalPartition(new PartitionAdapter(new RamFlash({ blocks: 8 })))).to.throw(PartitionError, /smaller/);
    const view = new DataView(Uint8Array.of(9, 1, 2, 3, 9).buffer, 1, 3);
    part.write(view, 10);
    expect([...new Uint8Array(part.read(3, 10))]).to.deep.equal([1, 2, 3]);
    part.eraseBlock(0);
    expect([...new Uint8Array(part.read(3, 10))]).to.deep.equal([0xff, 0xff, 0xff]);
  });
});

describe('device adapters: HTTP transport over a loopback server', () => {
  let server: Server;
  let port = 0;
  const seen: { path: string; type: string; body: Buffer }[] = [];

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        seen.push({ path: req.url ?? '', type: req.headers['content-type'] ?? '', body });
        if (req.url === '/base/v1/batches') {
          res.writeHead(200, { 'content-type': 'application/octet-stream' });
          res.end(Buffer.concat([Buffer.from('ack:'), body]));
        } else if (req.url === '/base/slow') {
          setTimeout(() => res.end('late'), 500);
        } else {
          res.writeHead(409, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: 'conflict', message: 'no' }));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const transport = (timers = { set: (cb: () => void, ms: number) => setTimeout(cb, ms), clear: (t: unknown) => clearTimeout(t as NodeJS.Timeout) }) =>
    new ModdableHttpTransport({ baseUrl: `http://127.0.0.1:${port}/base`, Request: LoopbackRequest, setTimer: timers.set, clearTimer: timers.clear });

  it('POSTs the bytes as application/octet-stream and returns the answer', async () => {
    const r = await transport().post('/v1/batches', Uint8Array.of(1, 2, 255), 2000);
    expect(r.status).to.equal(200);
    expect(Buffer.from(r.body).toString('latin1')).to.equal('ack:\x01\x02\xff');
    expect(seen.at(-1)).to.deep.include({ path: '/base/v1/batches', type: 'application/octet-stream' });
  });

  it('hands back 4xx answers with their body', async () => {
    const r = await transport().post('/v1/other', Uint8Array.of(1), 2000);
    expect(r.status).to.equal(409);
    expect(JSON.parse(Buffer.from(r.body).toString())).to.deep.equal({ error: 'conflict', message: 'no' });
  });

  it('rejects with TransportError on timeout, and closes the request', async () => {
    const p = transport().post('/slow', Uint8Array.of(1), 50);
    const request = LoopbackRequest.last!;
    let error: unknown;
    await p.catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(TransportError);
    expect((error as Error).message).to.match(/within 50 ms/);
    expect(request.closed).to.equal(true);
  });

  it('rejects with TransportError when nothing listens', async () => {
    const t = new ModdableHttpTransport({
      baseUrl: 'http://127.0.0.1:1', Request: LoopbackRequest,
      setTimer: (cb, ms) => setTimeout(cb, ms), clearTimer: (t) => clearTimeout(t as NodeJS.Timeout),
    });
    let error: unknown;
    await t.post('/v1/batches', Uint8Array.of(1), 2000).catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(TransportError);
    expect((error as Error).message).to.match(/failed/);
  });

  it('parses the settlement URL and refuses https and junk', () => {
    expect(parseBaseUrl('http://10.0.0.2:8080/api/')).to.deep.equal({ host: '10.0.0.2', port: 8080, base: '/api' });
    expect(parseBaseUrl('http://settle.local')).to.deep.equal({ host: 'settle.local', port: 80, base: '' });
    expect(() => parseBaseUrl('https://x.example')).to.throw(TransportError, /https is not supported/);
    expect(() => parseBaseUrl('http://x:99999')).to.throw(TransportError, /port/);
    expect(() => parseBaseUrl('ftp://x')).to.throw(TransportError);
  });
});

describe('device adapters: Wi-Fi link', () => {
  class FakeWiFi {
    static made: FakeWiFi[] = [];
    closed = false;
    constructor(readonly options: { ssid: string; password?: string }, readonly callback: (m: WifiMessage) => void) {
      FakeWiFi.made.push(this);
    }
    close(): void {
      this.closed = true;
    }
  }

  it('connects, reports changes, and reconnects with a doubling delay', () => {
    FakeWiFi.made = [];
    const timers = new Timers();
    const changes: boolean[] = [];
    const link = new WifiLink({
      ssid: 'shop', password: '', WiFi: FakeWiFi, setTimer: timers.set, clearTimer: timers.clear,
      onChange: (up) => changes.push(up), firstRetryMs: 1000, mostRetryMs: 3000,
    });
    link.start();
    expect(FakeWiFi.made[0]!.options).to.deep.equal({ ssid: 'shop', password: undefined });
    FakeWiFi.made[0]!.callback('connect');
    FakeWiFi.made[0]!.callback('gotIP');
    expect(link.online).to.equal(true);
    FakeWiFi.made[0]!.callback('disconnect');
    expect(link.online).to.equal(false);
    expect(FakeWiFi.made[0]!.closed).to.equal(true);
    expect([...timers.pending.values()].map((t) => t.ms)).to.deep.equal([1000]);
    timers.fireAll();
    expect(FakeWiFi.made.length).to.equal(2);
    FakeWiFi.made[1]!.callback('disconnect');
    expect([...timers.pending.values()].map((t) => t.ms)).to.deep.equal([2000]);
    timers.fireAll();
    FakeWiFi.made[2]!.callback('disconnect');
    expect([...timers.pending.values()].map((t) => t.ms)).to.deep.equal([3000]);
    timers.fireAll();
    FakeWiFi.made[3]!.callback('gotIP');
    expect(link.retryDelay).to.equal(1000);
    expect(changes).to.deep.equal([true, false, true]);
    link.close();
    expect(FakeWiFi.made[3]!.closed).to.equal(true);
    expect(changes.at(-1)).to.equal(false);
    FakeWiFi.made[3]!.callback('gotIP');
    expect(link.online).to.equal(false);
    expect(link.attempts).to.equal(4);
  });
});

describe('device bundle', () => {
  it('builds one ES module with no Node imports and the exports main.ts uses', async () => {
    const out = await buildDevice({ outfile: 'build/device/test-tapline.js' });
    const { readFileSync } = await import('node:fs');
    const code = readFileSync(out.path, 'utf8');
    expect(out.imports.filter((i) => !MODDABLE_EXTERNALS.some((e) => (e.endsWith('*') ? i.startsWith(e.slice(0, -1)) : i === e)))).to.deep.equal([]);
    expect(code).not.to.match(/\brequire\(|from ["']node:/);
    const exported = /export \{([^}]*)\};?\s*$/.exec(code)![1]!.split(',').map((s) => s.trim());
    const main = readFileSync('firmware/app/main.ts', 'utf8');
    const used = /import \{([^}]*)\} from '\.\/bundle'/.exec(main)![1]!.split(',').map((s) => s.trim()).filter(Boolean);
    expect(exported).to.include.members(used);
    expect(code).to.include('"esp32-devkitc"');
  });
});

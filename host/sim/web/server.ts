// `npm start -- --web`: the simulated terminal in a browser. The same World as the terminal UI (firmware
// on the XS engine, simulated board, local settlement service) runs here; a page on loopback draws the
// OLED from the simulated panel's pixels and sends keys, taps and switches back over a WebSocket.
//
// Page -> simulator: { op: 'key', key } | { op: 'tap', wallet } | { op: 'remove' }
//                    | { op: 'network', up } | { op: 'power', on }
// Simulator -> page: { type: 'state', ... } (whole state, on connect and after every change)
//                    | { type: 'log', entries } (new effect-log lines)
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { WebSocketServer, type WebSocket } from 'ws';
import type { SimOutput } from '../device';
import { DEMO_WALLETS, type World } from '../world';

export interface WebOptions {
  world: World;
  /** 127.0.0.1 unless told: the page drives a terminal and its wallets, so it stays on this machine. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Simulated milliseconds per tick of the firmware's loop (real time by default). */
  tickMs?: number;
}

export interface LogEntry {
  /** ISO 8601 wall time. */
  at: string;
  kind: 'decision' | 'log' | 'led' | 'beep' | 'power' | 'action' | 'error';
  text: string;
  level?: string;
}

export interface TerminalState {
  type: 'state';
  mode: 'merchant' | 'transit';
  /** The panel's 1024 bytes (SSD1306 page layout), hex. */
  screen: string;
  /** What the screen means, as text (the firmware's display effect). */
  lines: string[];
  led: string;
  beep: string;
  network: boolean;
  powered: boolean;
  /** The wallet in the reader's field, if any. */
  inField: string | null;
  wallets: { name: string; profile: string; balance: number; counter: number; walletId: string; cloneOf?: string }[];
  officeUrl: string;
}

const FILES: Record<string, [string, string]> = {
  '/': ['page.html', 'text/html; charset=utf-8'],
  '/terminal.js': ['terminal.js', 'text/javascript; charset=utf-8'],
  '/terminal.css': ['terminal.css', 'text/css; charset=utf-8'],
};
const HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
};
const KEYS = /^[0-9A-D*#]$/;
const LOG_KEEP = 200;
const LOCAL_NAMES = new Set(['127.0.0.1', 'localhost', '[::1]']);

export class WebTerminal {
  readonly world: World;
  readonly #http: Server;
  readonly #wss: WebSocketServer;
  #queue: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #ticking = false;
  #led = 'off';
  #beep = '';
  #lines: string[] = [];
  #inField: string | null = null;
  readonly log: LogEntry[] = [];
  #url = '';

  private constructor(world: World) {
    this.world = world;
    this.#http = createServer((req, res) => this.#serve(req, res));
    this.#wss = new WebSocketServer({ server: this.#http, path: '/ws', maxPayload: 4096 });
    this.#wss.on('connection', (ws, req) => this.#connected(ws, req));
  }

  /** Powers the terminal on and serves the page; resolves once it listens. */
  static async start(options: WebOptions): Promise<WebTerminal> {
    const web = new WebTerminal(options.world);
    await new Promise<void>((done, fail) => {
      web.#http.once('error', fail);
      web.#http.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => done());
    });
    const address = web.#http.address() as { address: string; port: number };
    web.#url = `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`;
    web.#enqueue(() => web.world.powerOn(Math.floor(Date.now() / 1000)));
    const tick = options.tickMs ?? 100;
    web.#timer = setInterval(() => {
      if (web.#ticking) return;
      web.#ticking = true;
      web.#enqueue(() => web.world.run(tick)).finally(() => (web.#ticking = false));
    }, tick);
    return web;
  }

  get url(): string {
    return this.#url;
  }

  /** Resolves when every action queued so far has run. */
  idle(): Promise<unknown> {
    return this.#queue;
  }

  /** Runs a step of the simulation in the queue the page's actions use, then tells every page. */
  act(work: () => Promise<SimOutput[]>): Promise<void> {
    return this.#enqueue(work);
  }

  state(): TerminalState {
    return {
      type: 'state',
      mode: this.world.mode,
      screen: this.world.lastScreen,
      lines: this.#lines,
      led: this.#led,
      beep: this.#beep,
      network: this.world.networkUp,
      powered: this.world.powered,
      inField: this.#inField,
      wallets: DEMO_WALLETS.map((w) => {
        const e = this.world.wallets.get(w.name)!;
        return { name: w.name, profile: w.profile, balance: e.balance, counter: e.counter, walletId: e.info.walletId, ...(w.cloneOf ? { cloneOf: w.cloneOf } : {}) };
      }),
      officeUrl: this.world.service.url + '/office',
    };
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#queue;
    for (const ws of this.#wss.clients) ws.terminate();
    await new Promise<void>((done) => this.#wss.close(() => done()));
    await new Promise<void>((done) => this.#http.close(() => done()));
  }

  #enqueue(work: () => Promise<SimOutput[]>): Promise<void> {
    const run = this.#queue.then(async () => {
      const before = this.world.lastScreen;
      const entries = this.#take(await work());
      if (entries.length) this.#broadcast({ type: 'log', entries });
      if (entries.length || before !== this.world.lastScreen) this.#broadcast(this.state());
    });
    this.#queue = run.catch((e: unknown) => {
      this.#broadcast({ type: 'log', entries: [this.#entry('error', e instanceof Error ? e.message : String(e))] });
    });
    return this.#queue as Promise<void>;
  }

  #take(outputs: SimOutput[]): LogEntry[] {
    const entries: LogEntry[] = [];
    for (const o of outputs) {
      if (o.type === 'display') this.#lines = o.lines;
      else if (o.type === 'led') {
        this.#led = o.color;
        entries.push(this.#entry('led', `LED ${o.color}`));
      } else if (o.type === 'beep') {
        this.#beep = o.pattern;
        entries.push(this.#entry('beep', `buzzer ${o.pattern}`));
      } else if (o.type === 'decision') {
        const what = o.approved ? `APPROVED ${o.amount}` : `DECLINED ${o.amount}: ${o.text ?? o.reason ?? ''}`;
        entries.push(this.#entry('decision', `${what}${o.walletId ? ` wallet ${o.walletId}` : ''}`));
      } else if (o.type === 'log' && o.level !== 'debug') entries.push({ ...this.#entry('log', `${o.tag}: ${o.message}`), level: o.level });
      else if (o.type === 'power') entries.push(this.#entry('power', o.state === 'restart' ? `restarted after a bug: ${o.cause}` : 'power lost'));
    }
    this.log.push(...entries);
    if (this.log.length > LOG_KEEP) this.log.splice(0, this.log.length - LOG_KEEP);
    return entries;
  }

  #entry(kind: LogEntry['kind'], text: string): LogEntry {
    return { at: new Date().toISOString(), kind, text };
  }

  #broadcast(message: object): void {
    const text = JSON.stringify(message);
    for (const ws of this.#wss.clients) if (ws.readyState === ws.OPEN) ws.send(text);
  }

  #connected(ws: WebSocket, req: IncomingMessage): void {
    // A page served from elsewhere must not drive the terminal: only this server's own origin, under a
    // name of this machine (a rebound DNS name would otherwise pass as same-origin).
    const host = req.headers.host ?? '';
    const name = host.replace(/:\d+$/, '');
    if (req.headers.origin !== `http://${host}` || !(LOCAL_NAMES.has(name) || this.#url === `http://${host}`)) {
      ws.close(1008, 'origin not allowed');
      return;
    }
    ws.send(JSON.stringify(this.state()));
    ws.send(JSON.stringify({ type: 'log', entries: this.log.slice(-50) }));
    ws.on('message', (data) => {
      let m: { op?: unknown; key?: unknown; wallet?: unknown; up?: unknown; on?: unknown };
      try {
        m = JSON.parse(String(data)) as typeof m;
      } catch {
        return;
      }
      this.#command(m);
    });
  }

  #command(m: { op?: unknown; key?: unknown; wallet?: unknown; up?: unknown; on?: unknown }): void {
    const note = (text: string) => this.log.push(this.#entry('action', text));
    if (m.op === 'key' && typeof m.key === 'string' && KEYS.test(m.key)) {
      void this.#enqueue(() => this.world.keys(m.key as string));
    } else if (m.op === 'tap' && typeof m.wallet === 'string' && this.world.wallets.has(m.wallet)) {
      const wallet = m.wallet;
      note(`tap ${wallet}`);
      this.#inField = wallet;
      void this.#enqueue(() => this.world.tap(wallet));
    } else if (m.op === 'remove') {
      note('card taken away');
      this.#inField = null;
      void this.#enqueue(() => this.world.remove());
    } else if (m.op === 'network' && typeof m.up === 'boolean') {
      const up = m.up;
      note(`network ${up ? 'up' : 'down'}`);
      void this.#enqueue(() => this.world.network(up));
    } else if (m.op === 'power' && typeof m.on === 'boolean') {
      if (m.on) {
        note('power on');
        // a devkit has no battery-backed clock: the time is unknown until the network says
        void this.#enqueue(() => (this.world.powered ? Promise.resolve([]) : this.world.powerOn(undefined)));
      } else {
        note('power cut');
        this.#inField = null;
        void this.#enqueue(async () => {
          await this.world.powerOff();
          return [{ type: 'power', state: 'lost' }];
        });
      }
    }
  }

  #serve(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0]!;
    const file = FILES[path];
    if (path === '/favicon.ico') {
      res.writeHead(204, HEADERS).end();
      return;
    }
    if (req.method !== 'GET' || !file) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', ...HEADERS }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-type': file[1], ...HEADERS }).end(readFileSync(new URL(`./${file[0]}`, import.meta.url)));
  }
}

/** `npm start -- --web`: serves the page until Ctrl-C. */
export async function runWeb(world: World, port: number, host?: string): Promise<number> {
  let web: WebTerminal;
  try {
    web = await WebTerminal.start({ world, port, host });
  } catch (e) {
    await world.close();
    const code = (e as NodeJS.ErrnoException).code;
    console.error(code === 'EADDRINUSE' ? `port ${port} is in use: pick another with --port` : `cannot serve the page: ${(e as Error).message}`);
    return 1;
  }
  console.log(`terminal in the browser: ${web.url}/`);
  console.log(`back office of its settlement service: ${world.service.url}/office (operator token in ${world.dir}/keys/admin.token)`);
  console.log('Ctrl-C to stop');
  await new Promise<void>((done) => {
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
  await web.close();
  await world.close();
  return 0;
}

// Shared by the settlement tests and benchmark: the two storage backends (a SQLite file; a real
// PostgreSQL server started from Debian's package), a world of keys + a running service on loopback,
// wallets (emulated secure elements, clonable) and terminals that tap with the payment core's own Tap
// and risk engine, then upload signed batches over HTTP and apply the signed updates they get back.
import type { MerchantPlace } from '../firmware/core/protocol/purpose';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { toHex } from '../firmware/base/bytes';
import { Keyring } from '../firmware/core/crypto/keyring';
import { Verifier } from '../firmware/core/crypto/verifier';
import { ALG_P256, type Alg, type VerifyFn } from '../firmware/core/crypto/verify';
import { VirtualClock, silentLog } from '../firmware/base/platform';
import type { DurableLog } from '../firmware/base/ports';
import { DEFAULT_RISK_CONFIG, type RiskConfig } from '../firmware/core/risk/config';
import { RiskEngine } from '../firmware/core/risk/engine';
import { Tap, type TapResult } from '../firmware/core/terminal/tap';
import type { TransitFares } from '../firmware/core/terminal/fare-tap';
import { InDoubt } from '../firmware/core/terminal/in-doubt';
import { RECORD_RECEIPT } from '../firmware/core/protocol/receipt';
import { encodeIntent } from '../firmware/core/protocol/intent';
import { RECORD_REFUND, RECORD_REFUND_INTENT } from '../firmware/core/protocol/refund';
import { publicKeyOf } from '../firmware/core/uplink/sign';
import { decodeUpdate, UPDATE_DENY_LIST, UPDATE_TIME, verifyUpdate } from '../firmware/core/uplink/updates';
import { decodeBatchResponse, encodeBatch, verifyBatchResponse, type BatchResponse } from '../firmware/core/uplink/wire';
import { Keystore } from '../host/cli/keystore';
import { PgServer } from '../host/settlement/pg-server';
import { startService, type RunningService } from '../host/settlement/service';
import { WalletEmulator, type WalletOptions } from '../host/wallet/emulator';
import { generateKeyPair, issueWallet, type Issuer } from '../host/wallet/issuer';
import { seededRandom } from '../host/wallet/random';
import type { RandomBytes } from '../firmware/base/platform';
import { present } from '../firmware/base/assert';

export const DAY = 86400;
export const unixNow = () => Math.floor(Date.now() / 1000);

// ---- backends ----

export interface Backend {
  name: 'sqlite' | 'postgres';
  /** A fresh, empty database location (a file path or a postgres:// URL). */
  fresh(): Promise<string>;
  stop(): Promise<void>;
}

export async function sqliteBackend(): Promise<Backend> {
  const dir = mkdtempSync(join(tmpdir(), 'tapline-sqlite-'));
  let n = 0;
  return {
    name: 'sqlite',
    fresh: async () => join(dir, `settlement-${++n}.db`),
    stop: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

export async function postgresBackend(options: { sharedBuffers?: string } = {}): Promise<Backend> {
  const server = await PgServer.start(options);
  let n = 0;
  return {
    name: 'postgres',
    fresh: async () => {
      const name = `tapline_${++n}`;
      const client = new pg.Client({ connectionString: server.url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return server.url.replace(/\/postgres$/, `/${name}`);
    },
    stop: () => server.stop(),
  };
}

export const BACKENDS: { name: Backend['name']; start: () => Promise<Backend> }[] = [
  { name: 'sqlite', start: sqliteBackend },
  { name: 'postgres', start: postgresBackend },
];

/**
 * The header and request deadlines of the service a World runs in this process. Its clients share the
 * server's event loop, and Node checks those deadlines in the loop's timer phase, before the poll phase
 * reads what arrived: a loop starved for 5 s (a loaded machine, 16 uploads at once) cut well-behaved
 * uploads whose bytes were already waiting (408, or ECONNRESET for a request not yet read). The
 * deadlines themselves are tested at their own values in test/settlement-limits.test.ts.
 */
const TEST_DEADLINES = { headersMs: 120_000, requestMs: 120_000 };

// ---- service processes ----

export interface Child {
  process: ChildProcess;
  url: string;
  /** Resolves when the service prints `text`. */
  waitFor(text: string): Promise<void>;
}

/** `tapline serve` in a child process; resolves once it listens. */
export function serve(keys: string, database: string, env: Record<string, string> = {}, nodeArgs: string[] = []): Promise<Child> {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'host/cli/main.ts', 'serve', '--keys', keys, '--db', database, '--port', '0'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) if (output.includes(w.text)) (waiters.splice(waiters.indexOf(w), 1), w.resolve());
  };
  child.stdout!.on('data', (d: Buffer) => ((output += d.toString()), check()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const waitFor = (text: string) =>
    new Promise<void>((resolve, reject) => {
      waiters.push({ text, resolve });
      child.once('exit', (code, signal) => reject(new Error(`service exited (${code ?? signal}) before "${text}": ${output}`)));
      check();
    });
  return waitFor('listening on ').then(() => ({ process: child, url: /listening on (\S+)/.exec(output)![1]!, waitFor }));
}

/** Stops a service the way an operator does (SIGTERM: it closes and exits, a CPU profile is written). */
export function stop(child: Child): Promise<void> {
  return new Promise((resolve) => {
    if (child.process.exitCode !== null || child.process.signalCode !== null) return resolve();
    child.process.once('exit', () => resolve());
    child.process.kill('SIGTERM');
  });
}

export function kill(child: Child): Promise<void> {
  return new Promise((resolve) => {
    if (child.process.exitCode !== null || child.process.signalCode !== null) return resolve();
    child.process.once('exit', () => resolve());
    child.process.kill('SIGKILL');
  });
}

// ---- a world: keys, a running service, wallets, terminals ----

export interface WorldOptions {
  database: string;
  seed?: string | number;
  issuerAlg?: Alg;
  rootAlg?: Alg;
}

export class World {
  readonly keys: Keystore;
  readonly random: RandomBytes;
  readonly issuer: Issuer;
  readonly rootPublicKey: Uint8Array;
  readonly rootAlg: Alg;
  readonly token: string;
  service: RunningService | undefined;
  /** A service running elsewhere (a child process) that url points at instead. */
  externalUrl: string | undefined;
  #dir: string;

  private constructor(dir: string, keys: Keystore, random: RandomBytes) {
    this.#dir = dir;
    this.keys = keys;
    this.random = random;
    this.issuer = keys.issuer();
    const root = keys.root();
    this.rootAlg = root.alg;
    this.rootPublicKey = root.publicKey;
    this.token = keys.adminToken();
  }

  /** Keys in a temp folder; with `database`, a service on loopback too. */
  static async create(options: Partial<WorldOptions> = {}): Promise<World> {
    const dir = mkdtempSync(join(tmpdir(), 'tapline-world-'));
    const random = seededRandom(options.seed ?? 'world');
    const keys = new Keystore(join(dir, 'keys'));
    const now = unixNow();
    keys.init({
      rootAlg: options.rootAlg ?? ALG_P256,
      issuerAlg: options.issuerAlg ?? ALG_P256,
      issuerId: 7,
      notBefore: now - 10 * DAY,
      notAfter: now + 365 * DAY,
      random,
    });
    const world = new World(dir, keys, random);
    if (options.database) await world.start(options.database);
    return world;
  }

  get dir(): string {
    return this.#dir;
  }

  get url(): string {
    if (this.externalUrl) return this.externalUrl;
    if (!this.service) throw new Error('no service running');
    return this.service.url;
  }

  async start(database: string, options: { clock?: () => number } = {}): Promise<RunningService> {
    this.service = await startService({ keys: this.keys.dir, database, port: 0, clock: options.clock, limits: TEST_DEADLINES });
    return this.service;
  }

  async close(): Promise<void> {
    await this.service?.close();
    this.service = undefined;
    rmSync(this.#dir, { recursive: true, force: true });
  }

  /** A wallet's secure-element state; `emulator()` makes a device from it, `clone` copies it. */
  wallet(options: { balance?: number; walletClass?: number; alg?: Alg; profile?: 'card' | 'phone' } = {}): WalletSpec {
    const now = unixNow();
    const issued = issueWallet(this.issuer, this.random, {
      alg: options.alg ?? ALG_P256,
      walletClass: options.walletClass ?? 2,
      notBefore: now - DAY,
      notAfter: now + 100 * DAY,
    });
    return new WalletSpec({
      profile: options.profile ?? 'phone',
      certificate: issued.certificate,
      secretKey: issued.keys.secretKey,
      balance: options.balance ?? 1_000_000,
      holderVerified: true,
    });
  }

  /** A terminal, registered with the service unless `register: false`. */
  async terminal(
    terminalId: string,
    options: { merchantId?: string; config?: RiskConfig; register?: boolean; seed?: string; deviceSecretKey?: Uint8Array; lastSeq?: number; wallTime?: number; verify?: VerifyFn; place?: MerchantPlace; registeredPlace?: MerchantPlace } = {},
  ): Promise<TestTerminal> {
    const terminal = new TestTerminal({
      terminalId,
      merchantId: options.merchantId ?? `M-${terminalId}`,
      config: options.config ?? DEFAULT_RISK_CONFIG,
      keys: this.keys.keyring().keys,
      random: seededRandom(options.seed ?? `terminal ${terminalId}`),
      rootAlg: this.rootAlg,
      rootPublicKey: this.rootPublicKey,
      deviceSecretKey: options.deviceSecretKey,
      lastSeq: options.lastSeq,
      wallTime: options.wallTime,
      verify: options.verify,
      place: options.place,
    });
    const registered = options.registeredPlace ?? options.place;
    if (options.register !== false) {
      const r = await this.admin('POST', '/v1/terminals', {
        terminalId,
        publicKey: toHex(terminal.devicePublicKey),
        merchantId: terminal.merchantId,
        maxTransaction: terminal.risk.config.maxTransaction,
        ...(registered ? { merchantCategory: registered.category, region: registered.region } : {}),
      });
      if (r.status !== 201 && r.status !== 200) throw new Error(`registration failed: ${r.status} ${JSON.stringify(r.body)}`);
    }
    return terminal;
  }

  async admin(method: 'GET' | 'POST', path: string, body?: unknown, token = this.token): Promise<{ status: number; body: any }> {
    const init: RequestInit = { method, headers: { authorization: `Bearer ${token}` } };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] = 'application/json';
    }
    let r: Response;
    try {
      r = await fetch(this.url + path, init);
    } catch (e) {
      // A kept-alive connection the service closed for idleness while this process was busy (making a
      // bench's batches, say) fails at once, before the service read anything: sent again, once.
      if ((e as { cause?: { code?: string } }).cause?.code !== 'UND_ERR_SOCKET') throw e;
      r = await fetch(this.url + path, init);
    }
    return { status: r.status, body: await r.json() };
  }

  async post(path: string, body: Uint8Array, contentType = 'application/octet-stream'): Promise<{ status: number; body: Uint8Array; json?: any }> {
    const r = await fetch(this.url + path, { method: 'POST', headers: { 'content-type': contentType }, body });
    const bytes = new Uint8Array(await r.arrayBuffer());
    const result: { status: number; body: Uint8Array; json?: any } = { status: r.status, body: bytes };
    if ((r.headers.get('content-type') ?? '').includes('json')) result.json = JSON.parse(Buffer.from(bytes).toString('utf8'));
    return result;
  }

  /** Counts of rows in each table: "nothing half written" is these staying put. */
  async counts(): Promise<Record<string, number>> {
    const tables = ['receipts', 'ledger', 'findings', 'deny_list', 'batches', 'losses', 'wallets'];
    return this.service!.settlement.db.read(async (tx) => {
      const out: Record<string, number> = {};
      for (const t of tables) out[t] = Number((await tx.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${t}`))!.n);
      return out;
    });
  }
}

export class WalletSpec {
  constructor(readonly options: WalletOptions) {}

  get walletId(): string {
    return this.emulator().info.walletId;
  }

  /** A secure element in this state. Two emulators of one spec are a wallet and its clone. */
  emulator(): WalletEmulator {
    return new WalletEmulator({ ...this.options });
  }
}

/** An in-memory journal: what the payment core appends; the receipts wait here until acknowledged. */
export class MemoryJournal implements DurableLog {
  records: { seq: number; type: number; payload: Uint8Array }[] = [];
  #seq: number;

  constructor(lastSeq = 0) {
    this.#seq = lastSeq;
  }

  async append(type: number, payload: Uint8Array): Promise<number> {
    // Intents and releases of payments stay on the terminal: the batch carries receipts and refunds.
    if (type !== RECORD_RECEIPT && type !== RECORD_REFUND && type !== RECORD_REFUND_INTENT) return this.#seq;
    this.records.push({ seq: ++this.#seq, type, payload });
    return this.#seq;
  }

  canAppend(): boolean {
    return true;
  }

  /** What the refund desk reads (firmware/core/refund/desk.ts). */
  replay(afterSeq: number, visit: (r: { seq: number; type: number; payload: Uint8Array }) => boolean | void): void {
    for (const r of this.records) if (r.seq > afterSeq && visit(r) === false) return;
  }
}

export interface UploadResult {
  status: number;
  response?: BatchResponse;
  error?: { error: string; message: string };
}

export class TestTerminal {
  readonly terminalId: string;
  readonly merchantId: string;
  readonly risk: RiskEngine;
  readonly verifier: Verifier;
  readonly journal: MemoryJournal;
  readonly clock: VirtualClock;
  readonly devicePublicKey: Uint8Array;
  readonly deviceSecretKey: Uint8Array;
  keyringVersion = 0;
  configVersion = 0;
  /** Payments in doubt (a cut after PAY); shared by every tap, so the next contact recalls them. */
  readonly inDoubt = new InDoubt();
  /** Batches carry the open intents (docs/PROTOCOL.md, "Open intents at upload"). */
  reportsIntents = false;
  #random: RandomBytes;
  #seq = 0;
  #rootAlg: Alg;
  #rootPublicKey: Uint8Array;
  #place: MerchantPlace | undefined;

  constructor(o: {
    terminalId: string;
    merchantId: string;
    config: RiskConfig;
    keys: import('../firmware/core/crypto/keyring').IssuerKey[];
    random: RandomBytes;
    rootAlg: Alg;
    rootPublicKey: Uint8Array;
    deviceSecretKey?: Uint8Array;
    lastSeq?: number;
    /** The terminal's clock at the start, unix seconds (default: now). */
    wallTime?: number;
    /** The signature primitive of the terminal's verifier (default: the core's pure-JS one). */
    verify?: VerifyFn;
    /** The merchant category and region it is provisioned with (purpose-bound funds). */
    place?: MerchantPlace;
  }) {
    this.terminalId = o.terminalId;
    this.merchantId = o.merchantId;
    this.#random = o.random;
    this.clock = new VirtualClock({ wallTime: o.wallTime ?? unixNow() });
    this.risk = new RiskEngine({ config: o.config, settledAt: o.wallTime ?? unixNow() });
    this.verifier = new Verifier({ keyring: new Keyring(o.keys), verify: o.verify });
    this.deviceSecretKey = o.deviceSecretKey ?? generateP256(o.random);
    this.#seq = o.lastSeq ?? 0;
    this.journal = new MemoryJournal(this.#seq);
    this.devicePublicKey = publicKeyOf(ALG_P256, this.deviceSecretKey);
    this.#rootAlg = o.rootAlg;
    this.#rootPublicKey = o.rootPublicKey;
    this.#place = o.place;
  }

  /** One tap with the payment core's Tap (a transit validator's, priced by `fares`); the wallet leaves the field afterwards. */
  async pay(wallet: WalletEmulator, amount: number, fares?: TransitFares): Promise<TapResult> {
    const tap = new Tap({
      mode: fares ? 'transit' : 'merchant',
      ...(fares ? { fares } : {}),
      terminalId: this.terminalId,
      merchantId: this.merchantId,
      currency: this.risk.config.currency,
      verifier: this.verifier,
      risk: this.risk,
      journal: this.journal,
      clock: this.clock,
      random: this.#random,
      log: silentLog,
      inDoubt: this.inDoubt,
      link: wallet,
      place: this.#place,
      amount,
      terminalSeq: ++this.#seq,
    });
    const seq = this.#seq;
    const result = await tap.start();
    wallet.removed();
    // A number an open intent holds is never handed out again.
    if (result.kind !== 'approved' && !this.inDoubt.open.some((i) => i.terminalSeq === seq)) this.#seq--;
    this.clock.advance(5000);
    return result;
  }

  /** The signed batch of every receipt not yet acknowledged (or of `records`). */
  batch(options: { nonce?: Uint8Array; records?: { seq: number; payload: Uint8Array }[]; fareRulesVersion?: number } = {}): Uint8Array {
    const records = options.records ?? this.journal.records;
    return encodeBatch(
      {
        terminalId: this.terminalId,
        nonce: options.nonce ?? this.#random(16),
        wallTime: this.clock.wallTime(),
        denyListVersion: this.risk.denyVersion,
        keyringVersion: this.keyringVersion,
        configVersion: this.configVersion,
        ...(options.fareRulesVersion !== undefined ? { fareRulesVersion: options.fareRulesVersion } : {}),
        items: records.map((r) => ({ seq: r.seq, receipt: r.payload })),
        ...(this.reportsIntents ? { intents: this.inDoubt.open.map(encodeIntent) } : {}),
      },
      this.deviceSecretKey,
    );
  }

  /** Uploads `body` (default: a new batch of what is pending) and applies the verified response. */
  async upload(url: string, body = this.batch()): Promise<UploadResult> {
    const r = await fetch(`${url}/v1/batches`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body });
    const bytes = new Uint8Array(await r.arrayBuffer());
    if (r.status !== 200) return { status: r.status, error: JSON.parse(Buffer.from(bytes).toString('utf8')) };
    return { status: 200, response: this.apply(bytes) };
  }

  /** Verifies a batch response with the root key, applies its updates, drops acknowledged receipts. */
  apply(bytes: Uint8Array): BatchResponse {
    const response = decodeBatchResponse(bytes);
    if (!verifyBatchResponse(response, this.#rootAlg, this.#rootPublicKey)) throw new Error('batch response not signed by the root key');
    if (response.terminalId !== this.terminalId) throw new Error('batch response for another terminal');
    for (const u of response.updates) {
      const update = verifyUpdate(u, this.#rootAlg, this.#rootPublicKey);
      if (update.kind === UPDATE_DENY_LIST && update.fromVersion <= this.risk.denyVersion) {
        this.risk.applyDenyDelta({
          version: update.version,
          addWallets: update.add.map(toHex),
          removeWallets: update.remove.map(toHex),
          addSerials: [],
          removeSerials: [],
        });
      } else if (update.kind === UPDATE_TIME) {
        this.risk.settled(update.unixSeconds);
      }
    }
    this.journal.records = this.journal.records.filter((r) => r.seq > response.ackedUpTo);
    for (const o of response.intents ?? []) this.inDoubt.closed(o.terminalSeq);
    return response;
  }
}

function generateP256(random: RandomBytes): Uint8Array {
  return generateKeyPair(ALG_P256, random).secretKey;
}

export function updatesOf(response: BatchResponse): number[] {
  return response.updates.map((u) => decodeUpdate(u).update.kind);
}

export type { Issuer };

// ---- per-test setup ----

/** The backend of a describe block and the World of its running test. */
export interface WorldPerTest {
  /** The current test's World; a test may put another in its place (after closing this one). */
  world: World;
  readonly backend: Backend;
}

/**
 * Call inside a describe: starts the backend once for the block and a fresh World on a fresh database
 * before each test, and closes whichever World is current after it.
 */
export function worldPerTest(start: () => Promise<Backend>, seed: string): WorldPerTest {
  let backend: Backend | undefined;
  let world: World | undefined;
  before(async () => {
    backend = await start();
  });
  after(async () => {
    await backend?.stop();
  });
  beforeEach(async () => {
    world = await World.create({ database: await present(backend, 'the backend').fresh(), seed: `${seed} ${Math.random()}` });
  });
  afterEach(async () => {
    await world?.close();
  });
  return {
    get world() {
      return present(world, "the test's World");
    },
    set world(w: World) {
      world = w;
    },
    get backend() {
      return present(backend, 'the backend');
    },
  };
}

// Settlement figures: signature verification per second (the terminal's pure-JS verifier against
// node:crypto, which the service uses), and batch ingest in receipts per second with full
// verification (terminal signature, issuer certificate, wallet payment signature, every database
// write in one transaction per batch) through the HTTP service on loopback, for SQLite and PostgreSQL,
// each printed beside the verify-bound ceiling measured in the same run. The service runs as its own
// `tapline serve` process(es); this process is the load generator: it makes every batch before the
// clock starts and then only posts them (node:http, kept-alive connections), so the two do not share a
// thread. `--profile DIR` writes the service's CPU profiles (main thread and verify workers) there.
import { availableParallelism } from 'node:os';
import { readdirSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import type { Report } from './main';
import { present } from '../firmware/base/assert';
import { ALG_ED25519, ALG_P256, verifySignature, type Alg } from '../firmware/core/crypto/verify';
import { encodePayRequest } from '../firmware/core/protocol/messages';
import { decodeResponse, payCommand, readCertificateCommand, selectCommand } from '../firmware/core/protocol/apdu';
import { encodeReceipt } from '../firmware/core/protocol/receipt';
import { NodeVerifier } from '../host/settlement/verify';
import { decodeBatchResponse } from '../firmware/core/uplink/wire';
import { generateKeyPair, sign } from '../host/wallet/issuer';
import { seededRandom } from '../host/wallet/random';
import { WalletEmulator } from '../host/wallet/emulator';
import { nodeSigner } from '../host/settlement/sign';
import { BACKENDS, World, postgresBackend, serve, sqliteBackend, stop, type Backend, type Child, type TestTerminal, type WalletSpec } from '../test/settlement-fixtures';
import { runFleet } from '../test/settlement-fleet';

/**
 * node:crypto P-256 verifies per second on one core, the key parsed once (the service's hot path), and
 * with a key seen for the first time (parsed, then used: what a new wallet costs on top).
 */
function verifyRates(report: Report, quick: boolean): { perCore: number; newKeyPerCore: number } {
  const random = seededRandom('bench verify');
  const node = new NodeVerifier();
  let p256PerCore = 0;
  for (const [alg, name] of [[ALG_P256, 'p256'], [ALG_ED25519, 'ed25519']] as [Alg, string][]) {
    const pair = generateKeyPair(alg, random);
    const message = random(300);
    const signature = sign(pair, message);
    for (const [impl, verify] of [
      ['noble (terminal)', () => verifySignature(alg, pair.publicKey, message, signature)],
      ['node:crypto (service)', () => node.verify(alg, pair.publicKey, message, signature)],
    ] as [string, () => boolean][]) {
      const n = impl.startsWith('noble') ? (quick ? 50 : 400) : quick ? 2000 : 20000;
      verify();
      const start = process.hrtime.bigint();
      for (let i = 0; i < n; i++) if (!verify()) throw new Error('verification failed');
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      report({ bench: 'settlement verify', alg: name, impl, verifiesPerSecond: n / seconds });
      if (alg === ALG_P256 && impl.startsWith('node')) p256PerCore = n / seconds;
    }
  }
  const n = quick ? 300 : 3000;
  const fresh = Array.from({ length: n }, () => {
    const pair = generateKeyPair(ALG_P256, random);
    const message = random(300);
    return { publicKey: pair.publicKey, message, signature: sign(pair, message) };
  });
  const start = process.hrtime.bigint();
  for (const f of fresh) if (!node.verify(ALG_P256, f.publicKey, f.message, f.signature)) throw new Error('verification failed');
  const newKeyPerCore = n / (Number(process.hrtime.bigint() - start) / 1e9);
  report({ bench: 'settlement verify', alg: 'p256', impl: 'node:crypto, key seen first', verifiesPerSecond: newKeyPerCore });
  return { perCore: p256PerCore, newKeyPerCore };
}

/**
 * P-256 verifies per second on one core, measured for half a second just before and just after an
 * upload: on a shared machine the cores' speed moves within a run, and each ceiling uses its own moment.
 */
function verifyRateNow(): number {
  const node = new NodeVerifier();
  const pair = generateKeyPair(ALG_P256, seededRandom('bench rate'));
  const message = new Uint8Array(300);
  const signature = sign(pair, message);
  node.verify(ALG_P256, pair.publicKey, message, signature);
  let n = 0;
  const start = process.hrtime.bigint();
  let seconds = 0;
  while (seconds < 0.5) {
    for (let i = 0; i < 20; i++) if (node.verify(ALG_P256, pair.publicKey, message, signature)) n++;
    seconds = Number(process.hrtime.bigint() - start) / 1e9;
  }
  return n / seconds;
}

interface Workload {
  terminals: number;
  wallets: number;
  receipts: number;
  batchSize: number;
}

/**
 * Receipts made by emulated wallets answering PAY directly (no terminal-side checks: faster to make),
 * wallets spread over the terminals so that each wallet pays at several of them. One array of
 * batches per terminal, in the order the terminal would upload them.
 */
/** Wallet elements signing with node:crypto: the pure-JS signer would take minutes for a million receipts. */
function fastElements(specs: WalletSpec[]): WalletEmulator[] {
  return specs.map((s) => new WalletEmulator({ ...s.options, sign: nodeSigner(s.emulator().info.alg, s.options.secretKey) }));
}

function makeBatches(terminals: TestTerminal[], devices: WalletEmulator[], w: Workload, seqs = terminals.map(() => 0), offset = 0): Uint8Array[][] {
  const random = seededRandom(`bench receipts ${offset}`);
  const records: { seq: number; payload: Uint8Array }[][] = terminals.map(() => []);
  const now = Math.floor(Date.now() / 1000);
  for (let i = offset; i < offset + w.receipts; i++) {
    const t = i % terminals.length;
    const terminal = terminals[t]!;
    const wallet = devices[(i * 7919) % devices.length]!;
    const seq = ++seqs[t]!;
    wallet.answer(selectCommand());
    const certificate = decodeResponse(wallet.answer(readCertificateCommand())).data;
    const request = encodePayRequest({
      challenge: random(16),
      amount: 100 + (i % 50),
      currency: 156,
      terminalId: terminal.terminalId,
      merchantId: terminal.merchantId,
      terminalTime: now,
      terminalSeq: seq,
      cvmRequired: false,
    });
    const response = decodeResponse(wallet.answer(payCommand(request)));
    if (response.sw !== 0x9000) throw new Error(`PAY answered ${response.sw.toString(16)}`);
    records[t]!.push({ seq, payload: encodeReceipt({ terminalSeq: seq, certificate, request, response: response.data, deferred: false }) });
  }
  return terminals.map((terminal, t) => {
    const batches: Uint8Array[] = [];
    const list = records[t]!;
    for (let i = 0; i < list.length; i += w.batchSize) batches.push(terminal.batch({ records: list.slice(i, i + w.batchSize) }));
    return batches;
  });
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** One POST on a kept-alive connection; resolves with the status and the body. */
function post(url: string, body: Uint8Array): Promise<{ status: number; bytes: Uint8Array }> {
  return new Promise((resolve, reject) => {
    const r = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/octet-stream', 'content-length': body.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes: new Uint8Array(Buffer.concat(chunks)) }));
      res.on('error', reject);
    });
    r.on('error', reject);
    r.end(body);
  });
}

/** A terminal retries a batch whose connection failed (the same bytes: the service answers it once). */
async function postRetried(url: string, body: Uint8Array, tries = 3): Promise<{ status: number; bytes: Uint8Array }> {
  try {
    return await post(url, body);
  } catch (e) {
    if (tries <= 1) throw e;
    return postRetried(url, body, tries - 1);
  }
}

/** Posts every terminal's batches, the terminals concurrently; resolves with the wall seconds. */
async function upload(urls: string[], fleet: { terminal: TestTerminal; batches: Uint8Array[] }[]): Promise<number> {
  const start = process.hrtime.bigint();
  await Promise.all(
    fleet.map(async ({ terminal, batches }, t) => {
      const url = urls[t % urls.length]!;
      // Plain HTTP posts: the terminals' own response checks would take CPU from the service.
      for (const body of batches) {
        const r = await postRetried(`${url}/v1/batches`, body);
        if (r.status !== 200) throw new Error(`${terminal.terminalId}: batch refused ${r.status} ${Buffer.from(r.bytes).toString()}`);
        const refused = decodeBatchResponse(r.bytes).results.find((x) => x.status !== 0);
        if (refused) throw new Error(`${terminal.terminalId}: receipt ${refused.seq} refused: ${refused.reason}`);
      }
    }),
  );
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** `tapline serve` processes on one database; with `--profile DIR`, each writes its CPU profiles there. */
async function services(world: World, database: string, n: number, label: string): Promise<Child[]> {
  const dir = flag('--profile');
  const children: Child[] = [];
  for (let i = 0; i < n; i++) children.push(await serve(world.keys.dir, database, {}, dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}/${label}-${i}`] : []));
  world.externalUrl = present(children[0], 'a service').url;
  return children;
}

/**
 * CPU seconds a service process has used so far, its main thread alone and all its threads (Linux's
 * /proc, in its fixed 100 ticks per second). Unlike a rate, a CPU time hardly moves with the machine's
 * load: it says what a batch costs the thread that serves it, the figure the throughput hangs on.
 */
function cpuSeconds(children: Child[]): { main: number; all: number } | undefined {
  let main = 0;
  let all = 0;
  try {
    for (const { process: p } of children) {
      const ticks = (path: string) => {
        const fields = readFileSync(path, 'utf8').split(') ')[1]!.split(' ');
        return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime
      };
      main += ticks(`/proc/${p.pid}/task/${p.pid}/stat`);
      all += ticks(`/proc/${p.pid}/stat`);
    }
  } catch {
    return undefined; // not Linux
  }
  return { main, all };
}

/** The service's CPU per batch between two cpuSeconds readings (none where /proc is missing). */
function cpuPerBatch(before: ReturnType<typeof cpuSeconds>, after: ReturnType<typeof cpuSeconds>, batches: number): { mainCpuMsPerBatch?: number; serviceCpuMsPerBatch?: number } {
  if (!before || !after) return {};
  return { mainCpuMsPerBatch: ((after.main - before.main) * 1000) / batches, serviceCpuMsPerBatch: ((after.all - before.all) * 1000) / batches };
}

/**
 * CPU seconds of the PostgreSQL server listening on the database URL's port: its live processes, plus
 * what the postmaster counts for children that have exited (so a backend ending mid-run is counted
 * once). Undefined where /proc is missing or the server is not found.
 */
function pgCpuSeconds(url: string): number | undefined {
  const port = new URL(url).port;
  try {
    const stat = (pid: string) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    const pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
    const postmaster = pids.find((pid) => {
      try {
        const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return args[0]!.endsWith('/postgres') && args.includes(`-p`) && args[args.indexOf('-p') + 1] === port;
      } catch {
        return false;
      }
    });
    if (!postmaster) return undefined;
    const own = stat(postmaster);
    let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]); // utime, stime, cutime, cstime
    for (const pid of pids) {
      try {
        const f = stat(pid);
        if (f[1] === postmaster) ticks += Number(f[11]) + Number(f[12]);
      } catch {
        // exited meanwhile: the postmaster's cutime has it
      }
    }
    return ticks / 100;
  } catch {
    return undefined;
  }
}

async function settledCount(url: string): Promise<number> {
  const health = (await fetch(`${url}/v1/health`).then((r) => r.json())) as { receipts: Record<string, number> };
  return health.receipts.settled ?? 0;
}

function flag(name: string): string | undefined {
  const args = process.argv;
  return args.includes(name) ? args[args.indexOf(name) + 1] : undefined;
}

export async function run(report: Report, options: { quick: boolean }): Promise<void> {
  const { perCore, newKeyPerCore } = verifyRates(report, options.quick);
  const cores = availableParallelism();
  // Per receipt: the wallet's payment signature, its certificate once per wallet (remembered after),
  // the terminal's batch signature once per batch.
  const ceilingFor = (w: Workload, rate = perCore) => (rate * cores) / (1 + w.wallets / w.receipts + 1 / w.batchSize);
  // The same with what a wallet seen for the first time adds: its key parsed and used the first time.
  const cryptoCeilingFor = (w: Workload, rate = perCore) =>
    cores / ((1 + w.wallets / w.receipts + 1 / w.batchSize) / rate + (w.wallets / w.receipts) * (perCore / rate) * (1 / newKeyPerCore - 1 / perCore));
  const workloads: Workload[] = options.quick
    ? [{ terminals: 10, wallets: 400, receipts: 2000, batchSize: 64 }]
    : [
        { terminals: 20, wallets: 4000, receipts: 20000, batchSize: 64 },
        { terminals: 20, wallets: 4000, receipts: 20000, batchSize: 100 },
      ];
  const row = (name: string, w: Workload, seconds: number, rate: number, extra: Record<string, unknown> = {}) => {
    const ceiling = ceilingFor(w, rate);
    report({
      bench: 'settlement ingest',
      backend: name,
      ...extra,
      receipts: w.receipts,
      wallets: w.wallets,
      batchSize: w.batchSize,
      terminals: w.terminals,
      receiptsPerSecond: w.receipts / seconds,
      verifyCeiling: ceiling,
      ofCeiling: w.receipts / seconds / ceiling,
      cryptoCeiling: cryptoCeilingFor(w, rate),
      verifiesPerSecondPerCore: rate,
      msPerBatch: (seconds * 1000) / Math.ceil(w.receipts / w.batchSize),
      cores,
    });
  };
  // `--backends sqlite` (or postgres) runs one; `--no-ingest` leaves only the scale curve and the fleet.
  const only = flag('--backends')?.split(',');
  for (const { name, start } of BACKENDS.filter((b) => !only || only.includes(b.name))) {
    // PostgreSQL's page cache as large as the SQLite connection's own (host/settlement/db.ts CACHE_KIB):
    // the tests' 32 MB would have a million receipts' wallet indexes read from the kernel at every batch.
    const backend = name === 'postgres' ? await postgresBackend({ sharedBuffers: '256MB' }) : await start();
    try {
      if (!process.argv.includes('--no-ingest')) {
        // `--batch-sizes 64` runs only the workloads of those batch sizes.
        const sizes = flag('--batch-sizes')?.split(',').map(Number);
        for (const w of workloads.filter((x) => !sizes || sizes.includes(x.batchSize))) await ingest(name, backend, w, 1, row);
        if (name === 'postgres') await ingest(name, backend, present(workloads[0], 'a workload'), 2, row);
      }
      await scaleCurve(name, backend, report, options.quick, ceilingFor);
    } finally {
      await backend.stop();
    }
  }
  await fleet(report, options.quick);
}

/** One workload through `processes` service processes on one database, the terminals split between them. */
async function ingest(name: string, backend: Backend, w: Workload, processes: number, row: (name: string, w: Workload, seconds: number, rate: number, extra: Record<string, unknown>) => void): Promise<void> {
  const world = await World.create({ seed: `bench ${name}` });
  const database = await backend.fresh();
  const children = await services(world, database, processes, `${name}-${w.batchSize}-x${processes}`);
  try {
    const devices = fastElements(Array.from({ length: w.wallets }, () => world.wallet({ balance: 1e12, alg: ALG_P256 })));
    const terminals: TestTerminal[] = [];
    for (let t = 0; t < w.terminals; t++) terminals.push(await world.terminal(`B${t}`));
    const batches = makeBatches(terminals, devices, w);
    const warm = await warmUp(world, children.map((c) => c.url), w.batchSize);
    const before = verifyRateNow();
    const cpuBefore = cpuSeconds(children);
    const pgBefore = name === 'postgres' ? pgCpuSeconds(database) : undefined;
    const loadBefore = process.cpuUsage();
    const seconds = await upload(children.map((c) => c.url), terminals.map((terminal, t) => ({ terminal, batches: batches[t]! })));
    const load = process.cpuUsage(loadBefore);
    const cpuAfter = cpuSeconds(children);
    const pgAfter = name === 'postgres' ? pgCpuSeconds(database) : undefined;
    const rate = (before + verifyRateNow()) / 2;
    const settled = await settledCount(world.url);
    if (settled !== warm + w.receipts) throw new Error(`settled ${settled} of ${warm + w.receipts}`);
    const count = batches.reduce((n, b) => n + b.length, 0);
    // The load generator shares the machine's cores with the service: what it takes is not the service's.
    const loadCpu = { loadCpuMsPerBatch: (load.user + load.system) / 1000 / count };
    const pgCpu = pgBefore !== undefined && pgAfter !== undefined ? { postgresCpuMsPerBatch: ((pgAfter - pgBefore) * 1000) / count } : {};
    row(name, w, seconds, rate, { processes, ...cpuPerBatch(cpuBefore, cpuAfter, count), ...loadCpu, ...pgCpu });
  } finally {
    for (const c of children) await stop(c);
    await world.close();
  }
}

/**
 * Before the clock starts, a service just launched settles 10,000 receipts of 1,000 wallets and 10
 * terminals of their own: a service runs for weeks, and what is measured is its steady state, not V8
 * compiling it. The measured workload's wallets and terminals are still new to it. Resolves with the
 * receipts it settled.
 */
async function warmUp(world: World, urls: string[], batchSize: number): Promise<number> {
  const quick = process.argv.includes('--quick');
  const w: Workload = { terminals: 10, wallets: quick ? 200 : 1000, receipts: quick ? 2000 : 10_000, batchSize };
  const devices = fastElements(Array.from({ length: w.wallets }, () => world.wallet({ balance: 1e12, alg: ALG_P256 })));
  const terminals: TestTerminal[] = [];
  for (let t = 0; t < w.terminals; t++) terminals.push(await world.terminal(`W${t}`));
  const batches = makeBatches(terminals, devices, w);
  await upload(urls, terminals.map((terminal, t) => ({ terminal, batches: batches[t]! })));
  return w.receipts;
}

/**
 * One growing database: receipts/s for each segment as the tables fill (`--scale N` receipts in all,
 * default 200,000; 1,000,000 for the full curve; 0 skips it).
 */
async function scaleCurve(name: string, backend: Backend, report: Report, quick: boolean, ceilingFor: (w: Workload, rate: number) => number): Promise<void> {
  const total = Number(flag('--scale') ?? (quick ? 20_000 : 200_000));
  if (total === 0) return;
  const segment = total >= 500_000 ? 100_000 : Math.max(10_000, Math.floor(total / 5));
  const w: Workload = { terminals: 20, wallets: 10_000, receipts: segment, batchSize: 64 };
  const world = await World.create({ seed: `bench scale ${name}` });
  const children = await services(world, await backend.fresh(), 1, `${name}-scale`);
  try {
    const devices = fastElements(Array.from({ length: w.wallets }, () => world.wallet({ balance: 1e12, alg: ALG_P256 })));
    const terminals: TestTerminal[] = [];
    for (let t = 0; t < w.terminals; t++) terminals.push(await world.terminal(`S${t}`));
    const seqs = terminals.map(() => 0);
    const warm = await warmUp(world, [world.url], w.batchSize);
    for (let done = 0; done < total; done += segment) {
      const batches = makeBatches(terminals, devices, w, seqs, done);
      const before = verifyRateNow();
      const cpuBefore = cpuSeconds(children);
      const seconds = await upload([world.url], terminals.map((terminal, t) => ({ terminal, batches: batches[t]! })));
      const cpuAfter = cpuSeconds(children);
      const rate = (before + verifyRateNow()) / 2;
      // Only the first segment meets its wallets (and their certificates) for the first time.
      const verifyCeiling = ceilingFor({ ...w, wallets: done === 0 ? w.wallets : 0 }, rate);
      const count = batches.reduce((n, b) => n + b.length, 0);
      // What a batch costs the service as the tables grow: a rate also moves with the machine.
      report({ bench: 'settlement scale', backend: name, receiptsBefore: done, receipts: segment, wallets: w.wallets, receiptsPerSecond: segment / seconds, verifyCeiling, ...cpuPerBatch(cpuBefore, cpuAfter, count) });
    }
    const settled = await settledCount(world.url);
    if (settled !== warm + total) throw new Error(`settled ${settled} of ${warm + total}`);
  } finally {
    for (const c of children) await stop(c);
    await world.close();
  }
}

/** `--fleet T,W,P` (default 100,10000,20000; 10,300,3000 with --quick; 0 skips it). */
async function fleet(report: Report, quick: boolean): Promise<void> {
  const [terminals, wallets, payments] = (flag('--fleet') ?? (quick ? '10,300,3000' : '100,10000,20000')).split(',').map(Number) as [number, number, number];
  if (!payments) return;
  const backend = await sqliteBackend();
  try {
    const r = await runFleet(backend, { terminals, wallets, payments, cloneShare: 0.01, outage: 0.05, lostAnswer: 0.05, uploadEvery: 64, seed: 'fleet bench' });
    report({ bench: 'settlement fleet', terminals, wallets, ...r, declined: JSON.stringify(r.declined), uncredited: JSON.stringify(r.uncredited), outcomes: JSON.stringify(r.outcomes), seconds: JSON.stringify(r.seconds) });
  } finally {
    await backend.stop();
  }
}

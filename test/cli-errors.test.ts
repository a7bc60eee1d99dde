// What a user sees when a `tapline` command cannot be done: one line on stderr that says what to do,
// exit code 2 for bad usage and 1 for a failure, no stack trace, and no file left behind (a retry of
// the same command then works). The installed command itself: `npm install -g` from the repository
// gives a `tapline` that runs from any folder.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { main, version } from '../host/cli/main';
import { parseWalletFile } from '../host/cli/wallet-file';
import { readFileSync } from 'node:fs';
import { startService, type RunningService } from '../host/settlement/service';

const repo = process.cwd();
const bin = join(repo, 'host/cli/bin.mjs');

interface Run {
  code: number;
  out: string[];
  err: string[];
}

async function tapline(...args: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, (l) => out.push(l), (l) => err.push(...l.split('\n')));
  return { code, out, err };
}

/** A loopback port nothing listens on. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise((done) => server.close(done));
  return port;
}

/** Every file under `dir` (relative paths), to show that a failed command left nothing behind. */
function filesIn(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesIn(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`],
  );
}

describe('cli: errors are one line, and a failed command leaves no file', function () {
  this.timeout(60_000);
  let dir: string;
  let keys: string;
  let dead: string;
  let service: RunningService;

  /** Runs the command and checks the one-line error, the exit code and that `dir` did not change. */
  async function refused(code: 1 | 2, message: RegExp, ...args: string[]): Promise<void> {
    const before = filesIn(dir);
    const r = await tapline(...args);
    expect(r.code, r.err.join('\n')).to.equal(code);
    expect(r.err, 'exactly one line').to.have.length(1);
    expect(r.err[0]).to.match(message);
    expect(r.err[0]).to.match(new RegExp(`^tapline ${args[0]}: `));
    expect(r.err[0]).not.to.match(/\bat .*\.ts:\d+|Error:/);
    expect(filesIn(dir), 'no file left behind').to.deep.equal(before);
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tapline-cli-errors-'));
    keys = join(dir, 'keys');
    expect((await tapline('init', '--keys', keys)).code).to.equal(0);
    dead = `http://127.0.0.1:${await deadPort()}`;
    service = await startService({ keys, database: join(dir, 'service.db') });
  });
  after(async () => {
    await service?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('--version prints the package version', async () => {
    const r = await tapline('--version');
    expect([r.code, r.out]).to.deep.equal([0, [`tapline ${version()}`]]);
    expect(version()).to.match(/^\d+\.\d+\.\d+/);
  });

  it('a --service without a scheme is a usage error that shows the form', async () => {
    const w = join(dir, 'w.json');
    await refused(2, /--service must be a URL such as http:\/\/127\.0\.0\.1:8080 \(got "127\.0\.0\.1:8080"\)/, 'issue-wallet', '--keys', keys, '--out', w, '--service', '127.0.0.1:8080');
    const t = join(dir, 't.json');
    await refused(2, /--service must be a URL/, 'provision-terminal', '--keys', keys, '--out', t, '--terminal-id', 'T-1', '--merchant-id', 'M', '--service', '127.0.0.1:8080');
    await refused(2, /--service must be a URL/, 'report-lost', '--keys', keys, '--wallet', '0011223344556677', '--service', 'localhost');
  });

  it('issue-wallet against a dead service writes no wallet file; the same command works once the service is up', async () => {
    const w = join(dir, 'w.json');
    await refused(1, /cannot reach the settlement service at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\): start it with tapline serve.*w\.json was not written; run the command again/,
      'issue-wallet', '--keys', keys, '--out', w, '--balance', '700', '--service', dead);
    const r = await tapline('issue-wallet', '--keys', keys, '--out', w, '--balance', '700', '--service', service.url);
    expect(r.code, r.err.join()).to.equal(0);
    const { walletId } = parseWalletFile(readFileSync(w, 'utf8'));
    expect(await funded(walletId)).to.equal(700);
    rmSync(w);
  });

  it('provision-terminal --register against a dead service writes no terminal file; the retry is not refused', async () => {
    const t = join(dir, 't.json');
    const args = ['provision-terminal', '--keys', keys, '--out', t, '--terminal-id', 'T-1', '--merchant-id', 'M', '--register'];
    await refused(1, /cannot reach the settlement service .*t\.json was not written; run the command again/, ...args, '--service', dead);
    const r = await tapline(...args, '--service', service.url);
    expect(r.code, r.err.join()).to.equal(0);
    expect(r.out[0]).to.equal(`registered terminal T-1 with ${service.url}`);
    rmSync(t);
  });

  it('register retries a wallet or a terminal registration that did not happen', async () => {
    const w = join(dir, 'later.json');
    expect((await tapline('issue-wallet', '--keys', keys, '--out', w, '--balance', '1234')).code).to.equal(0);
    const { walletId } = parseWalletFile(readFileSync(w, 'utf8'));
    expect(await funded(walletId)).to.equal(undefined);
    await refused(1, /cannot reach the settlement service/, 'register', '--keys', keys, '--wallet', w, '--service', dead);
    const r = await tapline('register', '--keys', keys, '--wallet', w, '--service', service.url);
    expect(r.code, r.err.join()).to.equal(0);
    expect(await funded(walletId)).to.equal(1234);

    const t = join(dir, 'later-t.json');
    expect((await tapline('provision-terminal', '--keys', keys, '--out', t, '--terminal-id', 'T-2', '--merchant-id', 'M', '--service', dead)).code).to.equal(0);
    await refused(1, /cannot reach the settlement service/, 'register', '--keys', keys, '--terminal', t);
    expect((await tapline('register', '--keys', keys, '--terminal', t, '--service', service.url)).code).to.equal(0);
    const registered = await service.settlement.db.read((tx) => tx.get<{ merchant_id: string }>('SELECT merchant_id FROM terminals WHERE terminal_id = $1', ['T-2']));
    expect(registered?.merchant_id).to.equal('M');

    await refused(2, /give one of --wallet FILE or --terminal FILE/, 'register', '--keys', keys, '--wallet', w, '--terminal', t);
    await refused(1, /cannot read --wallet .*nope\.json: no such file/, 'register', '--keys', keys, '--wallet', join(dir, 'nope.json'), '--service', service.url);
    await refused(1, /t\.json is not a wallet file: profile must be/, 'register', '--keys', keys, '--wallet', t, '--service', service.url);
    rmSync(w);
    rmSync(t);
  });

  it('a service that refuses the operator token says which keys to use', async () => {
    const other = join(dir, 'other-keys');
    expect((await tapline('init', '--keys', other)).code).to.equal(0);
    await refused(1, /refused the operator token: use the --keys folder it was started with/, 'report-lost', '--keys', other, '--wallet', '0011223344556677', '--service', service.url);
  });

  it('serve names the database folder that does not exist, a file that is no database, a port in use', async () => {
    await refused(1, /cannot create the database \/nonexistent\/dir\/x\.db: the folder \/nonexistent\/dir does not exist/, 'serve', '--keys', keys, '--db', '/nonexistent/dir/x.db');
    const junk = join(dir, 'junk.db');
    writeFileSync(junk, 'this is not a database, only text long enough to be taken for a header '.repeat(20));
    await refused(1, /cannot open the database .*junk\.db: file is not a database/, 'serve', '--keys', keys, '--db', junk, '--port', '0');
    const port = new URL(service.url).port;
    await refused(1, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is in use: stop what holds it or pick another --port`), 'serve', '--keys', keys, '--db', join(dir, 'service.db'), '--port', port);
    rmSync(junk);
  });

  it('missing keys, unreadable or malformed input files, unknown options and commands', async () => {
    const w = join(dir, 'w.json');
    await refused(1, /no key folder .*nokeys: run tapline init --keys .*nokeys first/, 'issue-wallet', '--keys', join(dir, 'nokeys'), '--out', w);
    const t = join(dir, 't.json');
    const base = ['provision-terminal', '--keys', keys, '--out', t, '--terminal-id', 'T-1', '--merchant-id', 'M', '--service', 'http://10.0.0.2:8080'];
    await refused(1, /cannot read --risk .*missing\.json: no such file/, ...base, '--risk', join(dir, 'missing.json'));
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{');
    await refused(1, /--risk .*bad\.json is not JSON/, ...base, '--risk', bad);
    await refused(2, /--mode must be merchant or transit/, ...base, '--mode', 'kiosk');
    await refused(1, /cannot write .*: the folder .*no-folder does not exist/, 'issue-wallet', '--keys', keys, '--out', join(dir, 'no-folder', 'w.json'));
    await refused(2, /^tapline init: unknown option --nope \(tapline init --help shows the options\)$/, 'init', '--keys', keys, '--nope');
    await refused(2, /--balance must be a whole number/, 'issue-wallet', '--keys', keys, '--out', w, '--balance', 'lots');
    rmSync(bad);
    const unknown = await tapline('frobnicate');
    expect([unknown.code, unknown.err]).to.deep.equal([2, ['tapline: unknown command "frobnicate" (tapline --help lists the commands)']]);
  });

  it('the deny list is the service\'s: sign-update --service sends configuration, and points deny-listing to report-lost', async () => {
    const d = join(dir, 'deny.bin');
    await refused(2, /the service keeps the deny list itself: deny-list a wallet with tapline report-lost --wallet ID --service URL/,
      'sign-update', '--keys', keys, '--kind', 'deny', '--from', '0', '--add', '0011223344556677', '--out', d, '--service', service.url);
    const settings = join(dir, 'settings.json');
    writeFileSync(settings, JSON.stringify({ maxTransaction: 5000 }));
    const cfg = join(dir, 'cfg.upd');
    await refused(1, /cannot reach the settlement service .*cfg\.upd was not written/, 'sign-update', '--keys', keys, '--kind', 'config', '--version', '1', '--settings', settings, '--terminal', 'T-1', '--out', cfg, '--service', dead);
    const sent = await tapline('sign-update', '--keys', keys, '--kind', 'config', '--version', '1', '--settings', settings, '--terminal', 'T-1', '--out', cfg, '--service', service.url);
    expect(sent.code, sent.err.join()).to.equal(0);
    expect(sent.out[0]).to.match(/delivers it to terminal T-1 on its next upload/);
    const lost = await tapline('report-lost', '--keys', keys, '--wallet', '0011223344556677', '--service', service.url);
    expect(lost.code, lost.err.join()).to.equal(0);
    const list = (await (await fetch(`${service.url}/v1/deny-list?since=0`)).json()) as { entries: { walletId: string }[]; update: string | null };
    expect(list.entries.map((e) => e.walletId)).to.include('0011223344556677');
    expect(list.update, 'the signed delta terminals receive').to.be.a('string');
    rmSync(settings);
    rmSync(cfg);
  });

  it('the process prints the line and exits with the code, without a stack trace', () => {
    const r = spawnSync(process.execPath, [bin, 'serve', '--keys', keys, '--db', '/nonexistent/dir/x.db'], { cwd: dir, encoding: 'utf8' });
    expect(r.status).to.equal(1);
    expect(r.stderr.trim().split('\n')).to.have.length(1);
    expect(r.stderr).to.match(/^tapline serve: cannot create the database/);
  });

  it('npm install -g from the repository gives a tapline that runs from any folder', () => {
    const prefix = join(dir, 'global');
    mkdirSync(prefix);
    execFileSync('npm', ['install', '-g', repo, '--prefix', prefix, '--offline', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'pipe' });
    const elsewhere = mkdtempSync(join(tmpdir(), 'tapline-elsewhere-'));
    try {
      const text = execFileSync(join(prefix, 'bin', 'tapline'), ['--version'], { cwd: elsewhere, encoding: 'utf8' });
      expect(text.trim()).to.equal(`tapline ${version()}`);
      const init = execFileSync(join(prefix, 'bin', 'tapline'), ['init', '--keys', 'k'], { cwd: elsewhere, encoding: 'utf8' });
      expect(init).to.match(/^created keys in k/);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
      rmSync(prefix, { recursive: true, force: true });
    }
  });

  it('the service and the simulator run on dependencies, not devDependencies', () => {
    const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const name of ['fastify', 'better-sqlite3', 'pg', 'tsx', '@agoric/xsnap', 'esbuild', '@noble/curves', '@noble/hashes']) {
      expect(pkg.dependencies, name).to.have.property(name);
    }
  });

  async function funded(walletId: string): Promise<number | undefined> {
    const row = await service.settlement.db.read((tx) => tx.get<{ funded: number }>('SELECT funded FROM wallets WHERE wallet_id = $1', [walletId]));
    return row?.funded;
  }
});

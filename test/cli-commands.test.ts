// The provisioning CLI end to end: keys with restrictive modes and never printed, wallet files the
// emulator loads, provisioning files the terminal parses, signed updates the terminal verifies, and
// registration with (and configuration delivery through) a running settlement service.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { fromHex, toHex } from '../firmware/base/bytes';
import { ALG_P256 } from '../firmware/core/crypto/verify';
import { parseProvisioning, provisionedIssuerKeys } from '../firmware/core/provisioning';
import { UPDATE_CONFIG, UPDATE_DENY_LIST, UPDATE_FARE_RULES, UPDATE_KEYRING, verifyUpdate } from '../firmware/core/uplink/updates';
import { operatorRules } from '../host/settlement/fares';
import { publicKeyOf } from '../firmware/core/uplink/sign';
import { main } from '../host/cli/main';
import { parseWalletFile } from '../host/cli/wallet-file';
import { WalletEmulator } from '../host/wallet/emulator';
import { Keystore } from '../host/cli/keystore';
import { sqliteBackend, World, updatesOf, type Backend } from './settlement-fixtures';

interface Run {
  code: number;
  out: string;
  err: string;
}

async function tapline(...args: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, (l) => out.push(l), (l) => err.push(l));
  return { code, out: out.join('\n'), err: err.join('\n') };
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

/** Every hex secret in the folder's secret files (private keys, token, Wi-Fi password). */
function secretsIn(dir: string): string[] {
  const secrets: string[] = [];
  for (const f of readdirSync(dir)) {
    const path = join(dir, f);
    if (statSync(path).isDirectory()) {
      secrets.push(...secretsIn(path));
      continue;
    }
    if (mode(path) !== 0o600) continue;
    const text = readFileSync(path, 'utf8');
    if (f === 'admin.token') secrets.push(text.trim());
    for (const m of text.matchAll(/"(secretKey|devicePrivateKey|password)":\s*"([^"]+)"/g)) secrets.push(m[2]!);
  }
  return secrets;
}

describe('cli: tapline', function () {
  this.timeout(60_000);
  let dir: string;
  let keys: string;
  const printed: string[] = [];
  const run = async (...args: string[]) => {
    const r = await tapline(...args);
    printed.push(r.out, r.err);
    return r;
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tapline-cli-'));
    keys = join(dir, 'keys');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('prints help for the tool and for every command', async () => {
    const top = await run('--help');
    expect(top.code).to.equal(0);
    for (const c of ['init', 'add-issuer', 'revoke-issuer', 'issue-wallet', 'provision-terminal', 'register', 'report-lost', 'sign-update', 'serve']) {
      expect(top.out).to.include(c);
      const h = await run(c, '--help');
      expect(h.code, c).to.equal(0);
      expect(h.out).to.match(new RegExp(`usage: tapline ${c}`));
    }
    // serve names the back office, the token it asks for, and where it listens
    const serve = (await run('serve', '--help')).out;
    expect(serve).to.match(/\/office/);
    expect(serve).to.match(/operator token/);
    expect(serve).to.match(/admin\.token/);
    expect(serve).to.match(/127\.0\.0\.1:8080 unless --host/);
    const unknown = await run('frobnicate');
    expect(unknown.code).to.equal(2);
    expect(unknown.err).to.match(/unknown command "frobnicate"/);
    const badOption = await run('init', '--nope');
    expect(badOption.code).to.equal(2);
    expect(badOption.err).to.match(/nope/);
  });

  it('the bin launcher runs the TypeScript entry, from any directory', () => {
    const text = execFileSync(process.execPath, [join(process.cwd(), 'host/cli/bin.mjs'), '--help'], { encoding: 'utf8', cwd: dir });
    expect(text).to.match(/usage: tapline COMMAND/);
  });

  it('init creates the keys 0600 in a 0700 folder, prints no secret, refuses to overwrite', async () => {
    const r = await run('init', '--keys', keys, '--issuer-id', '3', '--issuer-alg', 'ed25519');
    expect(r.code, r.err).to.equal(0);
    expect(mode(keys)).to.equal(0o700);
    for (const f of ['root.key', 'issuer-3.key', 'admin.token']) expect(mode(join(keys, f)), f).to.equal(0o600);
    expect(mode(join(keys, 'keyring.json'))).to.equal(0o644);
    const store = new Keystore(keys);
    expect(store.keyring().keys.map((k) => [k.keyId, k.alg])).to.deep.equal([[3, 2]]);
    expect(r.out).to.include(toHex(store.root().publicKey));
    const again = await run('init', '--keys', keys);
    expect(again.code).to.equal(1);
    expect(again.err).to.match(/already holds keys/);
  });

  it('add-issuer rotates a key in and raises the keyring version', async () => {
    const r = await run('add-issuer', '--keys', keys, '--id', '4');
    expect(r.code, r.err).to.equal(0);
    expect(new Keystore(keys).keyring().version).to.equal(2);
    expect((await run('add-issuer', '--keys', keys, '--id', '4')).code).to.equal(1);
  });

  it('issue-wallet writes a 0600 wallet file that the wallet emulator loads', async () => {
    const file = join(dir, 'card.json');
    const r = await run('issue-wallet', '--keys', keys, '--out', file, '--profile', 'card', '--class', '3', '--balance', '5000', '--pin', '2468');
    expect(r.code, r.err).to.equal(0);
    expect(mode(file)).to.equal(0o600);
    const options = parseWalletFile(readFileSync(file, 'utf8'));
    const wallet = new WalletEmulator(options);
    expect(wallet.balance).to.equal(5000);
    expect(wallet.info.walletClass).to.equal(3);
    expect(wallet.info.issuerKeyId).to.equal(4); // the newest issuer key signs
    expect(r.out).to.include(options.walletId);
    const phoneWithPin = await run('issue-wallet', '--keys', keys, '--out', join(dir, 'p.json'), '--profile', 'phone', '--pin', '1234');
    expect(phoneWithPin.code).to.equal(2);
    expect((await run('issue-wallet', '--keys', keys, '--out', file)).code, 'no overwrite').to.equal(1);
  });

  it('provision-terminal writes a provisioning file the terminal parses', async () => {
    const file = join(dir, 'terminal.json');
    const r = await run(
      'provision-terminal', '--keys', keys, '--out', file, '--terminal-id', 'BUS-12', '--merchant-id', 'CITYBUS',
      '--mode', 'transit', '--fare', '200', '--service', 'http://10.0.0.2:8080', '--wifi-ssid', 'depot', '--wifi-password', 'hunter2hunter2',
    );
    expect(r.code, r.err).to.equal(0);
    expect(mode(file)).to.equal(0o600);
    const p = parseProvisioning(readFileSync(file, 'utf8'));
    expect([p.terminalId, p.merchantId, p.mode, p.fare, p.settlementUrl]).to.deep.equal(['BUS-12', 'CITYBUS', 'transit', 200, 'http://10.0.0.2:8080']);
    expect(p.devicePublicKey).to.equal(toHex(publicKeyOf(ALG_P256, fromHex(p.devicePrivateKey))));
    expect(provisionedIssuerKeys(p).map((k) => k.keyId)).to.deep.equal([3, 4]);
    expect(p.rootPublicKey.publicKey).to.equal(toHex(new Keystore(keys).root().publicKey));
    expect(p.wifi).to.deep.equal({ ssid: 'depot', password: 'hunter2hunter2' });
    expect(p.utcOffsetMinutes).to.equal(undefined);
    const till = join(dir, 'till.json');
    expect((await run('provision-terminal', '--keys', keys, '--out', till, '--terminal-id', 'T-8', '--merchant-id', 'M', '--service', 'http://h', '--utc-offset', '480')).code).to.equal(0);
    expect(parseProvisioning(readFileSync(till, 'utf8')).utcOffsetMinutes).to.equal(480);
    const west = await run('provision-terminal', '--keys', keys, '--out', join(dir, 'west.json'), '--terminal-id', 'T-9', '--merchant-id', 'M', '--service', 'http://h', '--utc-offset=-300');
    expect(west.code, west.err).to.equal(0);
    expect(parseProvisioning(readFileSync(join(dir, 'west.json'), 'utf8')).utcOffsetMinutes).to.equal(-300);
    expect((await run('provision-terminal', '--keys', keys, '--out', join(dir, 'far.json'), '--terminal-id', 'T-9', '--merchant-id', 'M', '--service', 'http://h', '--utc-offset', '900')).err).to.match(/--utc-offset is minutes east of UTC/);
    const noFare = await run('provision-terminal', '--keys', keys, '--out', join(dir, 't2.json'), '--terminal-id', 'G1', '--merchant-id', 'M', '--mode', 'transit', '--service', 'http://h');
    expect(noFare.code).to.equal(1);
    expect(noFare.err).to.match(/fare must be an integer/);
  });

  it('sign-update signs deny-list, keyring and configuration updates with the root key', async () => {
    const root = new Keystore(keys).root();
    const deny = join(dir, 'deny.upd');
    expect((await run('sign-update', '--keys', keys, '--kind', 'deny', '--from', '4', '--add', '0011223344556677,8899aabbccddeeff', '--out', deny)).code).to.equal(0);
    const d = verifyUpdate(new Uint8Array(readFileSync(deny)), root.alg, root.publicKey);
    expect(d.kind === UPDATE_DENY_LIST && [d.fromVersion, d.version, d.add.map(toHex)]).to.deep.equal([4, 5, ['0011223344556677', '8899aabbccddeeff']]);
    const ring = join(dir, 'keyring.upd');
    expect((await run('sign-update', '--keys', keys, '--kind', 'keyring', '--out', ring)).code).to.equal(0);
    const k = verifyUpdate(new Uint8Array(readFileSync(ring)), root.alg, root.publicKey);
    expect(k.kind === UPDATE_KEYRING && [k.version, k.keys.length]).to.deep.equal([2, 2]);
    const settings = join(dir, 'settings.json');
    fs.writeFileSync(settings, JSON.stringify({ maxTransaction: 5000 }));
    const cfg = join(dir, 'config.upd');
    expect((await run('sign-update', '--keys', keys, '--kind', 'config', '--version', '3', '--settings', settings, '--out', cfg)).code, 'no --terminal').to.equal(2);
    expect((await run('sign-update', '--keys', keys, '--kind', 'config', '--version', '3', '--settings', settings, '--terminal', 'SHOP-1', '--out', cfg)).code).to.equal(0);
    const c = verifyUpdate(new Uint8Array(readFileSync(cfg)), root.alg, root.publicKey);
    expect(c.kind === UPDATE_CONFIG && [c.terminalId, c.settings]).to.deep.equal(['SHOP-1', { maxTransaction: 5000 }]);
    expect((await run('sign-update', '--keys', keys, '--kind', 'deny', '--from', '1', '--add', 'XYZ', '--out', deny)).code).to.equal(2);
  });

  it('never printed a secret', () => {
    const secrets = secretsIn(dir);
    expect(secrets.length).to.be.greaterThan(6);
    const all = printed.join('\n');
    for (const s of secrets) expect(all.includes(s), 'a secret was printed').to.equal(false);
  });

  it('refuses keys readable by others', async () => {
    fs.chmodSync(join(keys, 'root.key'), 0o644);
    const r = await run('sign-update', '--keys', keys, '--kind', 'keyring', '--out', join(dir, 'x.upd'));
    expect(r.code).to.equal(1);
    expect(r.err).to.match(/readable by others/);
    fs.chmodSync(join(keys, 'root.key'), 0o600);
  });
});

describe('cli: with a running settlement service', function () {
  this.timeout(60_000);
  let backend: Backend;
  let world: World;

  before(async () => {
    backend = await sqliteBackend();
    world = await World.create({ database: await backend.fresh(), seed: 'cli service' });
  });
  after(async () => {
    await world?.close();
    await backend?.stop();
  });

  it('provision-terminal --register and issue-wallet --service register with the service; a config update is delivered', async () => {
    const file = join(world.dir, 'shop.json');
    const r = await tapline('provision-terminal', '--keys', world.keys.dir, '--out', file, '--terminal-id', 'SHOP-1', '--merchant-id', 'BAKERY', '--service', world.url, '--register');
    expect(r.code, r.err).to.equal(0);
    const p = parseProvisioning(readFileSync(file, 'utf8'));
    const walletFile = join(world.dir, 'w.json');
    const iw = await tapline('issue-wallet', '--keys', world.keys.dir, '--out', walletFile, '--profile', 'phone', '--balance', '700', '--service', world.url);
    expect(iw.code, iw.err).to.equal(0);

    // A terminal built from the provisioning file: its device key is the registered one.
    const t = await world.terminal('SHOP-1', { register: false, merchantId: 'BAKERY', deviceSecretKey: fromHex(p.devicePrivateKey) });
    // A tampered secure element that claims more than the 700 the issuer loaded and registered.
    const w = new WalletEmulator({ ...parseWalletFile(readFileSync(walletFile, 'utf8')), holderVerified: true, balance: 10_000 });
    expect((await t.pay(w, 400)).kind).to.equal('approved');
    expect((await t.pay(w, 400)).kind).to.equal('approved');
    const settings = join(world.dir, 's.json');
    fs.writeFileSync(settings, JSON.stringify({ cvmThreshold: 100 }));
    const cfg = join(world.dir, 'c.upd');
    expect((await tapline('sign-update', '--keys', world.keys.dir, '--kind', 'config', '--version', '1', '--settings', settings, '--terminal', 'SHOP-1', '--out', cfg)).code).to.equal(0);
    const elsewhere = await fetch(`${world.url}/v1/updates?terminal=SHOP-2`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', authorization: `Bearer ${world.token}` },
      body: readFileSync(cfg),
    });
    expect(elsewhere.status, 'signed for SHOP-1, offered for SHOP-2').to.equal(400);
    const stored = await fetch(`${world.url}/v1/updates`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', authorization: `Bearer ${world.token}` },
      body: readFileSync(cfg),
    });
    expect(stored.status).to.equal(201);
    const up = await t.upload(world.url);
    expect(up.status).to.equal(200);
    expect(up.response!.results.map((x) => x.reason ?? 'ok')).to.deep.equal(['ok', 'overspend: credited, loss booked, wallet denied']);
    expect(updatesOf(up.response!)).to.include(UPDATE_CONFIG);
    expect(updatesOf(up.response!)).to.include(UPDATE_KEYRING); // the terminal said keyring version 0
    const again = await tapline('provision-terminal', '--keys', world.keys.dir, '--out', join(world.dir, 'other.json'), '--terminal-id', 'SHOP-1', '--merchant-id', 'BAKERY', '--service', world.url, '--register');
    expect(again.code).to.equal(1);
    expect(again.err).to.match(/409/);
    // The original file registers again (same key: an update, not a conflict).
    const reg = await tapline('register', '--keys', world.keys.dir, '--terminal', file, '--service', world.url);
    expect(reg.code, reg.err).to.equal(0);

    const lost = await tapline('report-lost', '--keys', world.keys.dir, '--service', world.url, '--wallet', w.info.walletId);
    expect(lost.code, lost.err).to.equal(0);
    const list = (await fetch(`${world.url}/v1/deny-list?since=0`).then((r) => r.json())) as { entries: { walletId: string; reason: string }[] };
    expect(list.entries.map((e) => e.walletId)).to.include(w.info.walletId);

    expect((await tapline('revoke-issuer', '--keys', world.keys.dir, '--id', '7')).code).to.equal(0);
    expect(world.keys.keyring().keys.map((k) => k.revoked)).to.deep.equal([true]);
  });

  it('sign-update --kind fares signs an operator\'s fare rules, and --service hands them to the service that prices its taps by them', async () => {
    const rules = join(world.dir, 'rules.json');
    fs.writeFileSync(rules, JSON.stringify({ operator: 7, operatorId: 'M-metro', fare: { kind: 'flat', amount: 250 } }));
    const out = join(world.dir, 'fares.upd');
    const r = await tapline('sign-update', '--keys', world.keys.dir, '--kind', 'fares', '--version', '2', '--rules', rules, '--out', out, '--service', world.url);
    expect(r.code, r.err).to.equal(0);
    expect(r.out).to.contain('prices the transit taps of operator M-metro');
    const u = verifyUpdate(new Uint8Array(readFileSync(out)), world.rootAlg, world.rootPublicKey);
    expect(u.kind === UPDATE_FARE_RULES && [u.version, u.operatorId]).to.deep.equal([2, 'M-metro']);
    const held = await world.service!.settlement.db.transaction((tx) => operatorRules(tx, 'M-metro'));
    expect(held && [held.version, held.rules.fare]).to.deep.equal([2, { kind: 'flat', amount: 250 }]);
    // rules that do not validate are named and nothing is written
    fs.writeFileSync(rules, JSON.stringify({ operator: 7, operatorId: 'M-metro', fare: { kind: 'flat' } }));
    const bad = await tapline('sign-update', '--keys', world.keys.dir, '--kind', 'fares', '--version', '3', '--rules', rules, '--out', join(world.dir, 'bad.upd'));
    expect(bad.code).to.equal(2);
    expect(bad.err).to.match(/--rules: fare\.amount/);
    expect(fs.existsSync(join(world.dir, 'bad.upd'))).to.equal(false);
  });
});

// The service signs keyring updates for every terminal from keyring.json: a file edited without the root
// key (an issuer key planted, the signature stripped) must be refused, and a rotation made with the CLI's
// root key taken.
import { expect } from 'chai';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toHex } from '../firmware/base/bytes';
import { ALG_P256 } from '../firmware/core/crypto/verify';
import { UPDATE_KEYRING, verifyUpdate } from '../firmware/core/uplink/updates';
import { publicKeyOf } from '../firmware/core/uplink/sign';
import { startService, type RunningService } from '../host/settlement/service';
import { sqliteBackend, unixNow, World, type Backend, type TestTerminal } from './settlement-fixtures';

describe('settlement service: the issuer keyring file', function () {
  this.timeout(30_000);
  let backend: Backend;
  let world: World;
  let service: RunningService;
  let terminal: TestTerminal;
  const refused: string[] = [];
  let original: unknown;

  /** The keyring the service hands a terminal that holds none: version and key ids. */
  async function delivered(): Promise<[number, number[]]> {
    terminal.keyringVersion = 0;
    const up = await terminal.upload(service.url);
    expect(up.status).to.equal(200);
    for (const bytes of up.response!.updates) {
      const u = verifyUpdate(bytes, world.rootAlg, world.rootPublicKey);
      if (u.kind === UPDATE_KEYRING) return [u.version, u.keys.map((k) => k.keyId)];
    }
    return [-1, []];
  }

  function plant(edit: (o: any) => void): void {
    const path = join(world.keys.dir, 'keyring.json');
    const o = JSON.parse(readFileSync(path, 'utf8'));
    edit(o);
    // A new file (rename), as an editor or a script would leave it.
    writeFileSync(`${path}.new`, JSON.stringify(o));
    renameSync(`${path}.new`, path);
  }

  before(async () => {
    backend = await sqliteBackend();
    world = await World.create();
    service = await startService({ keys: world.keys.dir, database: await backend.fresh(), port: 0, onKeyringRefused: (m) => refused.push(m) });
    world.service = service;
    terminal = await world.terminal('KR-1');
    original = JSON.parse(readFileSync(join(world.keys.dir, 'keyring.json'), 'utf8'));
  });
  after(async () => {
    await service?.close();
    await backend?.stop();
  });

  it('hands out the keyring the root key signed', async () => {
    expect(await delivered()).to.deep.equal([1, [7]]);
  });

  it('refuses an issuer key planted in keyring.json, and keeps the signed keyring', async () => {
    const forged = publicKeyOf(ALG_P256, Uint8Array.from({ length: 32 }, (_, i) => i + 9));
    plant((o) => {
      o.version += 1;
      o.keys.push({ keyId: 66, alg: 'p256', publicKey: toHex(forged), notBefore: 0, notAfter: unixNow() + 86400, revoked: false });
    });
    expect(await delivered()).to.deep.equal([1, [7]]);
    expect(refused.at(-1)).to.match(/changed without the root key/);
  });

  it('refuses a keyring.json with its signature stripped', async () => {
    plant((o) => delete o.signed);
    expect(await delivered()).to.deep.equal([1, [7]]);
    expect(refused.at(-1)).to.match(/not signed by the root key/);
  });

  it('takes a rotation made with the root key (tapline add-issuer)', async () => {
    // The CLI refuses to build on a file changed behind its back, too.
    expect(() => world.keys.revokeIssuer(7)).to.throw(/not signed by the root key/);
    plant((o) => Object.assign(o, original));
    world.keys.revokeIssuer(7);
    expect(await delivered()).to.deep.equal([2, [7]]);
    world.keys.addIssuer({ alg: ALG_P256, keyId: 8, notBefore: unixNow() - 60, notAfter: unixNow() + 86400 });
    expect(await delivered()).to.deep.equal([3, [7, 8]]);
  });
});

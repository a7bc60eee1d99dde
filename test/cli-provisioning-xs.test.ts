// The provisioning file parser on the XS engine (the device parses it at boot): same result as Node,
// same named errors.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseProvisioning, provisionedIssuerKeys } from '../firmware/core/provisioning';
import { main } from '../host/cli/main';
import { XSScenario } from '../host/xs/scenario';

describe('cli: provisioning file on the XS engine @xs', function () {
  this.timeout(120_000);
  let xs: XSScenario;
  let dir: string;
  let text: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tapline-xs-prov-'));
    const keys = join(dir, 'keys');
    const quiet = () => {};
    expect(await main(['init', '--keys', keys, '--issuer-alg', 'ed25519'], quiet, quiet)).to.equal(0);
    expect(await main(['add-issuer', '--keys', keys, '--id', '9'], quiet, quiet)).to.equal(0);
    const file = join(dir, 'gate.json');
    const args = ['provision-terminal', '--keys', keys, '--out', file, '--terminal-id', 'GATE-3', '--merchant-id', 'METRO', '--mode', 'transit', '--fare', '300', '--service', 'http://10.1.2.3:8080', '--wifi-ssid', 'metro-ops', '--wifi-password', 'underground'];
    expect(await main(args, quiet, quiet)).to.equal(0);
    text = readFileSync(file, 'utf8');
    xs = await XSScenario.load('test/xs/settlement-provisioning.guest.ts');
  });
  after(async () => {
    await xs?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('parses a CLI-written file exactly as Node does', async () => {
    const { value } = await xs.call<{ ok: boolean; provisioning: unknown; keyIds: number[] }>('parse', text);
    const p = parseProvisioning(text);
    expect(value.ok).to.equal(true);
    expect(value.provisioning).to.deep.equal(JSON.parse(JSON.stringify(p)));
    expect(value.keyIds).to.deep.equal(provisionedIssuerKeys(p).map((k) => k.keyId));
  });

  it('refuses a bad file with the same named error', async () => {
    const bad = JSON.parse(text);
    bad.risk.walletClasses['2'].daily = 'lots';
    const { value } = await xs.call<{ ok: boolean; error: string }>('parse', JSON.stringify(bad));
    expect(value).to.deep.equal({ ok: false, error: 'ProvisioningError: risk: class 2 daily must be a non-negative integer, got "lots"' });
  });
});

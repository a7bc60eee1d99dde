// The provisioning file contract (firmware/core/provisioning.ts): what the CLI writes, the simulator
// and the device load. Every wrong field stops with a ProvisioningError naming it.
import { expect } from 'chai';
import { p256 } from '@noble/curves/nist.js';
import { toHex } from '../firmware/base/bytes';
import { formatProvisioning, parseProvisioning, provisionedIssuerKeys, ProvisioningError, type Provisioning } from '../firmware/core/provisioning';
import { DEFAULT_RISK_CONFIG } from '../firmware/core/risk/config';

function sample(): Provisioning {
  const secret = new Uint8Array(32).fill(3);
  return {
    version: 1,
    terminalId: 'T-0001',
    devicePrivateKey: toHex(secret),
    devicePublicKey: toHex(p256.getPublicKey(secret, true)),
    merchantId: 'SHOP.42',
    mode: 'merchant',
    risk: structuredClone(DEFAULT_RISK_CONFIG),
    issuerKeys: [{ keyId: 7, alg: 'p256', publicKey: toHex(p256.getPublicKey(new Uint8Array(32).fill(9), true)), notBefore: 1000, notAfter: 2000 }],
    rootPublicKey: { alg: 'ed25519', publicKey: 'ab'.repeat(32) },
    settlementUrl: 'http://192.168.1.10:8080/',
    wifi: { ssid: 'shop', password: 'correct horse' },
  };
}

describe('cli: provisioning file', () => {
  it('round-trips through formatProvisioning and gives keyring entries', () => {
    const p = parseProvisioning(formatProvisioning(sample()));
    expect(p.settlementUrl).to.equal('http://192.168.1.10:8080');
    expect(p.risk).to.deep.equal(DEFAULT_RISK_CONFIG);
    const [key] = provisionedIssuerKeys(p);
    expect([key!.keyId, key!.alg, key!.revoked]).to.deep.equal([7, 1, false]);
  });

  const cases: [string, (p: any) => void, RegExp][] = [
    ['not JSON', () => {}, /not JSON/],
    ['an unknown field', (p) => (p.extra = 1), /unknown field "extra"/],
    ['a bad version', (p) => (p.version = 2), /version 2 is not supported/],
    ['a long terminal id', (p) => (p.terminalId = 'T'.repeat(17)), /terminalId must be 1\.\.16/],
    ['a short device key', (p) => (p.devicePrivateKey = 'ab'), /devicePrivateKey has 1 bytes, expected 32/],
    ['an unknown mode', (p) => (p.mode = 'kiosk'), /mode must be/],
    ['transit without a fare', (p) => (p.mode = 'transit'), /fare must be an integer/],
    ['a fare in merchant mode', (p) => (p.fare = 200), /fare is only allowed in transit mode/],
    ['a bad risk config', (p) => (p.risk.maxTransaction = -1), /risk: maxTransaction must be a non-negative integer/],
    ['no issuer keys', (p) => (p.issuerKeys = []), /issuerKeys must hold 1\.\.32 keys/],
    ['a duplicated key id', (p) => p.issuerKeys.push({ ...p.issuerKeys[0] }), /duplicated keyId/],
    ['an inverted key window', (p) => (p.issuerKeys[0].notAfter = 10), /issuerKeys\[0\]: notAfter must be later/],
    ['an Ed25519 root of 33 bytes', (p) => (p.rootPublicKey.publicKey = 'ab'.repeat(33)), /rootPublicKey.publicKey has 33 bytes/],
    ['a URL with a query', (p) => (p.settlementUrl = 'http://h/x?y=1'), /settlementUrl must be an http/],
    ['a short Wi-Fi password', (p) => (p.wifi.password = 'short'), /wifi.password must be empty/],
  ];
  for (const [name, change, message] of cases) {
    it(`refuses ${name}`, () => {
      const p = sample() as any;
      change(p);
      const text = name === 'not JSON' ? '{"version": 1,' : JSON.stringify(p);
      expect(() => parseProvisioning(text)).to.throw(ProvisioningError, message);
    });
  }
});

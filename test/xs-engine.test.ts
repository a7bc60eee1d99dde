import { expect } from 'chai';
import { p256 } from '@noble/curves/nist.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex, utf8Encode } from '../firmware/base/bytes';
import { XSScenario } from '../host/xs/scenario';

describe('the XS engine @xs', () => {
  let xs: XSScenario;
  before(async () => (xs = await XSScenario.load('test/xs/engine.guest.ts')));
  after(() => xs?.close());

  it('hashes as Node does', async () => {
    const { value } = await xs.call<string>('sha256', 'tapline');
    expect(value).to.equal(toHex(sha256(utf8Encode('tapline'))));
  });

  for (const alg of ['p256', 'ed25519'] as const) {
    it(`verifies a good ${alg} signature and refuses a tampered one`, async () => {
      const curve = alg === 'p256' ? p256 : ed25519;
      const secret = curve.utils.randomSecretKey();
      const message = utf8Encode('pay 1250 to terminal 7');
      const signature = curve.sign(message, secret);
      const publicKey = curve.getPublicKey(secret);
      const args = { alg, publicKey: toHex(publicKey), message: toHex(message), signature: toHex(signature) };
      expect((await xs.call<boolean>('verify', args)).value).to.equal(true);
      const tampered = { ...args, message: toHex(utf8Encode('pay 9250 to terminal 7')) };
      expect((await xs.call<boolean>('verify', tampered)).value).to.equal(false);
    });
  }

  it('meters the work it does', async () => {
    const { meter } = await xs.call('sha256', 'x'.repeat(1000));
    expect(meter.compute).to.be.greaterThan(0);
  });
});

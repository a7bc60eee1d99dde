import { expect } from 'chai';
import { ALG_P256, verifySignature, type VerifyFn } from '../firmware/core/crypto/verify';
import { XSScenario } from '../host/xs/scenario';
import { creationOf, DeviceHost } from '../host/xsdev/device-host';
import { STORE_VERIFY_EXPECT, storeVerifyScenario } from './xs/update-store-verify';

describe('uplink store: signed updates checked with the primitive it is given', () => {
  it(`on Node with noble: ${STORE_VERIFY_EXPECT}`, () => {
    expect(storeVerifyScenario()).to.equal(STORE_VERIFY_EXPECT);
  });

  it('a primitive that accepts all is what the store asks: a forged update is then taken (nothing else checked it)', () => {
    const acceptAll: VerifyFn = (alg, ...rest) => alg === ALG_P256 || verifySignature(alg, ...rest);
    expect(storeVerifyScenario(acceptAll)).to.match(/^v1 applied; forged: taken; tampered: taken;/);
  });

  describe('in XS @xs', () => {
    let xs: XSScenario;
    before(async () => (xs = await XSScenario.load('test/xs/update-store-verify.guest.ts')));
    after(() => xs?.close());

    it(`with noble: ${STORE_VERIFY_EXPECT}`, async () => {
      expect((await xs.call<boolean>('native')).value).to.equal(false);
      expect((await xs.call<string>('scenario')).value).to.equal(STORE_VERIFY_EXPECT);
    });
  });

  describe('on the device-sized host (native/xsdev) with the native primitive @xs', function () {
    this.timeout(120_000);
    let host: DeviceHost;
    before(async () => (host = await DeviceHost.start(creationOf('esp32s3-devkitc'), { app: 'test/xs/update-store-verify.guest.ts' })));
    after(() => host?.close());

    it(`native: ${STORE_VERIFY_EXPECT}`, async () => {
      expect((await host.call<boolean>('native')).value).to.equal(true);
      expect((await host.call<string>('scenario')).value).to.equal(STORE_VERIFY_EXPECT);
    });
  });
});

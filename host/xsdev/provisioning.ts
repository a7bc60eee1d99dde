// The provisioning file of the device-sized scenarios (host/xsdev/scenario.ts) and of the simulated
// device's tests (test/xs/device-world.ts): one builder, so both boot the same file but for what they vary.
// Platform-free: the device world runs on XS too.
import { toHex } from '../../firmware/base/bytes';
import { ALG_P256, type Alg } from '../../firmware/core/crypto/verify';
import type { IssuerKey } from '../../firmware/core/crypto/keyring';
import { DEFAULT_RISK_CONFIG } from '../../firmware/core/risk/config';
import type { Mode } from '../../firmware/core/risk/engine';
import { publicKeyOf } from '../../firmware/core/uplink/sign';

export interface ProvisioningOptions {
  /** The terminal's P-256 private key (32 bytes). */
  deviceKey: Uint8Array;
  merchantId: string;
  mode: Mode;
  issuerAlg: Alg;
  issuerKey: Pick<IssuerKey, 'keyId' | 'publicKey' | 'notBefore' | 'notAfter'>;
  /** The root's P-256 public key. */
  rootPublicKey: Uint8Array;
  /** Transit: the operator's signed fare rules (update kind 6) and this validator's station. */
  fares?: { signedRules: Uint8Array; station: number };
}

/** The provisioning JSON text, as the `provision` partition holds it. Transit gets the flat fare 200. */
export function provisioningText(o: ProvisioningOptions): string {
  return JSON.stringify({
    version: 1,
    terminalId: 'T-0042',
    devicePrivateKey: toHex(o.deviceKey),
    devicePublicKey: toHex(publicKeyOf(ALG_P256, o.deviceKey)),
    merchantId: o.merchantId,
    mode: o.mode,
    ...(o.mode === 'transit' ? { fare: 200 } : {}),
    ...(o.fares ? { station: o.fares.station, fareRules: toHex(o.fares.signedRules) } : {}),
    risk: DEFAULT_RISK_CONFIG,
    issuerKeys: [{
      keyId: o.issuerKey.keyId, alg: o.issuerAlg === ALG_P256 ? 'p256' : 'ed25519', publicKey: toHex(o.issuerKey.publicKey),
      notBefore: o.issuerKey.notBefore, notAfter: o.issuerKey.notAfter,
    }],
    rootPublicKey: { alg: 'p256', publicKey: toHex(o.rootPublicKey) },
    settlementUrl: 'http://192.168.1.10:8080',
  });
}

/** The root key the scenarios use when they bring none of their own: 0x21, 0x22, ... */
export function fixedRootSecretKey(): Uint8Array {
  return Uint8Array.from({ length: 32 }, (_, i) => 0x21 + i);
}

export function fixedRootPublicKey(): Uint8Array {
  return publicKeyOf(ALG_P256, fixedRootSecretKey());
}

// The issuer's side: issuer key pairs and wallet certificates. Used by the provisioning CLI, the tests
// and the simulator. Platform-free; randomness comes in as RandomBytes.
import { p256 } from '@noble/curves/nist.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import type { RandomBytes } from '../../firmware/base/platform';
import type { IssuerKey } from '../../firmware/core/crypto/keyring';
import { ALG_P256, type Alg } from '../../firmware/core/crypto/verify';
import { toHex } from '../../firmware/base/bytes';
import {
  certificateSignedPayload,
  encodeCertificate,
  encodeCertificateBody,
  type CertificateBody,
} from '../../firmware/core/protocol/messages';

export interface KeyPair {
  alg: Alg;
  secretKey: Uint8Array;
  /** P-256: compressed SEC1 (33 bytes); Ed25519: 32 bytes. */
  publicKey: Uint8Array;
}

export function generateKeyPair(alg: Alg, random: RandomBytes): KeyPair {
  if (alg === ALG_P256) {
    const secretKey = p256.utils.randomSecretKey(random(48));
    return { alg, secretKey, publicKey: p256.getPublicKey(secretKey, true) };
  }
  const secretKey = random(32);
  return { alg, secretKey, publicKey: ed25519.getPublicKey(secretKey) };
}

/** Deterministic signatures (RFC 6979 for P-256, RFC 8032 for Ed25519): no randomness needed to sign. */
export function sign(pair: { alg: Alg; secretKey: Uint8Array }, message: Uint8Array): Uint8Array {
  if (pair.alg === ALG_P256) return p256.sign(message, pair.secretKey, { prehash: true, extraEntropy: false });
  return ed25519.sign(message, pair.secretKey);
}

export interface Issuer {
  /** The public entry terminals cache. */
  key: IssuerKey;
  secretKey: Uint8Array;
}

export function createIssuer(
  alg: Alg,
  random: RandomBytes,
  options: { keyId: number; notBefore: number; notAfter: number },
): Issuer {
  const pair = generateKeyPair(alg, random);
  return {
    key: { keyId: options.keyId, alg, publicKey: pair.publicKey, notBefore: options.notBefore, notAfter: options.notAfter, revoked: false },
    secretKey: pair.secretKey,
  };
}

export type WalletFields = Omit<CertificateBody, 'issuerKeyId' | 'issuerAlg'>;

/** Signs a wallet certificate; issuer key id and algorithm come from the issuer. */
export function signCertificate(issuer: Issuer, fields: WalletFields): Uint8Array {
  const body: CertificateBody = { ...fields, issuerKeyId: issuer.key.keyId, issuerAlg: issuer.key.alg };
  const signature = sign({ alg: issuer.key.alg, secretKey: issuer.secretKey }, certificateSignedPayload(encodeCertificateBody(body)));
  return encodeCertificate(body, signature);
}

export interface IssuedWallet {
  keys: KeyPair;
  certificate: Uint8Array;
}

/** Creates a wallet key pair and its certificate; wallet id and serial are random unless given. */
export function issueWallet(
  issuer: Issuer,
  random: RandomBytes,
  options: Partial<WalletFields> & { alg: Alg; walletClass: number; notBefore: number; notAfter: number },
): IssuedWallet {
  const keys = generateKeyPair(options.alg, random);
  const certificate = signCertificate(issuer, {
    serial: options.serial ?? toHex(random(8)),
    walletId: options.walletId ?? toHex(random(8)),
    alg: options.alg,
    publicKey: keys.publicKey,
    walletClass: options.walletClass,
    singleLimit: options.singleLimit ?? 2 ** 48 - 1,
    dailyLimit: options.dailyLimit ?? 2 ** 48 - 1,
    notBefore: options.notBefore,
    notAfter: options.notAfter,
    ...(options.offlineAmountCap !== undefined ? { offlineAmountCap: options.offlineAmountCap } : {}),
    ...(options.offlineCountCap !== undefined ? { offlineCountCap: options.offlineCountCap } : {}),
    ...(options.concession !== undefined ? { concession: options.concession } : {}),
    ...(options.concessionUntil !== undefined ? { concessionUntil: options.concessionUntil } : {}),
  });
  return { keys, certificate };
}

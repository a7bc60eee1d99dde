// The signature algorithms of the wallet protocol, as the signed messages name them. Plain data, so the
// message codecs can check a field without depending on the verification code.

export const ALG_P256 = 1;
export const ALG_ED25519 = 2;
export type Alg = typeof ALG_P256 | typeof ALG_ED25519;

export function isAlg(value: number): value is Alg {
  return value === ALG_P256 || value === ALG_ED25519;
}

export function algName(alg: Alg): string {
  return alg === ALG_P256 ? 'P-256' : 'Ed25519';
}

/** Public key lengths each algorithm accepts: P-256 compressed or uncompressed SEC1, Ed25519 raw. */
export function publicKeyFits(alg: Alg, publicKey: Uint8Array): boolean {
  if (alg === ALG_P256) return publicKey.length === 33 || publicKey.length === 65;
  return publicKey.length === 32;
}

export const SIGNATURE_LENGTH = 64;

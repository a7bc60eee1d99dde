// The device's native primitives (native/tapline_native.c: mbedTLS P-256 and SHA-256, libsodium
// Ed25519, a table CRC-32) behind the core's ports. Platform-free: firmware/app/main.ts passes the
// Moddable module's functions, the device-sized host (native/xsdev) its own build of the same C file.
// noble and firmware/core/journal/crc32.ts stay the reference; boot checks the verifier against noble.
import { ALG_ED25519, ALG_P256, publicKeyFits, SIGNATURE_LENGTH, type VerifyFn } from '../core/crypto/verify';
import type { HashPort } from '../base/hash';
import { nobleSha256, parseBlockHeader } from '../core/journal/journal';
import { Crc32 } from '../core/journal/crc32';

/** What the C module exports (each takes Uint8Arrays; none keeps a reference to its arguments). */
export interface NativePrimitives {
  p256Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
  ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
  /** SHA-256 of the arguments' concatenation. */
  sha256(...parts: Uint8Array[]): ArrayBuffer;
  crc32(bytes: Uint8Array, start?: number, end?: number): number;
  /** A journal block header's check (parseBlockHeader's contract, its CRC-32 in C). */
  blockHeader(bytes: Uint8Array | ArrayBuffer, out: Uint32Array): boolean;
}

export type { HashPort } from '../base/hash';

/** verifySignature's contract over the native verifiers: false for a wrong-sized key or signature. */
export function nativeVerify(n: NativePrimitives): VerifyFn {
  return (alg, publicKey, message, signature) => {
    if (signature.length !== SIGNATURE_LENGTH || !publicKeyFits(alg, publicKey)) return false;
    if (alg === ALG_P256) return n.p256Verify(publicKey, message, signature) === true;
    if (alg === ALG_ED25519) return n.ed25519Verify(publicKey, message, signature) === true;
    return false;
  };
}

/** The journal's chain and torn-write checks and the certificate digests, in C. */
export function nativeHashes(n: NativePrimitives): HashPort {
  return {
    sha256: (parts) => new Uint8Array(n.sha256(...parts)),
    // the C function itself: no frame of ours per call (a boot checks every block header's CRC)
    crc32: n.crc32,
    blockHeader: n.blockHeader,
  };
}

/** The JavaScript hashes the native ones are checked against (and the journal's defaults). */
export function referenceHashes(): HashPort {
  const crc = new Crc32();
  const crc32 = (bytes: Uint8Array, start: number, end: number) => crc.compute(bytes, start, end);
  return { sha256: nobleSha256, crc32, blockHeader: (bytes, out) => parseBlockHeader(bytes, out, crc32) };
}

// P-256 verification in Moddable's C arithmetic (modules/crypt: ec.c, mont.c) and C SHA-256, for the
// device: noble's pure-JS verification costs ~3 million XS computrons and a few hundred KB of heap per
// signature, which a merchant tap cannot afford on an ESP32. Same contract as verifySignature in
// firmware/core/crypto/verify.ts (SEC1 public key, 64-byte r || s, SHA-256 of the message; false, never
// a throw, for anything malformed). Boot checks it against noble before use (firmware/app/boot.ts).
// The SDK ships no typings for these three; types/moddable.d.ts declares them for the host type check.
// @ts-ignore
import Curve from 'curve';
// @ts-ignore
import ECDSA from 'ecdsa';
// @ts-ignore
import ECPoint from 'ecp';
import { Digest } from 'crypt';

const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

function toBigInt(bytes: Uint8Array): bigint {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = base % modulus;
  for (let e = exponent; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
  }
  return result;
}

/** The curve point of a SEC1 public key (33 bytes compressed or 65 uncompressed), or undefined. */
function decodePoint(key: Uint8Array): InstanceType<typeof ECPoint> | undefined {
  const x = toBigInt(key.subarray(1, 33));
  if (x >= P) return undefined;
  const rhs = (((x * x) % P) * x - 3n * x + B) % P;
  const right = rhs < 0n ? rhs + P : rhs;
  let y: bigint;
  if (key.length === 65 && key[0] === 4) {
    y = toBigInt(key.subarray(33, 65));
  } else if (key.length === 33 && (key[0] === 2 || key[0] === 3)) {
    // p = 3 mod 4: a square root is rhs^((p + 1) / 4)
    y = modPow(right, (P + 1n) / 4n, P);
    if ((y & 1n) !== BigInt(key[0]! & 1)) y = P - y;
  } else {
    return undefined;
  }
  if (y >= P || (y * y) % P !== right) return undefined;
  return new ECPoint(x, y);
}

function buffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer as ArrayBuffer;
}

export function nativeP256Verifier(): (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean {
  const curve = new Curve('secp256r1');
  return (publicKey, message, signature) => {
    try {
      if (signature.length !== 64) return false;
      const r = toBigInt(signature.subarray(0, 32));
      const s = toBigInt(signature.subarray(32, 64));
      if (r === 0n || s === 0n || r >= N || s >= N) return false;
      const point = decodePoint(publicKey);
      if (!point) return false;
      const sha256 = new Digest('SHA256');
      sha256.write(buffer(message));
      const digest = sha256.close();
      return new ECDSA(point, curve).verify(digest, buffer(signature), false) === true;
    } catch {
      return false;
    }
  };
}

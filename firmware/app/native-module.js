// The device's binding of native/tapline_native.c (the manifests build the C file and map this module to
// "tapline-native"); firmware/app/native.ts wraps these behind the core's ports.
export function p256Verify(publicKey, message, signature) @ "xs_tapline_p256_verify";
export function ed25519Verify(publicKey, message, signature) @ "xs_tapline_ed25519_verify";
export function sha256(bytes) @ "xs_tapline_sha256";
export function crc32(bytes, start, end) @ "xs_tapline_crc32";
export function blockHeader(bytes, out) @ "xs_tapline_block_header";
export function restart() @ "xs_tapline_restart";

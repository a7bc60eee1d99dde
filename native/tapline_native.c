/*
 * The terminal's native primitives, one job each, as xsmc host functions: the same file builds into the
 * device (manifests/common.json, over ESP-IDF's mbedtls component through PSA Crypto, and libsodium)
 * and into the device-sized host native/xsdev (over Debian's libmbedtls-dev and libsodium-dev). The JavaScript
 * versions (noble, firmware/core/journal/crc32.ts) stay the reference: boot compares both on fixed
 * vectors and test/xsdev.test.ts on docs/vectors/ and fuzzed inputs.
 *
 * Contract of the verifiers: true only for a valid signature, false (never an exception) for anything
 * malformed, like verifySignature in firmware/core/crypto/verify.ts.
 */
#include "xsmc.h"
#include <string.h>
#include <stdint.h>

/*
 * P-256 and SHA-256 go through the PSA Crypto API only: ESP-IDF v6.0 ships Mbed TLS 4.0, where the
 * legacy mbedtls_ecdsa_* and mbedtls_sha256_* calls are gone and PSA is the interface (and where its
 * hardware SHA is a PSA driver); Debian's libmbedtls-dev 2.28 provides the same calls, so the host
 * tests this very code. docs/DEVICE.md ("Which mbedTLS") says where that comes from.
 */
#include "psa/crypto.h"
#include "sodium.h"

/* Bytes of a Uint8Array, DataView or ArrayBuffer argument. */
static uint8_t *bytesOf(xsMachine *the, int index, xsUnsignedValue *length)
{
	void *data;
	xsmcGetBufferReadable(xsArg(index), &data, length);
	return (uint8_t *)data;
}

/* ESP-IDF initializes PSA at startup and psa_crypto_init() may be called again; the host needs it once. */
static void psaReady(xsMachine *the)
{
	psa_status_t status = psa_crypto_init();
	if (status != PSA_SUCCESS)
		xsUnknownError("psa_crypto_init: %d", (int)status);
}

/*
 * P-256 point decompression. psa_import_key takes a Weierstrass public key only uncompressed
 * (0x04 || x || y), and Mbed TLS 4 keeps its bignums private, so a compressed key (33 bytes, what
 * certificates carry) is decompressed here: y = (x^3 - 3x + b)^((p + 1) / 4) mod p, as p = 3 mod 4.
 * Field elements are 8 little-endian 32-bit limbs in Montgomery form (R = 2^256). Public data only,
 * so nothing here needs to run in constant time.
 */
typedef uint32_t Fe[8];
static const Fe P256_P = { 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0, 0, 0, 1, 0xFFFFFFFF };
static const uint8_t P256_B[32] = {
	0x5a, 0xc6, 0x35, 0xd8, 0xaa, 0x3a, 0x93, 0xe7, 0xb3, 0xeb, 0xbd, 0x55, 0x76, 0x98, 0x86, 0xbc,
	0x65, 0x1d, 0x06, 0xb0, 0xcc, 0x53, 0xb0, 0xf6, 0x3b, 0xce, 0x3c, 0x3e, 0x27, 0xd2, 0x60, 0x4b,
};

/* r = a - p when a >= p (a has a ninth limb `high`), else a. */
static void feReduceOnce(Fe r, const uint32_t a[8], uint32_t high)
{
	Fe d;
	int64_t borrow = 0;
	for (int i = 0; i < 8; i++) {
		int64_t v = (int64_t)a[i] - P256_P[i] + borrow;
		d[i] = (uint32_t)v;
		borrow = v >> 32;
	}
	int useDifference = ((int64_t)high + borrow) >= 0;
	for (int i = 0; i < 8; i++)
		r[i] = useDifference ? d[i] : a[i];
}

static void feAdd(Fe r, const Fe a, const Fe b)
{
	uint32_t sum[8];
	uint64_t carry = 0;
	for (int i = 0; i < 8; i++) {
		carry += (uint64_t)a[i] + b[i];
		sum[i] = (uint32_t)carry;
		carry >>= 32;
	}
	feReduceOnce(r, sum, (uint32_t)carry);
}

static void feSub(Fe r, const Fe a, const Fe b)
{
	int64_t borrow = 0;
	for (int i = 0; i < 8; i++) {
		int64_t v = (int64_t)a[i] - b[i] + borrow;
		r[i] = (uint32_t)v;
		borrow = v >> 32;
	}
	if (borrow) {
		uint64_t carry = 0;
		for (int i = 0; i < 8; i++) {
			carry += (uint64_t)r[i] + P256_P[i];
			r[i] = (uint32_t)carry;
			carry >>= 32;
		}
	}
}

/* r = a * b / R mod p (CIOS Montgomery; -p^-1 mod 2^32 is 1, as p's low limb is 2^32 - 1). */
static void feMul(Fe r, const Fe a, const Fe b)
{
	uint32_t t[10] = { 0 };
	for (int i = 0; i < 8; i++) {
		uint64_t c = 0;
		for (int j = 0; j < 8; j++) {
			c += (uint64_t)t[j] + (uint64_t)a[j] * b[i];
			t[j] = (uint32_t)c;
			c >>= 32;
		}
		c += t[8];
		t[8] = (uint32_t)c;
		t[9] = (uint32_t)(c >> 32);
		uint32_t m = t[0];
		c = ((uint64_t)t[0] + (uint64_t)m * P256_P[0]) >> 32;
		for (int j = 1; j < 8; j++) {
			c += (uint64_t)t[j] + (uint64_t)m * P256_P[j];
			t[j - 1] = (uint32_t)c;
			c >>= 32;
		}
		c += t[8];
		t[7] = (uint32_t)c;
		t[8] = t[9] + (uint32_t)(c >> 32);
	}
	feReduceOnce(r, t, t[8]);
}

static void feFromBytes(Fe r, const uint8_t bytes[32])
{
	for (int i = 0; i < 8; i++)
		r[i] = ((uint32_t)bytes[31 - 4 * i]) | ((uint32_t)bytes[30 - 4 * i] << 8) | ((uint32_t)bytes[29 - 4 * i] << 16) | ((uint32_t)bytes[28 - 4 * i] << 24);
}

static void feToBytes(uint8_t bytes[32], const Fe a)
{
	for (int i = 0; i < 8; i++) {
		bytes[31 - 4 * i] = (uint8_t)a[i];
		bytes[30 - 4 * i] = (uint8_t)(a[i] >> 8);
		bytes[29 - 4 * i] = (uint8_t)(a[i] >> 16);
		bytes[28 - 4 * i] = (uint8_t)(a[i] >> 24);
	}
}

static int feLessThanP(const Fe a)
{
	for (int i = 7; i >= 0; i--)
		if (a[i] != P256_P[i])
			return a[i] < P256_P[i];
	return 0;
}

/* 65 bytes 0x04 || x || y from a 33-byte 0x02/0x03 || x; nonzero when x is not on the curve. */
static int p256Decompress(uint8_t out[65], const uint8_t key[33])
{
	Fe x, one, rr, xm, bm, t, rhs, y, e;
	if ((key[0] != 2) && (key[0] != 3))
		return -1;
	feFromBytes(x, key + 1);
	if (!feLessThanP(x))
		return -1;
	/* R mod p = 2^256 - p (the two's complement of p), then R^2 mod p by 256 doublings */
	Fe zero = { 0 };
	uint64_t carry = 1;
	for (int i = 0; i < 8; i++) {
		carry += (uint32_t)~P256_P[i];
		one[i] = (uint32_t)carry;
		carry >>= 32;
	}
	memcpy(rr, one, sizeof(Fe));
	for (int i = 0; i < 256; i++)
		feAdd(rr, rr, rr);
	feMul(xm, x, rr);
	feFromBytes(t, P256_B);
	feMul(bm, t, rr);
	feMul(t, xm, xm);
	feMul(rhs, t, xm);
	feSub(rhs, rhs, xm);
	feSub(rhs, rhs, xm);
	feSub(rhs, rhs, xm);
	feAdd(rhs, rhs, bm);
	/* e = (p + 1) / 4 */
	carry = 1;
	for (int i = 0; i < 8; i++) {
		carry += P256_P[i];
		e[i] = (uint32_t)carry;
		carry >>= 32;
	}
	for (int i = 0; i < 8; i++)
		e[i] = (e[i] >> 2) | ((i < 7) ? (e[i + 1] << 30) : ((uint32_t)carry << 30));
	memcpy(y, one, sizeof(Fe));
	for (int bit = 255; bit >= 0; bit--) {
		feMul(y, y, y);
		if ((e[bit / 32] >> (bit % 32)) & 1)
			feMul(y, y, rhs);
	}
	feMul(t, y, y);
	if (memcmp(t, rhs, sizeof(Fe)))
		return -1;
	Fe plain = { 1, 0, 0, 0, 0, 0, 0, 0 };
	feMul(y, y, plain);
	if ((y[0] & 1) != (key[0] & 1))
		feSub(y, zero, y);
	out[0] = 4;
	memcpy(out + 1, key + 1, 32);
	feToBytes(out + 33, y);
	return 0;
}

/*
 * p256Verify(publicKey, message, signature): ECDSA P-256 over SHA-256 of message, signature r || s;
 * the key SEC1, 65 bytes uncompressed or 33 compressed. The import checks the point is on the curve;
 * psa_verify_hash refuses r or s out of [1, n-1].
 */
void xs_tapline_p256_verify(xsMachine *the)
{
	xsUnsignedValue keyLength, messageLength, signatureLength;
	uint8_t *key = bytesOf(the, 0, &keyLength);
	uint8_t *message = bytesOf(the, 1, &messageLength);
	uint8_t *signature = bytesOf(the, 2, &signatureLength);
	uint8_t digest[32], point[65];
	size_t digestLength = 0;
	int ok = 0;
	if (signatureLength != 64) {
		xsmcSetFalse(xsResult);
		return;
	}
	if (keyLength == 33) {
		if (p256Decompress(point, key)) {
			xsmcSetFalse(xsResult);
			return;
		}
		key = point;
		keyLength = 65;
	}
	if ((keyLength != 65) || (key[0] != 4)) {
		xsmcSetFalse(xsResult);
		return;
	}
	psaReady(the);
	/* the engine does not allocate (or move the buffers) until this function returns */
	if (psa_hash_compute(PSA_ALG_SHA_256, message, messageLength, digest, sizeof(digest), &digestLength) == PSA_SUCCESS) {
		psa_key_attributes_t attributes = PSA_KEY_ATTRIBUTES_INIT;
		psa_key_id_t id = 0;
		psa_set_key_type(&attributes, PSA_KEY_TYPE_ECC_PUBLIC_KEY(PSA_ECC_FAMILY_SECP_R1));
		psa_set_key_bits(&attributes, 256);
		psa_set_key_usage_flags(&attributes, PSA_KEY_USAGE_VERIFY_HASH);
		psa_set_key_algorithm(&attributes, PSA_ALG_ECDSA(PSA_ALG_SHA_256));
		if (psa_import_key(&attributes, key, keyLength, &id) == PSA_SUCCESS) {
			ok = psa_verify_hash(id, PSA_ALG_ECDSA(PSA_ALG_SHA_256), digest, digestLength, signature, signatureLength) == PSA_SUCCESS;
			psa_destroy_key(id);
		}
		psa_reset_key_attributes(&attributes);
	}
	xsmcSetBoolean(xsResult, ok);
}

/* ed25519Verify(publicKey, message, signature): RFC 8032 (libsodium also refuses small-order keys). */
void xs_tapline_ed25519_verify(xsMachine *the)
{
	xsUnsignedValue keyLength, messageLength, signatureLength;
	uint8_t *key = bytesOf(the, 0, &keyLength);
	uint8_t *message = bytesOf(the, 1, &messageLength);
	uint8_t *signature = bytesOf(the, 2, &signatureLength);
	int ok = 0;
	if ((keyLength == crypto_sign_PUBLICKEYBYTES) && (signatureLength == crypto_sign_BYTES) && (sodium_init() >= 0))
		ok = crypto_sign_verify_detached(signature, message, messageLength, key) == 0;
	xsmcSetBoolean(xsResult, ok);
}

/*
 * sha256(...parts) -> ArrayBuffer of 32 bytes: SHA-256 of the parts' concatenation, so that the journal's
 * chain link (previous link, record head, payload) is hashed without copying them into one buffer.
 */
void xs_tapline_sha256(xsMachine *the)
{
	int argc = xsmcArgc;
	uint8_t digest[32];
	size_t digestLength = 0;
	psa_hash_operation_t operation = PSA_HASH_OPERATION_INIT;
	psa_status_t status;
	psaReady(the);
	status = psa_hash_setup(&operation, PSA_ALG_SHA_256);
	for (int i = 0; (i < argc) && (status == PSA_SUCCESS); i++) {
		xsUnsignedValue length;
		uint8_t *bytes = bytesOf(the, i, &length);
		status = psa_hash_update(&operation, bytes, length);
	}
	if (status == PSA_SUCCESS)
		status = psa_hash_finish(&operation, digest, sizeof(digest), &digestLength);
	if (status != PSA_SUCCESS) {
		psa_hash_abort(&operation);
		xsUnknownError("sha256: PSA status %d", (int)status);
	}
	xsmcSetArrayBuffer(xsResult, digest, sizeof(digest));
}

/* CRC-32 (IEEE 802.3, reflected, as zlib) of bytes[start, end), its table made on first use. */
static uint32_t crc32Of(const uint8_t *bytes, xsUnsignedValue start, xsUnsignedValue end)
{
	static uint32_t table[256];
	static int ready = 0;
	uint32_t c = 0xFFFFFFFF;
	if (!ready) {
		for (uint32_t n = 0; n < 256; n++) {
			uint32_t k = n;
			for (int i = 0; i < 8; i++)
				k = (k & 1) ? (0xEDB88320 ^ (k >> 1)) : (k >> 1);
			table[n] = k;
		}
		ready = 1;
	}
	for (xsUnsignedValue i = start; i < end; i++)
		c = table[(c ^ bytes[i]) & 0xFF] ^ (c >> 8);
	return c ^ 0xFFFFFFFF;
}

/* crc32(bytes[, start, end]) -> CRC-32 (IEEE 802.3, reflected, as zlib) of bytes[start, end). */
void xs_tapline_crc32(xsMachine *the)
{
	xsUnsignedValue length;
	uint8_t *bytes = bytesOf(the, 0, &length);
	xsUnsignedValue start = 0, end = length;
	int argc = xsmcArgc;
	if (argc > 1) start = (xsUnsignedValue)xsmcToInteger(xsArg(1));
	if (argc > 2) end = (xsUnsignedValue)xsmcToInteger(xsArg(2));
	if ((start > end) || (end > length))
		xsRangeError("crc32: range %u..%u outside %u bytes", (unsigned)start, (unsigned)end, (unsigned)length);
	xsmcSetNumber(xsResult, (double)crc32Of(bytes, start, end));
}

static uint32_t be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/*
 * blockHeader(bytes, out) -> whether bytes[0, 36) is a valid journal block header: the magic "TPJ1",
 * the CRC-32 of bytes[0, 32) in bytes[32, 36) (big-endian), a non-zero epoch (bytes 4..8) and first
 * sequence (8..12), which go to out[0] and out[1] (a Uint32Array). A boot reads every block's header:
 * one call each in place of the JavaScript checks (parseBlockHeader in firmware/core/journal/journal.ts,
 * the reference).
 */
void xs_tapline_block_header(xsMachine *the)
{
	xsUnsignedValue length;
	uint8_t *h = bytesOf(the, 0, &length);
	uint32_t epoch, firstSeq;
	if (length < 36 || memcmp(h, "TPJ1", 4) != 0 || crc32Of(h, 0, 32) != be32(h + 32)) {
		xsmcSetFalse(xsResult);
		return;
	}
	epoch = be32(h + 4);
	firstSeq = be32(h + 8);
	if (epoch == 0 || firstSeq == 0) {
		xsmcSetFalse(xsResult);
		return;
	}
	xsmcVars(1);
	xsmcSetNumber(xsVar(0), (double)epoch);
	xsmcSetIndex(xsArg(1), 0, xsVar(0));
	xsmcSetNumber(xsVar(0), (double)firstSeq);
	xsmcSetIndex(xsArg(1), 1, xsVar(0));
	xsmcSetTrue(xsResult);
}

/*
 * restart(): the chip restarts at once (esp_restart: the same reset as the watchdog's, RAM lost, the
 * NVS and flash kept). The device app calls it after a bug, once the boot record is written
 * (firmware/app/restart.ts). A host has no chip to restart: there it throws.
 */
#if ESP32
#include "esp_system.h"
#endif
void xs_tapline_restart(xsMachine *the)
{
#if ESP32
	esp_restart();
#else
	xsUnknownError("restart: no chip to restart on this host");
#endif
}

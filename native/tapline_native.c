/*
 * The terminal's native primitives, one job each, as xsmc host functions: the same file builds into the
 * device (manifests/common.json, over ESP-IDF's mbedTLS and libsodium components) and into the
 * device-sized host native/xsdev (over Debian's libmbedtls-dev and libsodium-dev). The JavaScript
 * versions (noble, firmware/core/journal/crc32.ts) stay the reference: boot compares both on fixed
 * vectors and test/xsdev.test.ts on docs/vectors/ and fuzzed inputs.
 *
 * Contract of the verifiers: true only for a valid signature, false (never an exception) for anything
 * malformed, like verifySignature in firmware/core/crypto/verify.ts.
 */
#include "xsmc.h"
#include <string.h>
#include <stdint.h>

#include "mbedtls/version.h"
#include "mbedtls/ecp.h"
#include "mbedtls/ecdsa.h"
#include "mbedtls/bignum.h"
#include "mbedtls/sha256.h"
#include "sodium.h"

#if MBEDTLS_VERSION_MAJOR < 3
	#define taplineSha256(input, length, output) mbedtls_sha256_ret(input, length, output, 0)
	#define taplineSha256Start(context) mbedtls_sha256_starts_ret(context, 0)
	#define taplineSha256Update(context, input, length) mbedtls_sha256_update_ret(context, input, length)
	#define taplineSha256Finish(context, output) mbedtls_sha256_finish_ret(context, output)
#else
	#define taplineSha256(input, length, output) mbedtls_sha256(input, length, output, 0)
	#define taplineSha256Start(context) mbedtls_sha256_starts(context, 0)
	#define taplineSha256Update(context, input, length) mbedtls_sha256_update(context, input, length)
	#define taplineSha256Finish(context, output) mbedtls_sha256_finish(context, output)
#endif

/* Bytes of a Uint8Array, DataView or ArrayBuffer argument. */
static uint8_t *bytesOf(xsMachine *the, int index, xsUnsignedValue *length)
{
	void *data;
	xsmcGetBufferReadable(xsArg(index), &data, length);
	return (uint8_t *)data;
}

/*
 * The point of a SEC1 key, 65 bytes uncompressed or 33 compressed. Compressed keys are decompressed
 * here (y = rhs^((p + 1) / 4), as p = 3 mod 4) because mbedTLS 2.x reads only uncompressed points.
 */
static int readPoint(mbedtls_ecp_group *group, mbedtls_ecp_point *point, const uint8_t *key, size_t length)
{
	if (length == 65)
		return (key[0] == 4) ? mbedtls_ecp_point_read_binary(group, point, key, length) : -1;
	if ((length != 33) || ((key[0] != 2) && (key[0] != 3)))
		return -1;
	mbedtls_mpi x, rhs, t, exponent;
	int result;
	mbedtls_mpi_init(&x);
	mbedtls_mpi_init(&rhs);
	mbedtls_mpi_init(&t);
	mbedtls_mpi_init(&exponent);
	if ((result = mbedtls_mpi_read_binary(&x, key + 1, 32))) goto bail;
	if (mbedtls_mpi_cmp_mpi(&x, &group->P) >= 0) { result = -1; goto bail; }
	/* rhs = x^3 - 3x + b mod p */
	if ((result = mbedtls_mpi_mul_mpi(&t, &x, &x))) goto bail;
	if ((result = mbedtls_mpi_mod_mpi(&t, &t, &group->P))) goto bail;
	if ((result = mbedtls_mpi_sub_int(&t, &t, 3))) goto bail;
	if ((result = mbedtls_mpi_mul_mpi(&rhs, &t, &x))) goto bail;
	if ((result = mbedtls_mpi_add_mpi(&rhs, &rhs, &group->B))) goto bail;
	if ((result = mbedtls_mpi_mod_mpi(&rhs, &rhs, &group->P))) goto bail;
	if ((result = mbedtls_mpi_add_int(&exponent, &group->P, 1))) goto bail;
	if ((result = mbedtls_mpi_shift_r(&exponent, 2))) goto bail;
	if ((result = mbedtls_mpi_exp_mod(&t, &rhs, &exponent, &group->P, NULL))) goto bail;
	if (mbedtls_mpi_get_bit(&t, 0) != (key[0] & 1))
		if ((result = mbedtls_mpi_sub_mpi(&t, &group->P, &t))) goto bail;
	if ((result = mbedtls_mpi_copy(&point->X, &x))) goto bail;
	if ((result = mbedtls_mpi_copy(&point->Y, &t))) goto bail;
	result = mbedtls_mpi_lset(&point->Z, 1);
bail:
	mbedtls_mpi_free(&x);
	mbedtls_mpi_free(&rhs);
	mbedtls_mpi_free(&t);
	mbedtls_mpi_free(&exponent);
	return result;
}

/* p256Verify(publicKey, message, signature): ECDSA P-256 over SHA-256 of message, signature r || s. */
void xs_tapline_p256_verify(xsMachine *the)
{
	xsUnsignedValue keyLength, messageLength, signatureLength;
	uint8_t *key = bytesOf(the, 0, &keyLength);
	uint8_t *message = bytesOf(the, 1, &messageLength);
	uint8_t *signature = bytesOf(the, 2, &signatureLength);
	uint8_t digest[32];
	mbedtls_ecp_group group;
	mbedtls_ecp_point point;
	mbedtls_mpi r, s;
	int ok = 0;
	if (signatureLength != 64) {
		xsmcSetFalse(xsResult);
		return;
	}
	/* hash first: the message buffer may move once the engine allocates again (it does not here) */
	taplineSha256(message, messageLength, digest);
	mbedtls_ecp_group_init(&group);
	mbedtls_ecp_point_init(&point);
	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	if (!mbedtls_ecp_group_load(&group, MBEDTLS_ECP_DP_SECP256R1)
		&& !readPoint(&group, &point, key, keyLength)
		&& !mbedtls_ecp_check_pubkey(&group, &point)
		&& !mbedtls_mpi_read_binary(&r, signature, 32)
		&& !mbedtls_mpi_read_binary(&s, signature + 32, 32))
		ok = mbedtls_ecdsa_verify(&group, digest, sizeof(digest), &point, &r, &s) == 0;
	mbedtls_mpi_free(&r);
	mbedtls_mpi_free(&s);
	mbedtls_ecp_point_free(&point);
	mbedtls_ecp_group_free(&group);
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
	mbedtls_sha256_context context;
	mbedtls_sha256_init(&context);
	taplineSha256Start(&context);
	for (int i = 0; i < argc; i++) {
		xsUnsignedValue length;
		uint8_t *bytes = bytesOf(the, i, &length);
		taplineSha256Update(&context, bytes, length);
	}
	taplineSha256Finish(&context, digest);
	mbedtls_sha256_free(&context);
	xsmcSetArrayBuffer(xsResult, digest, sizeof(digest));
}

/* crc32(bytes[, start, end]) -> CRC-32 (IEEE 802.3, reflected, as zlib) of bytes[start, end). */
void xs_tapline_crc32(xsMachine *the)
{
	static uint32_t table[256];
	static int ready = 0;
	xsUnsignedValue length;
	uint8_t *bytes = bytesOf(the, 0, &length);
	xsUnsignedValue start = 0, end = length;
	int argc = xsmcArgc;
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
	if (argc > 1) start = (xsUnsignedValue)xsmcToInteger(xsArg(1));
	if (argc > 2) end = (xsUnsignedValue)xsmcToInteger(xsArg(2));
	if ((start > end) || (end > length))
		xsRangeError("crc32: range %u..%u outside %u bytes", (unsigned)start, (unsigned)end, (unsigned)length);
	for (xsUnsignedValue i = start; i < end; i++)
		c = table[(c ^ bytes[i]) & 0xFF] ^ (c >> 8);
	xsmcSetNumber(xsResult, (double)(c ^ 0xFFFFFFFF));
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

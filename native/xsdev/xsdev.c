/*
 * xsdev: the XS engine sized like the device. The firmware runs on an ESP32 in a machine made from the
 * manifest's creation block (fixed chunks, fixed slots, a small stack) after xsl preloaded the bundle
 * into flash. xsdev does the same on the host, from the XS sources that @agoric/xsnap ships:
 *
 *   1. a large machine runs the preload files (the device bundle as a module, then the host app script)
 *      and, after a collection, tells what they leave in the heap: on the device that is in flash;
 *   2. the run machine, fixed in size, loads the same files, and the space they took plus ballast is
 *      held from C, so that exactly the creation block is free for the run: running out of chunks,
 *      slots or the manifest's stack aborts, as on the device. Figures are reported beyond that base.
 *
 * Not modelled: xsl's copy-on-write aliases for preloaded objects that the run changes (a pointer each,
 * outside the XS heap), and the 32-bit slot (16 bytes on the ESP32, 32 here): slot counts compare as
 * they are, chunk bytes here are an upper bound of the device's (pointers in chunks are twice as wide).
 *
 * It speaks xsnap-worker's netstring protocol on descriptors 3 (in) and 4 (out), so host/xs/worker.ts
 * drives it: `e<script>` evaluates, `?<bytes>` calls globalThis.handleCommand. Each reply carries the
 * computrons and this message's peaks: slots, chunk bytes and stack depth (slots), and its host time.
 *
 * Host functions, as the device has them: trace, the native primitives of native/tapline_native.c,
 * and NOR flash partitions in C memory (program clears bits only, erase sets 0xFF), outside the XS heap;
 * and two the device has not: xsdevMeter(), the computrons so far, for profiles by part, and
 * xsdevLiveHeap(on), which makes the following messages run with a full collection before every
 * allocation (XS's mxStress), so that their peaks are the live heap (reachable bytes), not garbage.
 */
#include "xsAll.h"
#include "xsnap.h"

extern xsIntegerValue _xsmcGetBuffer(xsMachine *the, xsSlot *slot, void **data, xsUnsignedValue *count, xsBooleanValue writable);
#include <sys/time.h>

#ifndef mxInstrument
	#error "xsdev needs mxInstrument for the stack peak"
#endif

extern void xs_tapline_p256_verify(xsMachine *the);
extern void xs_tapline_ed25519_verify(xsMachine *the);
extern void xs_tapline_sha256(xsMachine *the);
extern void xs_tapline_crc32(xsMachine *the);
extern void xs_tapline_block_header(xsMachine *the);
extern void modInstallTextDecoder(xsMachine *the);
/* xsMemory.c with mxStress: nonzero, the collector runs before every slot and chunk allocation */
extern int gxStress;
static int gLiveHeap = 0;
extern void modInstallTextEncoder(xsMachine *the);

enum {
	E_BAD_USAGE = 2,
	E_IO_ERROR = 3,
	E_NOT_ENOUGH_MEMORY = 11,
	E_STACK_OVERFLOW = 12,
	E_UNHANDLED_EXCEPTION = 15,
	E_NO_MORE_KEYS = 16,
};

/* Flash partitions: a few, each one contiguous block of C memory. */
#define FLASH_MAX 4
typedef struct {
	uint8_t *bytes;
	uint32_t size;
	uint32_t blockLength;
	double programmed;
	double erased;
} Partition;
static Partition gPartitions[FLASH_MAX];
static int gPartitionCount = 0;

static Partition *partitionOf(xsMachine *the)
{
	int id = xsToInteger(xsArg(0));
	if ((id < 0) || (id >= gPartitionCount))
		xsRangeError("no flash partition %d", id);
	return &gPartitions[id];
}

/* flashCreate(size, blockLength) -> id, erased */
static void xs_flash_create(xsMachine *the)
{
	uint32_t size = xsToInteger(xsArg(0));
	uint32_t blockLength = xsToInteger(xsArg(1));
	if (gPartitionCount == FLASH_MAX)
		xsUnknownError("too many flash partitions");
	if (!blockLength || (size % blockLength))
		xsRangeError("flash size %u is not a whole number of %u-byte blocks", size, blockLength);
	Partition *p = &gPartitions[gPartitionCount];
	p->bytes = c_malloc(size);
	if (!p->bytes)
		xsUnknownError("no memory for flash");
	c_memset(p->bytes, 0xFF, size);
	p->size = size;
	p->blockLength = blockLength;
	p->programmed = p->erased = 0;
	xsResult = xsInteger(gPartitionCount++);
}

static void checkRange(xsMachine *the, Partition *p, uint32_t offset, uint32_t length)
{
	if ((offset > p->size) || (length > p->size - offset))
		xsRangeError("flash access %u+%u outside %u bytes", offset, length, p->size);
}

/* flashRead(id, byteLength, byteOffset) -> ArrayBuffer */
static void xs_flash_read(xsMachine *the)
{
	Partition *p = partitionOf(the);
	uint32_t length = xsToInteger(xsArg(1));
	uint32_t offset = xsToInteger(xsArg(2));
	checkRange(the, p, offset, length);
	xsResult = xsArrayBuffer(p->bytes + offset, length);
}

/* flashWrite(id, bytes, byteOffset): NOR programming, bits go from 1 to 0 only */
static void xs_flash_write(xsMachine *the)
{
	Partition *p = partitionOf(the);
	void *data;
	xsUnsignedValue length;
	uint32_t offset = xsToInteger(xsArg(2));
	_xsmcGetBuffer(the, &xsArg(1), &data, &length, 0);
	checkRange(the, p, offset, length);
	for (xsUnsignedValue i = 0; i < length; i++)
		p->bytes[offset + i] &= ((uint8_t *)data)[i];
	p->programmed += length;
}

/* flashErase(id, startBlock, endBlock) */
static void xs_flash_erase(xsMachine *the)
{
	Partition *p = partitionOf(the);
	uint32_t start = xsToInteger(xsArg(1));
	uint32_t end = xsToInteger(xsArg(2));
	uint32_t blocks = p->size / p->blockLength;
	if ((start >= end) || (end > blocks))
		xsRangeError("flash erase of blocks %u..%u outside %u blocks", start, end, blocks);
	c_memset(p->bytes + start * p->blockLength, 0xFF, (end - start) * p->blockLength);
	p->erased += (double)(end - start) * p->blockLength;
}

/* flashStats(id) -> [size, blockLength, bytesProgrammed, bytesErased] */
typedef struct {
	const char *kind;
	const char *path;
} Preload;

static void xs_flash_stats(xsMachine *the)
{
	Partition *p = partitionOf(the);
	xsVars(1);
	xsResult = xsNewArray(4);
	xsSetAt(xsResult, xsInteger(0), xsInteger(p->size));
	xsSetAt(xsResult, xsInteger(1), xsInteger(p->blockLength));
	xsSetAt(xsResult, xsInteger(2), xsNumber(p->programmed));
	xsSetAt(xsResult, xsInteger(3), xsNumber(p->erased));
}

static void xs_trace(xsMachine *the)
{
	fputs(xsToString(xsArg(0)), stdout);
	fflush(stdout);
}

static void xs_gc(xsMachine *the)
{
	xsCollectGarbage();
}

/* xsdevMeter() -> computrons so far in this message: lets the host app profile a step by part. */
static void xs_meter(xsMachine *the)
{
	xsResult = xsNumber((double)xsGetCurrentMeter(the));
}

/* xsdevLiveHeap(on): from the next message on, peaks count only what is reachable (see the top). */
static void xs_live_heap(xsMachine *the)
{
	gLiveHeap = xsTest(xsArg(0));
}

static void xs_set_timeout(xsMachine *the)
{
	xsSetTimer(xsToNumber(xsArg(1)), 0);
}

static void xs_ticks(xsMachine *the)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	xsResult = xsNumber((double)tv.tv_sec * 1000.0 + (double)tv.tv_usec / 1000.0);
}

static void define(xsMachine *the, xsSlot target, const char *name, xsCallback callback, int length)
{
	xsVar(0) = xsNewHostFunction(callback, length);
	xsDefine(target, xsID(name), xsVar(0), xsDontEnum);
}

/* Part of the preload: on the device these are in flash with the modules. */
static void buildHost(xsMachine *the)
{
	xsBeginHost(the);
	xsVars(2);
	define(the, xsGlobal, "trace", xs_trace, 1);
	define(the, xsGlobal, "print", xs_trace, 1);
	define(the, xsGlobal, "gc", xs_gc, 0);
	define(the, xsGlobal, "setTimeout", xs_set_timeout, 2);
	define(the, xsGlobal, "xsdevMeter", xs_meter, 0);
	define(the, xsGlobal, "xsdevLiveHeap", xs_live_heap, 1);
	xsVar(1) = xsNewObject();
	define(the, xsVar(1), "p256Verify", xs_tapline_p256_verify, 3);
	define(the, xsVar(1), "ed25519Verify", xs_tapline_ed25519_verify, 3);
	define(the, xsVar(1), "sha256", xs_tapline_sha256, 1);
	define(the, xsVar(1), "crc32", xs_tapline_crc32, 3);
	define(the, xsVar(1), "blockHeader", xs_tapline_block_header, 2);
	xsDefine(xsGlobal, xsID("taplineNative"), xsVar(1), xsDontEnum);
	xsVar(1) = xsNewObject();
	define(the, xsVar(1), "create", xs_flash_create, 2);
	define(the, xsVar(1), "read", xs_flash_read, 3);
	define(the, xsVar(1), "write", xs_flash_write, 3);
	define(the, xsVar(1), "erase", xs_flash_erase, 3);
	define(the, xsVar(1), "stats", xs_flash_stats, 1);
	define(the, xsVar(1), "ticks", xs_ticks, 0);
	xsDefine(xsGlobal, xsID("hostFlash"), xsVar(1), xsDontEnum);
	modInstallTextDecoder(the);
	modInstallTextEncoder(the);
	xsEndHost(the);
}

xsBooleanValue fxMeteringCallback(xsMachine *the, xsUnsignedValue index)
{
	return 1;
}

static int readNetString(FILE *in, char **dest, size_t *length)
{
	char *buffer;
	if (fscanf(in, "%9zu", length) < 1 || fgetc(in) != ':')
		return 1;
	buffer = malloc(*length + 1);
	if (!buffer)
		return 2;
	if (fread(buffer, 1, *length, in) < *length || fgetc(in) != ',') {
		free(buffer);
		return 3;
	}
	buffer[*length] = 0;
	*dest = buffer;
	return 0;
}

static int writeNetString(FILE *out, const char *prefix, const char *bytes, size_t length)
{
	if (fprintf(out, "%zu:%s", length + strlen(prefix), prefix) < 1)
		return 1;
	if (length && fwrite(bytes, 1, length, out) < length)
		return 2;
	if (fputc(',', out) == EOF || fflush(out) < 0)
		return 3;
	return 0;
}

static double nowMs(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec * 1000.0 + (double)tv.tv_usec / 1000.0;
}

static int exitCode(int status)
{
	switch (status) {
	case 0: return 0;
	case xsNotEnoughMemoryExit: return E_NOT_ENOUGH_MEMORY;
	case xsStackOverflowExit: return E_STACK_OVERFLOW;
	case xsNoMoreKeysExit: return E_NO_MORE_KEYS;
	default: return E_UNHANDLED_EXCEPTION;
	}
}

static const char *abortText(int status)
{
	switch (status) {
	case xsNotEnoughMemoryExit: return "memory full";
	case xsStackOverflowExit: return "JavaScript stack overflow";
	case xsNoMoreKeysExit: return "not enough keys";
	default: return "aborted";
	}
}

/*
 * Takes `bytes` of chunks and `slots` slots out of the machine for good (held from C, invisible to
 * JavaScript): what is left free is the creation block. Slots go as a chain of objects, two slots each
 * (the instance and its one property), so that they need no chunk.
 */
static xsSlot gBallast;
static void addBallast(xsMachine *the, long bytes, long slots)
{
	xsBeginHost(the);
	xsVars(2);
	xsVar(0) = xsArrayBuffer(NULL, (bytes > 64) ? bytes - 64 : 0);
	for (long i = 0; i + 2 <= slots - 8; i += 2) {
		xsVar(1) = xsNewObject();
		xsSet(xsVar(1), xsID("next"), xsVar(0));
		xsVar(0) = xsVar(1);
	}
	gBallast = xsVar(0);
	xsRemember(gBallast);
	xsEndHost(the);
}

static void xsCollectGarbage_(xsMachine *the)
{
	xsBeginHost(the);
	xsCollectGarbage();
	xsEndHost(the);
}

/* Runs the preload files in order; nonzero if one threw or the machine aborted. */
static int preload(xsMachine *machine, Preload *preloads, int count)
{
	int failed = 0;
	buildHost(machine);
	for (int i = 0; i < count && !failed && !machine->abortStatus; i++) {
		xsBeginHost(machine);
		{
			xsTry {
				if (!strcmp(preloads[i].kind, "module"))
					xsRunModuleFile((char *)preloads[i].path);
				else
					xsRunProgramFile((char *)preloads[i].path);
			}
			xsCatch {
				xsVars(1);
				xsVar(0) = xsException;
				xsException = xsUndefined;
				fprintf(stderr, "xsdev: preloading %s: %s\n", preloads[i].path, xsToString(xsVar(0)));
				failed = 1;
			}
			if (!failed && !machine->abortStatus)
				fxRunLoop(machine);
			if (xsTypeOf(xsException) != xsUndefinedType) {
				fprintf(stderr, "xsdev: preloading %s: %s\n", preloads[i].path, xsToString(xsException));
				xsException = xsUndefined;
				failed = 1;
			}
		}
		xsEndHost(machine);
	}
	return failed || machine->abortStatus;
}

/* The machine aborted and cannot run again: answer every message with why, until the host closes. */
static int answerAborted(xsMachine *machine, FILE *in, FILE *out, xsCreation *run, long baseSlots, long baseChunks)
{
	int status = machine->abortStatus;
	char text[240], *message;
	size_t length;
	snprintf(text, sizeof(text), "xsdev abort: %s (creation: %d chunk bytes, %d slots, %d stack slots; "
		"this step's peaks: %ld chunk bytes, %ld slots, %ld stack slots)",
		abortText(status), run->initialChunkSize, run->initialHeapCount, run->stackCount,
		(long)machine->peakChunksSize - baseChunks, (long)machine->peakHeapCount - baseSlots,
		(long)(machine->stackTop - machine->stackPeak));
	for (;;) {
		if (writeNetString(out, "!", text, strlen(text)))
			return exitCode(status);
		if (readNetString(in, &message, &length))
			return exitCode(status);
		free(message);
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: xsdev --chunk BYTES --heap SLOTS --stack SLOTS [--keys N] [--module FILE]... [--script FILE]...\n"
		"  the creation values are a manifest's (creation.chunk.initial, creation.heap.initial, creation.stack);\n"
		"  --module and --script files are preloaded, in order, as xsl preloads into flash.\n");
}


int main(int argc, char *argv[])
{
	Preload preloads[16];
	int preloadCount = 0;
	xsCreation run = {
		0, 0,         /* chunks: initial, incremental (0: fixed, as on the device) */
		0, 0,         /* slots: initial, incremental */
		0,            /* stack slots */
		256, 0,       /* keys beyond the preloaded ones: initial, incremental */
		127, 127,     /* name and symbol table moduli */
		32768, 1993,  /* parser buffer and table */
	};
	xsCreation link = {
		64 * 1024 * 1024, 4 * 1024 * 1024,
		1024 * 1024, 64 * 1024,
		16384,
		32768, 4096,
		127, 127,     /* name and symbol table moduli, as the run machine */
		8 * 1024 * 1024, 1993,
	};
	for (int i = 1; i < argc; i++) {
		const char *value = (i + 1 < argc) ? argv[i + 1] : NULL;
		if (!value) { usage(); return E_BAD_USAGE; }
		if (!strcmp(argv[i], "--chunk")) run.initialChunkSize = atoi(value);
		else if (!strcmp(argv[i], "--heap")) run.initialHeapCount = atoi(value);
		else if (!strcmp(argv[i], "--stack")) run.stackCount = atoi(value);
		else if (!strcmp(argv[i], "--keys")) run.initialKeyCount = atoi(value);
		else if ((!strcmp(argv[i], "--module") || !strcmp(argv[i], "--script")) && preloadCount < 16) {
			preloads[preloadCount].kind = argv[i] + 2;
			preloads[preloadCount++].path = value;
		}
		else { usage(); return E_BAD_USAGE; }
		i++;
	}
	if (run.initialChunkSize <= 0 || run.initialHeapCount <= 0 || run.stackCount <= 0) {
		usage();
		return E_BAD_USAGE;
	}

	FILE *in = fdopen(3, "rb");
	FILE *out = fdopen(4, "wb");
	if (!in || !out) {
		fprintf(stderr, "xsdev: descriptors 3 and 4 must be open (run it through host/xsdev/device-host.ts)\n");
		return E_IO_ERROR;
	}

	xsInitializeSharedCluster();
	/* 1. What the preload leaves in the heap (the device keeps it in flash): load, collect, count. */
	xsMachine *linker = xsCreateMachine(&link, "xsdev-link", NULL);
	if (preload(linker, preloads, preloadCount))
		return linker->abortStatus ? exitCode(linker->abortStatus) : E_UNHANDLED_EXCEPTION;
	long loadChunks = linker->peakChunksSize;
	long loadSlots = linker->peakHeapCount;
	xsCollectGarbage_(linker);
	long preloadSlots = linker->currentHeapCount;
	long preloadChunks = linker->currentChunksSize;
	long preloadKeys = linker->keyIndex;
	xsDeleteMachine(linker);

	/* 2. The run machine, fixed, large enough to load the same files without collecting (their peak
	   in the link machine), then filled with ballast so that exactly the creation block stays free. */
	xsCreation sized = link;
	sized.initialChunkSize = run.initialChunkSize + loadChunks;
	sized.incrementalChunkSize = 0;
	sized.initialHeapCount = run.initialHeapCount + loadSlots;
	sized.incrementalHeapCount = 0;
	xsMachine *machine = xsCreateMachine(&sized, "xsdev", NULL);
	if (!machine || preload(machine, preloads, preloadCount)) {
		fprintf(stderr, "xsdev: the preload does not load again (%ld slots, %ld chunk bytes)\n", loadSlots, loadChunks);
		return machine && machine->abortStatus ? exitCode(machine->abortStatus) : E_NOT_ENOUGH_MEMORY;
	}
	xsCollectGarbage_(machine);
	addBallast(machine, (long)machine->maximumChunksSize - (long)machine->currentChunksSize - run.initialChunkSize,
		(long)machine->maximumHeapCount - (long)machine->currentHeapCount - run.initialHeapCount);
	xsCollectGarbage_(machine);
	long baseSlots = machine->currentHeapCount;
	long baseChunks = machine->currentChunksSize;
	/* Loading parsed the bundle with a deep stack (xsl does that at build time); running has only the
	   manifest's stack: move the bottom up so that deeper runs abort as on the device. */
	if (machine->stackTop - machine->stack >= run.stackCount) {
		fprintf(stderr, "xsdev: the idle stack already holds %ld slots\n", (long)(machine->stackTop - machine->stack));
		return E_STACK_OVERFLOW;
	}
	txSlot *allocatedStack = machine->stackBottom;
	machine->stackBottom = machine->stackTop - run.stackCount;
	xsBeginMetering(machine, fxMeteringCallback, 1);
	for (;;) {
		char *message;
		size_t length;
		if (readNetString(in, &message, &length)) {
			if (feof(in))
				break;
			fprintf(stderr, "xsdev: bad netstring from the host\n");
			return E_IO_ERROR;
		}
		char command = message[0];
		if (command == 'q') {
			free(message);
			break;
		}
		if (command != 'e' && command != '?') {
			fprintf(stderr, "xsdev: unknown command '%c'\n", command);
			return E_IO_ERROR;
		}
		int error = 0;
		char *reply = NULL;
		xsIntegerValue replyLength = 0;
		gxStress = gLiveHeap;
		if (gLiveHeap)
			xsCollectGarbage_(machine);
		long startSlots = (long)machine->currentHeapCount - baseSlots;
		long startChunks = (long)machine->currentChunksSize - baseChunks;
		machine->peakHeapCount = machine->currentHeapCount;
		machine->peakChunksSize = machine->currentChunksSize;
		machine->stackPeak = machine->stack;
		xsSetCurrentMeter(machine, 0);
		double started = nowMs();
		xsBeginHost(machine);
		{
			xsVars(2);
			xsTry {
				if (command == '?') {
					xsVar(0) = xsArrayBuffer(message + 1, length - 1);
					xsVar(1) = xsCall1(xsGlobal, xsID("handleCommand"), xsVar(0));
				}
				else {
					xsVar(0) = xsStringBuffer(message + 1, length - 1);
					xsVar(1) = xsCall1(xsGlobal, xsID("eval"), xsVar(0));
				}
			}
			xsCatch {
				error = 1;
				xsVar(1) = xsException;
				xsException = xsUndefined;
			}
			if (!machine->abortStatus)
				fxRunLoop(machine);
			double hostMs = nowMs() - started;
			unsigned long compute = xsGetCurrentMeter(machine);
			gxStress = 0;
			if (machine->abortStatus)
				break;
			if (error) {
				reply = xsToString(xsVar(1));
				replyLength = strlen(reply);
			}
			else if (xsIsInstanceOf(xsVar(1), xsArrayBufferPrototype)) {
				replyLength = xsGetArrayBufferLength(xsVar(1));
				reply = xsToArrayBuffer(xsVar(1));
			}
			char meter[768];
			snprintf(meter, sizeof(meter),
				".{\"compute\":%lu,\"currentHeapCount\":%ld,\"allocate\":%ld,\"slots\":%ld,\"peakSlots\":%ld,\"chunkBytes\":%ld,"
				"\"peakChunkBytes\":%ld,\"live\":%s,\"startSlots\":%ld,\"startChunkBytes\":%ld,\"stackPeak\":%ld,\"hostMs\":%.4f,\"creation\":{\"chunk\":%d,\"heap\":%d,\"stack\":%d},"
				"\"preload\":{\"slots\":%ld,\"chunkBytes\":%ld,\"keys\":%ld}}\1",
				compute, (long)machine->currentHeapCount, (long)(machine->maximumChunksSize + machine->maximumHeapCount * sizeof(txSlot)),
				(long)machine->currentHeapCount - baseSlots, (long)machine->peakHeapCount - baseSlots, (long)machine->currentChunksSize - baseChunks, (long)machine->peakChunksSize - baseChunks,
				gLiveHeap ? "true" : "false", startSlots, startChunks, (long)(machine->stackTop - machine->stackPeak), hostMs, run.initialChunkSize, run.initialHeapCount, run.stackCount,
				preloadSlots, preloadChunks, preloadKeys);
			if (writeNetString(out, error ? "!" : meter, reply ? reply : "", reply ? replyLength : 0))
				return E_IO_ERROR;
		}
		xsEndHost(machine);
		free(message);
		if (machine->abortStatus)
			break;
	}
	xsEndMetering(machine);
	/* An abort (memory full, stack overflow) jumps out to the metering block, here. */
	if (machine->abortStatus)
		return answerAborted(machine, in, out, &run, baseSlots, baseChunks);
	machine->stackBottom = allocatedStack;
	xsDeleteMachine(machine);
	return 0;
}

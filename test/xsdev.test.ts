// The device-sized XS host (native/xsdev): each board's manifest creation block, with a fifth taken
// away, still boots the exact device bundle and pays (P-256 merchant, cold and warm) and opens the gate
// (Ed25519 transit, verified before opening), journal appends on flash semantics included; the native
// primitives (native/tapline_native.c over Debian's mbedTLS and libsodium) agree with the reference.
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { fromHex, toHex, utf8Encode } from '../firmware/base/bytes';
import { ALG_ED25519, ALG_P256, type Alg } from '../firmware/core/crypto/verify';
import { certificateSignedPayload, decodeCertificate, decodePayResponse, paymentSignedPayload } from '../firmware/core/protocol/messages';
import { HASH_SELF_TEST, REPLAY_SLICE_RECORDS, SELF_TEST_VECTORS } from '../firmware/app/boot';
import type { HashInput, HashOutput } from '../host/xsdev/app';
import { verifySignature } from '../firmware/core/crypto/verify';
import { BOARDS, creationOf, DeviceHost, type Creation } from '../host/xsdev/device-host';
import { fullJournalBoot, NOW, recordRebootScenario, recordScenario, runScenario, type TapScenario } from '../host/xsdev/scenario';
import { transferringRider } from './xs/fares-scenarios';
import { generateKeyPair, sign } from '../host/wallet/issuer';
import { seededRandom } from '../host/wallet/random';
import { p256 } from '@noble/curves/nist.js';

const HEADROOM = 1.2;
/** For checks that run noble in XS too: its base-point tables alone are ~200 KB a curve. */
const ROOMY: Creation = { chunk: 8 << 20, heap: 200_000, stack: 4096 };

function withHeadroom(c: Creation): Creation {
  return { chunk: Math.floor(c.chunk / HEADROOM), heap: Math.floor(c.heap / HEADROOM), stack: Math.floor(c.stack / HEADROOM) };
}

async function onHost<T>(creation: Creation, run: (host: DeviceHost) => Promise<T>): Promise<T> {
  const host = await DeviceHost.start(creation);
  try {
    return await run(host);
  } finally {
    await host.close();
  }
}

interface VerifyCase {
  alg: Alg;
  publicKey: string;
  message: string;
  signature: string;
}

/** Both signatures of a docs/vectors file: the issuer's over the certificate, the wallet's over the payment. */
function vectorCases(file: string): VerifyCase[] {
  const v = JSON.parse(readFileSync(new URL(`../docs/vectors/${file}`, import.meta.url), 'utf8'));
  const cert = decodeCertificate(fromHex(v.certificate.hex));
  const request = fromHex(v.request.hex);
  const response = decodePayResponse(fromHex(v.response.hex));
  return [
    { alg: v.issuerKey.alg, publicKey: v.issuerKey.publicKey, message: toHex(certificateSignedPayload(cert.tbs)), signature: toHex(cert.signature) },
    { alg: cert.alg, publicKey: toHex(cert.publicKey), message: toHex(paymentSignedPayload(cert.alg, cert.bytes, request, response.tbs)), signature: toHex(response.signature) },
  ];
}

/** Good signatures and every kind of damage to them: a flipped bit anywhere, wrong lengths, a high S. */
function fuzzCases(alg: Alg, count: number): VerifyCase[] {
  const random = seededRandom(`xsdev fuzz ${alg}`);
  const out: VerifyCase[] = [];
  for (let i = 0; i < count; i++) {
    const pair = generateKeyPair(alg, random);
    const message = random(1 + (random(1)[0]! % 200));
    const signature = sign(pair, message);
    // every third P-256 key uncompressed (65 bytes), which the terminal also accepts
    const key = alg === ALG_P256 && i % 3 === 0 ? p256.Point.fromBytes(pair.publicKey).toBytes(false) : pair.publicKey;
    const c = { alg, publicKey: toHex(key), message: toHex(message), signature: toHex(signature) };
    out.push(c);
    const which = i % 5;
    const flip = (hex: string) => {
      const b = fromHex(hex);
      if (b.length) b[random(1)[0]! % b.length]! ^= 1 << (random(1)[0]! % 8);
      return toHex(b);
    };
    if (which === 0) out.push({ ...c, signature: flip(c.signature) });
    if (which === 1) out.push({ ...c, message: flip(c.message) });
    if (which === 2) out.push({ ...c, publicKey: flip(c.publicKey) });
    if (which === 3) out.push({ ...c, signature: c.signature.slice(0, 126) }, { ...c, publicKey: c.publicKey.slice(0, -2) });
    if (which === 4) out.push({ ...c, signature: toHex(random(64)) }, { ...c, publicKey: toHex(random(alg === ALG_P256 ? 33 : 32)) });
  }
  if (alg === ALG_P256) {
    // high S: the same signature with s' = n - s verifies too (the terminal accepts it, as noble is told)
    const n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
    const c = out[0]!;
    const s = BigInt(`0x${c.signature.slice(64)}`);
    out.push({ ...c, signature: c.signature.slice(0, 64) + (n - s).toString(16).padStart(64, '0') });
  }
  return out;
}

describe('boot self-test vectors', () => {
  it('are noble\'s: the good signature verifies, under the other key it does not', () => {
    const message = utf8Encode('tapline self-test');
    for (const alg of [ALG_P256, ALG_ED25519] as const) {
      const v = SELF_TEST_VECTORS[alg];
      expect(verifySignature(alg, fromHex(v.publicKey), message, fromHex(v.signature))).to.equal(true);
      expect(verifySignature(alg, fromHex(v.otherKey), message, fromHex(v.signature))).to.equal(false);
    }
  });

  it('the hashes\' known answers are node:crypto\'s and zlib\'s', () => {
    const t = HASH_SELF_TEST;
    expect(createHash('sha256').update(t.sha256Parts.join('')).digest('hex')).to.equal(t.sha256);
    expect(crc32(Buffer.from(t.crcInput.slice(t.crcStart, t.crcEnd)))).to.equal(t.crc32);
    const header = Buffer.from(t.blockHeader, 'hex');
    expect(header.readUInt32BE(32)).to.equal(crc32(header.subarray(0, 32)));
    expect([header.readUInt32BE(4), header.readUInt32BE(8)]).to.deep.equal(t.blockHeaderFields);
  });
});

describe('device-sized XS host (native/xsdev) @xs', function () {
  this.timeout(300_000);
  let merchant: TapScenario;
  let transit: TapScenario;

  before(async () => {
    merchant = await recordScenario(ALG_P256, 'merchant');
    transit = await recordScenario(ALG_ED25519, 'transit');
  });

  for (const board of BOARDS) {
    it(`${board}: a fifth less than the manifest's creation block still boots and pays with native crypto`, async () => {
      const creation = withHeadroom(creationOf(board));
      for (const s of [merchant, transit]) {
        const r = await onHost(creation, (host) => runScenario(host, s, true));
        expect(r.boot.value.logs).to.include('[info] selftest: native Ed25519 verification agrees with the reference: in use');
        expect(r.boot.value.logs.filter((l) => l.includes('native P-256 verification')), 'P-256\'s known answers are left for idle time').to.deep.equal([
          '[info] selftest: native P-256 verification: its known answers run in idle time (a P-256 signature before then waits for them)',
        ]);
        expect(r.boot.value.logs).to.include('[info] selftest: native SHA-256 and CRC-32 give the known answers: in use');
        for (const tap of [r.cold, r.warm]) {
          expect(tap.value.outcome, `${board} ${s.mode}`).to.equal('approved');
          expect(tap.value.deferred, 'verified before approving / opening').to.equal(false);
          expect(tap.value.journalBytesProgrammed, 'the receipt went to flash').to.be.greaterThan(300);
          expect(tap.meter.device.stackPeak).to.be.at.most(creation.stack);
        }
      }
    });
  }

  it('esp32-devkitc: a transit tap priced by fare rules (a transfer) pays, its log digest by the native SHA-256 the same as noble\'s', async () => {
    const priced = await recordScenario(ALG_ED25519, 'transit', transferringRider('M-metro', NOW));
    const r = await onHost(withHeadroom(creationOf('esp32-devkitc')), (host) => runScenario(host, priced, true));
    expect(r.boot.value.logs).to.include('[info] fares: fare rules version 1: zones fare at station 1');
    // the PAY request replayed is Node's (noble's digest): a native digest that differed would find no recorded answer
    for (const tap of [r.cold, r.warm]) expect(tap.value.outcome).to.equal('approved');
  });

  it('esp32-devkitc: boot\'s own default with native verification, transit: Ed25519 cards checked before opening, P-256 deferred', async () => {
    const p256Transit = await recordScenario(ALG_P256, 'transit');
    for (const [s, deferred] of [[transit, false], [p256Transit, true]] as const) {
      const r = await onHost(creationOf('esp32-devkitc'), (host) => runScenario(host, s, true, {}, { bootDefault: true }));
      expect(r.boot.value.logs).to.include('[info] boot: transit: signatures checked before the gate opens for Ed25519 cards, after it (in idle slots) for the others');
      for (const tap of [r.cold, r.warm]) {
        expect(tap.value.outcome).to.equal('approved');
        expect(tap.value.deferred, s === transit ? 'Ed25519: verified before opening' : 'P-256: deferred to idle slots').to.equal(deferred);
      }
    }
  });

  it('esp32s3-devkitc: reboots on a full 1 MiB journal with native hashing, the replay in slices of its own turns', async () => {
    const r = await onHost(withHeadroom(creationOf('esp32s3-devkitc')), (host) => fullJournalBoot(host, transit));
    // full: only the journal's reserve (4 blocks) and the bookkeeping of its last block are left
    expect(r.fill.usedBlocks, 'the journal took receipts until it refused').to.be.within(r.fill.blocks - 6, r.fill.blocks - 4);
    const logs = r.boot.value.logs;
    const recovered = logs.find((l) => l.startsWith('[info] journal: recovered'))!;
    const lastSeq = Number(/last seq (\d+)/.exec(recovered)![1]);
    const [, restored, checkpoint] = /restored (\d+) receipts after checkpoint (\d+) \(0 unreadable\)/.exec(logs.find((l) => l.includes('receipts after checkpoint'))!)!.map(Number);
    expect(restored, 'more than one slice').to.be.greaterThan(REPLAY_SLICE_RECORDS);
    expect(restored, 'every receipt after the checkpoint').to.equal(lastSeq - checkpoint!);
    const turns = r.boot.value.turns!;
    expect(turns.length, 'journal open, each replay slice, reader and self-test in turns of their own').to.be.at.least(2 + Math.ceil(restored! / REPLAY_SLICE_RECORDS));
    const total = turns.reduce((a, t) => a + t.computrons, 0);
    expect(Math.max(...turns.map((t) => t.computrons)), 'no turn holds most of the boot').to.be.below(total * 0.75);
  });

  it('boot and both taps run in 64 KB of XS heap (36 KB of chunks + 1,792 slots of 16 bytes), native, both modes', async () => {
    // the target for the heap in use during a tap; the stack stays the DevKitC's
    const block = { chunk: 36 * 1024, heap: 1792, stack: creationOf('esp32-devkitc').stack };
    expect(block.chunk + block.heap * 16).to.equal(64 * 1024);
    for (const s of [merchant, transit]) {
      const r = await onHost(block, (host) => runScenario(host, s, true));
      for (const tap of [r.cold, r.warm]) expect(tap.value.outcome, s.mode).to.equal('approved');
    }
  });

  it('the live heap of a tap is measured without garbage: a collection before every allocation', async () => {
    const usual = await onHost(creationOf('esp32-devkitc'), (host) => runScenario(host, transit, true));
    const live = await onHost(creationOf('esp32-devkitc'), (host) => runScenario(host, transit, true, { taps: true }));
    expect(live.boot.meter.device.live, 'boot ran as usual').to.equal(false);
    for (const cert of ['cold', 'warm'] as const) {
      const [u, l] = [usual[cert], live[cert]];
      expect(l.meter.device.live).to.equal(true);
      expect(l.value).to.deep.equal(u.value);
      expect(l.meter.compute, 'the same work').to.equal(u.meter.compute);
      // the usual peaks count garbage the collector had not yet taken; the live ones do not
      expect(l.meter.device.peakSlots).to.be.below(u.meter.device.peakSlots);
      expect(l.meter.device.peakChunkBytes).to.be.below(u.meter.device.peakChunkBytes);
      expect(l.meter.device.peakSlots).to.be.at.least(Math.max(l.meter.device.startSlots, l.meter.device.slots));
    }
  });

  it('esp32-devkitc: reboots on a 1 MiB journal full but for a payment block, and pays (the ring packed, not an object per block)', async () => {
    const s = await recordRebootScenario(ALG_ED25519, 'transit', 6);
    // A fifth less of every limit than the manifest gives: the reboot's deepest call needs ~714 stack
    // slots, which is why the manifest gives 960 (docs/JOURNAL.md, RAM).
    const manifest = creationOf('esp32-devkitc');
    const creation = withHeadroom(manifest);
    const r = await onHost(creation, (host) => fullJournalBoot(host, s, { leaveFreeBlocks: 6, tapAfter: true }));
    expect(r.fill.usedBlocks, 'every block but the payment block and the reserve').to.equal(r.fill.blocks - 6);
    const recovered = r.boot.value.logs.find((l) => l.startsWith('[info] journal: recovered'))!;
    expect(Number(/recovered (\d+) records in (\d+) blocks/.exec(recovered)![2])).to.equal(r.fill.usedBlocks);
    expect(r.tap!.value.outcome, 'the tap after the reboot').to.equal('approved');
    expect(r.tap!.value.journalBytesProgrammed, 'its receipt went to flash').to.be.greaterThan(300);
    expect(r.boot.meter.device.stackPeak, 'the reboot\'s stack').to.be.at.most(creation.stack);
    expect(r.bootBytesRead, 'boot reads the headers and some blocks, not the partition').to.be.below(128 * 1024);
  });

  it('esp32-devkitc: holds the risk state at its bound (1,000 wallets, a 7-part checkpoint) while its journal fills, reboots and pays', async () => {
    // The wallet table is typed arrays allocated once (firmware/core/risk/wallet-table.ts): as a Map of
    // objects, 1,000 wallets aborted this fill with memory full. The manifest's own block, without the
    // fifth of headroom the tests above keep: with 5 % less chunk this fill still aborts (docs/JOURNAL.md, RAM).
    const creation = creationOf('esp32-devkitc');
    // free blocks left for the tap after: the reserve holds a copy of the 7-part checkpoint too
    const s = await recordRebootScenario(ALG_ED25519, 'transit', 16);
    const r = await onHost(creation, (host) => fullJournalBoot(host, s, { wallets: 999, leaveFreeBlocks: 16, tapAfter: true }));
    const restored = r.boot.value.logs.find((l) => l.startsWith('[info] risk: restored'))!;
    expect(restored, 'the checkpoint of 1,000 wallets was read, not rebuilt').to.match(/after checkpoint [1-9]\d* \(0 unreadable\)/);
    expect(r.boot.value.logs.some((l) => l.includes('unreadable; rebuilding'))).to.equal(false);
    expect(r.tap!.value.outcome, 'the tap after the reboot').to.equal('approved');
  });

  it('refuses to run the firmware in a creation block too small for it, and says which limit it hit', async () => {
    const small = { ...creationOf('esp32-devkitc'), stack: 512 };
    const error = await onHost(small, (host) => runScenario(host, merchant, true)).then(() => 'none', (e: Error) => e.message);
    expect(error).to.match(/xsdev abort: JavaScript stack overflow \(creation: \d+ chunk bytes, \d+ slots, 512 stack slots/);
  });

  it('native verifiers agree with noble on docs/vectors/, the boot self-test vectors and fuzzed inputs', async () => {
    const message = toHex(utf8Encode('tapline self-test'));
    const cases: VerifyCase[] = [...vectorCases('pay-p256.json'), ...vectorCases('pay-ed25519.json')];
    for (const alg of [ALG_P256, ALG_ED25519] as const) {
      const v = SELF_TEST_VECTORS[alg];
      cases.push({ alg, publicKey: v.publicKey, message, signature: v.signature }, { alg, publicKey: v.otherKey, message, signature: v.signature });
      cases.push(...fuzzCases(alg, 24));
    }
    const results = await onHost(ROOMY, (host) => host.call<Array<[boolean, boolean]>>('verify', { cases }));
    results.value.forEach(([reference, native], i) => {
      expect(native, `case ${i}: ${JSON.stringify(cases[i])}`).to.equal(reference);
      expect(reference, `noble on the host agrees with noble in XS, case ${i}`).to.equal(verifySignature(cases[i]!.alg, fromHex(cases[i]!.publicKey), fromHex(cases[i]!.message), fromHex(cases[i]!.signature)));
    });
    expect(results.value.filter(([r]) => r).length, 'the good ones verify').to.be.greaterThan(40);
    expect(results.value.filter(([r]) => !r).length, 'the damaged ones do not').to.be.greaterThan(40);
    expect(results.value.slice(0, 4).every(([r]) => r), 'the docs/vectors signatures').to.equal(true);
  });

  it('native P-256 decompresses compressed keys as noble does: both parities, the other root refused, x >= p refused', async () => {
    const random = seededRandom('xsdev compressed keys');
    const cases: VerifyCase[] = [];
    for (let i = 0; i < 48; i++) {
      const pair = generateKeyPair(ALG_P256, random);
      const message = random(40);
      const c = { alg: ALG_P256 as Alg, publicKey: toHex(pair.publicKey), message: toHex(message), signature: toHex(sign(pair, message)) };
      const otherRoot = (c.publicKey.startsWith('02') ? '03' : '02') + c.publicKey.slice(2);
      cases.push(c, { ...c, publicKey: otherRoot });
    }
    const p = 'ffffffff00000001000000000000000000000000ffffffffffffffffffffffff';
    cases.push({ ...cases[0]!, publicKey: `02${p}` }, { ...cases[0]!, publicKey: `03${'ff'.repeat(32)}` }, { ...cases[0]!, publicKey: `04${cases[0]!.publicKey.slice(2)}` });
    const results = await onHost(creationOf('esp32s3-devkitc'), (host) => host.call<boolean[]>('nativeOnly', { cases }));
    const expected = cases.map((c) => verifySignature(c.alg, fromHex(c.publicKey), fromHex(c.message), fromHex(c.signature)));
    expect(results.value).to.deep.equal(expected);
    expect(expected.filter((x) => x).length, 'every good signature, under its own root only').to.equal(48);
    expect(new Set(cases.slice(0, 96).filter((_, i) => i % 2 === 0).map((c) => c.publicKey.slice(0, 2))).size, 'both parities').to.equal(2);
  });

  it('native SHA-256, CRC-32 and the block header check agree with the JavaScript reference in XS, node:crypto and zlib on vectors and fuzzed inputs', async () => {
    const random = seededRandom('xsdev hashes');
    const vectors = ['pay-p256.json', 'pay-ed25519.json'].flatMap((f) => {
      const v = JSON.parse(readFileSync(new URL(`../docs/vectors/${f}`, import.meta.url), 'utf8'));
      return [v.certificate.hex as string, v.request.hex as string, v.response.hex as string];
    });
    const fuzzed = Array.from({ length: 60 }, (_, i) => toHex(random(i < 20 ? i : (random(2)[0]! << 8 | random(1)[0]!) % 1500)));
    const pick = (n: number) => (n === 0 ? 0 : (random(2)[0]! << 8 | random(1)[0]!) % (n + 1));
    const inputs: HashInput[] = [...vectors, ...fuzzed].map((hex) => {
      const n = hex.length / 2;
      const cuts = [pick(n), pick(n), pick(n)].sort((a, b) => a - b);
      const [start, end] = [pick(n), pick(n)].sort((a, b) => a - b) as [number, number];
      return { hex, cuts, start, end };
    });
    inputs.push({ hex: '', cuts: [], start: 0, end: 0 }, { hex: toHex(utf8Encode('abc')), cuts: [1, 1], start: 0, end: 3 });
    // Block headers: valid ones (a zero epoch or sequence among them), each with one byte changed, a short one.
    const headers: Buffer[] = [];
    for (let i = 0; i < 24; i++) {
      const h = Buffer.from(random(40));
      h.write('TPJ1', 0);
      if (i % 8 === 1) h.writeUInt32BE(0, 4);
      if (i % 8 === 2) h.writeUInt32BE(0, 8);
      h.writeUInt32BE(crc32(h.subarray(0, 32)), 32);
      headers.push(h, Buffer.from(h).fill(h[i % 36]! ^ (1 << (i % 8)), i % 36, (i % 36) + 1), h.subarray(0, 35));
    }
    const expectedHeader = (h: Buffer) => {
      const ok = h.length >= 36 && h.toString('latin1', 0, 4) === 'TPJ1' && h.readUInt32BE(32) === crc32(h.subarray(0, 32)) && h.readUInt32BE(4) !== 0 && h.readUInt32BE(8) !== 0;
      return ok ? [1, h.readUInt32BE(4), h.readUInt32BE(8)] : [0, 0, 0];
    };
    const firstHeader = inputs.length;
    inputs.push(...headers.map((h) => ({ hex: h.toString('hex'), cuts: [], start: 0, end: 0 })));
    const results = await onHost(creationOf('esp32s3-devkitc'), (host) => host.call<HashOutput[]>('hashes', { inputs }));
    results.value.forEach((r, i) => {
      const c = inputs[i]!;
      const bytes = Buffer.from(c.hex, 'hex');
      expect(r.sha256, `case ${i}`).to.equal(createHash('sha256').update(bytes).digest('hex'));
      expect(r.sha256Js, `case ${i}`).to.equal(r.sha256);
      expect(r.crc32, `case ${i}`).to.equal(crc32(bytes.subarray(c.start, c.end)));
      expect(r.crc32Js, `case ${i}`).to.equal(r.crc32);
      expect(r.header, `case ${i}: the native block header check`).to.deep.equal(expectedHeader(bytes));
      expect(r.headerJs, `case ${i}: the JavaScript one`).to.deep.equal(r.header);
    });
    const valid = results.value.slice(firstHeader).filter((r) => r.header[0] === 1).length;
    expect(valid, 'the valid headers among them: 24 less the zero epochs and sequences').to.equal(18);
  });
});

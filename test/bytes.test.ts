import { expect } from 'chai';
import { concatBytes, equalBytes, fromHex, hex64At, readU32, toHex, utf8Decode, utf8Encode, writeU32 } from '../firmware/base/bytes';

// A small seeded generator, so a failure repeats.
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe('byte helpers', () => {
  it('round-trips hex and refuses what is not hex', () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(toHex(bytes)).to.equal(Buffer.from(bytes).toString('hex'));
    expect(fromHex(toHex(bytes))).to.deep.equal(bytes);
    expect(() => fromHex('abc')).to.throw(TypeError);
    expect(() => fromHex('zz')).to.throw(TypeError);
  });

  it('reads 8 bytes as the hex toHex gives, at any offset (leading zeros and high bits kept)', () => {
    const random = prng(11);
    const bytes = Uint8Array.from({ length: 4096 }, () => Math.floor(random() * 256));
    bytes.set([0, 0, 0, 0, 0, 0, 0, 1], 0);
    bytes.set([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0], 8);
    const view = new DataView(bytes.buffer, 0, bytes.length);
    for (let at = 0; at + 8 <= bytes.length; at++) expect(hex64At(view, at)).to.equal(toHex(bytes.subarray(at, at + 8)));
  });

  it('encodes and decodes UTF-8 as the platform does', () => {
    const random = prng(7);
    for (let n = 0; n < 2000; n++) {
      let text = '';
      for (let i = 0; i < 20; i++) {
        const pick = random();
        text += pick < 0.5 ? String.fromCharCode(32 + Math.floor(random() * 95)) : pick < 0.8 ? String.fromCharCode(0xa0 + Math.floor(random() * 0x700)) : pick < 0.95 ? String.fromCharCode(0x3000 + Math.floor(random() * 0x5000)) : String.fromCodePoint(0x1f300 + Math.floor(random() * 0x200));
      }
      const encoded = utf8Encode(text);
      expect(Buffer.from(encoded).toString('hex')).to.equal(Buffer.from(text, 'utf8').toString('hex'));
      expect(utf8Decode(encoded)).to.equal(text);
    }
  });

  it('decodes any bytes without throwing (100,000 random inputs)', () => {
    const seed = 20261123;
    const random = prng(seed);
    for (let n = 0; n < 100_000; n++) {
      const bytes = Uint8Array.from({ length: Math.floor(random() * 16) }, () => Math.floor(random() * 256));
      expect(() => utf8Decode(bytes), `seed ${seed} input ${n}`).not.to.throw();
    }
  });

  it('decodes as TextDecoder does: ASCII runs longer than one fromCharCode call between other characters', () => {
    const random = prng(11);
    const decoder = new TextDecoder();
    for (let n = 0; n < 500; n++) {
      let text = '';
      for (let i = 0; i < 6; i++) text += 'a'.repeat(Math.floor(random() * 150)) + String.fromCodePoint([0xe9, 0x4e2d, 0x1f68c][Math.floor(random() * 3)]!);
      const encoded = utf8Encode(text);
      expect(utf8Decode(encoded)).to.equal(decoder.decode(encoded)).and.to.equal(text);
    }
  });

  it('decodes long text in one piece', () => {
    const text = 'tap '.repeat(50_000);
    expect(utf8Decode(utf8Encode(text))).to.equal(text);
  });

  it('concatenates, compares and reads integers', () => {
    const out = new Uint8Array(4);
    writeU32(out, 0, 0xdeadbeef);
    expect(readU32(out, 0)).to.equal(0xdeadbeef);
    expect(equalBytes(concatBytes(Uint8Array.of(1), Uint8Array.of(2, 3)), Uint8Array.of(1, 2, 3))).to.equal(true);
    expect(equalBytes(Uint8Array.of(1, 2), Uint8Array.of(1, 3))).to.equal(false);
  });
});

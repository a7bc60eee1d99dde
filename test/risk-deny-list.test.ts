// The deny list held once, compactly (firmware/core/risk/deny-list.ts): the stored snapshot's ids, looked
// up by binary search, each version a merge of the last with a delta; the update store and the risk
// engine share one object. Checked against a Set of hex strings (what the terminal held before), and
// its stored form's parser fuzzed.
import { expect } from 'chai';
import { fromHex, toHex } from '../firmware/base/bytes';
import { DenyList, DenyListError } from '../firmware/core/risk/deny-list';
import { RiskEngine } from '../firmware/core/risk/engine';
import { DEFAULT_RISK_CONFIG } from '../firmware/core/risk/config';
import { decodeDenySnapshot, encodeDenySnapshot } from '../firmware/core/uplink/store';
import { UpdateError } from '../firmware/core/uplink/updates';
import { fuzzer, seededRandom } from './uplink-fuzz-helpers';

const random = seededRandom(0xd3e7);
const id = () => toHex(Uint8Array.from({ length: 8 }, () => Math.floor(random() * 256)));
const listOf = (version: number, ids: string[]) => new DenyList(version, fromHex([...new Set(ids)].sort().join('')));

describe('the deny list held once, compactly', () => {
  it('answers as a Set of the same ids does, through 40 random deltas from 10,000 ids', () => {
    const model = new Set(Array.from({ length: 10_000 }, id));
    let list = listOf(1, [...model]);
    expect(list.size).to.equal(model.size);
    expect(list.bytes.length).to.equal(8 * model.size);
    for (let v = 2; v <= 41; v++) {
      const held = [...model];
      const remove = Array.from({ length: 30 }, () => (random() < 0.8 ? held[Math.floor(random() * held.length)]! : id()));
      const add = Array.from({ length: 30 }, () => (random() < 0.2 ? held[Math.floor(random() * held.length)]! : id()));
      add.push(add[0]!); // twice in one delta
      remove.push(add[1]!); // added and removed in one delta: removed
      const before = list;
      list = list.applied(v, add.map(fromHex), remove.map(fromHex));
      for (const a of add) model.add(a);
      for (const r of remove) model.delete(r);
      expect(list.version).to.equal(v);
      expect(list.size).to.equal(model.size);
      expect(before.version).to.equal(v - 1);
      for (const probe of [...add, ...remove, ...held.slice(0, 50), id()]) expect(list.has(probe), probe).to.equal(model.has(probe));
    }
    expect([...list.ids()]).to.deep.equal([...model].sort());
  });

  it('finds the first and the last id, and nothing that is not 16 lowercase hex digits', () => {
    const list = listOf(3, ['0000000000000000', '7fffffff00000001', 'ffffffffffffffff']);
    expect(['0000000000000000', '7fffffff00000001', 'ffffffffffffffff'].map((x) => list.has(x))).to.deep.equal([true, true, true]);
    expect(['7fffffff00000000', 'FFFFFFFFFFFFFFFF', 'ffffffffffffff', '', 'zzzzzzzzzzzzzzzz'].map((x) => list.has(x))).to.deep.equal([false, false, false, false, false]);
    expect(DenyList.EMPTY.has('0000000000000000')).to.equal(false);
  });

  it('refuses ids out of order or repeated, a ragged buffer, an older version and ids not of 8 bytes', () => {
    expect(() => new DenyList(1, fromHex('0000000000000002' + '0000000000000001'))).to.throw(DenyListError, /out of order/);
    expect(() => new DenyList(1, fromHex('0000000000000001' + '0000000000000001'))).to.throw(DenyListError, /repeated/);
    expect(() => new DenyList(1, new Uint8Array(12))).to.throw(DenyListError, /12 bytes/);
    const list = listOf(5, [id()]);
    expect(() => list.applied(5, [], [])).to.throw(DenyListError, /not newer/);
    expect(() => list.applied(6, [new Uint8Array(3)], [])).to.throw(DenyListError, /3 bytes/);
  });

  it('is stored as it is held: one run of ids, loaded without a copy; runs of other lengths dropped', () => {
    const list = listOf(9, Array.from({ length: 1000 }, id));
    const snapshot = encodeDenySnapshot(list);
    expect(snapshot.length).to.equal(4 + 3 + 8000);
    const back = decodeDenySnapshot(snapshot);
    expect([back.version, back.size]).to.deep.equal([9, 1000]);
    expect(back.bytes.buffer).to.equal(snapshot.buffer);
    // firmware that kept ids of any length wrote a run per length; the 8-byte ones are the wallets
    const older = Uint8Array.from([0, 0, 0, 4, 3, 0, 1, 1, 2, 3, 8, 0, 1, ...fromHex('0011223344556677')]);
    const kept = decodeDenySnapshot(older);
    expect([kept.version, [...kept.ids()]]).to.deep.equal([4, ['0011223344556677']]);
    expect(() => decodeDenySnapshot(Uint8Array.from([0, 0, 0, 1, 8, 0, 2, ...fromHex('0000000000000002'), ...fromHex('0000000000000001')]))).to.throw(UpdateError, /out of order/);
  });

  it('is the object the risk engine reads, not a copy: denied wallets, a lifted own denial, the cap', () => {
    const risk = new RiskEngine({ config: DEFAULT_RISK_CONFIG, maxDenied: 3 });
    const [a, b, c] = ['1111111111111111', '2222222222222222', '3333333333333333'];
    risk.deferredDone(c, 100, false); // the terminal denies c itself
    const v1 = listOf(1, [a, c]);
    expect(risk.useDenyList(v1)).to.equal(true);
    expect(risk.useDenyList(v1)).to.equal(false);
    expect(risk.denyVersion).to.equal(1);
    expect(risk.deniedWallets).to.equal(2);
    const cert = (walletId: string) => ({ walletId, serial: '0000000000000000' }) as Parameters<RiskEngine['isDenied']>[0];
    expect([a, b, c].map((w) => risk.isDenied(cert(w)))).to.deep.equal([true, false, true]);
    // the service lifts c: the terminal's own denial of it goes too
    expect(risk.useDenyList(v1.applied(2, [fromHex(b)], [fromHex(c)]))).to.equal(true);
    expect([a, b, c].map((w) => risk.isDenied(cert(w)))).to.deep.equal([true, true, false]);
    expect(() => risk.useDenyList(listOf(3, [a, b, c, '4444444444444444']))).to.throw(/at most 3/);
    expect(risk.denyVersion).to.equal(2);
  });

  it("the stored form's parser refuses with UpdateError only", () => {
    const fuzz = fuzzer({ seed: 0x5eed, inputs: 20_000, randomEvery: 50 });
    const seeds = [encodeDenySnapshot(listOf(2, Array.from({ length: 20 }, id))), encodeDenySnapshot(DenyList.EMPTY)];
    const r = fuzz('deny snapshot', seeds, decodeDenySnapshot, (e) => e instanceof UpdateError);
    expect(r.refused).to.be.greaterThan(0);
    expect(r.ok).to.be.greaterThan(0);
  });
});

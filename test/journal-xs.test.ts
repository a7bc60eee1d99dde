import { expect } from 'chai';
import { XSScenario } from '../host/xs/scenario';
import type { WorkloadResult } from './journal-workload';
import { CHECKPOINT_EVERY } from '../firmware/app/state';

describe('journal and uplink on the XS engine @xs', () => {
  let xs: XSScenario;
  before(async function () {
    this.timeout(120_000);
    xs = await XSScenario.load('test/xs/journal.guest.ts');
  });
  after(() => xs?.close());

  it('survives power cuts inside writes and erases, as on Node', async function () {
    this.timeout(300_000);
    const seed = Number(process.env.JOURNAL_SEED ?? Date.now() % 1_000_000);
    console.log(`      XS journal power-loss seed ${seed}`);
    const { value } = await xs.call<WorkloadResult>('workload', { seed, payments: 300, blocks: 8, cutEvery: 10, ackRate: 0.05 });
    expect(value.failures).to.deep.equal([]);
    expect(value.approved).to.equal(300);
    expect(value.cuts).to.be.greaterThan(20);
  });

  it('recovers a partition it wrote, with the chain verified', async function () {
    this.timeout(120_000);
    await xs.call('benchOpen', { blocks: 8 });
    for (let i = 1; i <= 30; i++) await xs.call('benchAppend', { bytes: 350, counter: i });
    await xs.call('benchCopy', {});
    const { value } = await xs.call<{ records: number; lastSeq: number; breaks: string[]; bytesRead: number }>('benchRecover', { verifyChain: true });
    // Every journal sequence number is a receipt or a periodic checkpoint; boot reads the newest blocks only.
    expect(value).to.deep.include({ breaks: [] });
    expect(value.records).to.equal(value.lastSeq);
    // 30 receipts and a checkpoint every CHECKPOINT_EVERY records (the terminal's cadence)
    expect(value.lastSeq).to.be.within(30 + Math.floor(30 / CHECKPOINT_EVERY) - 1, 30 + Math.ceil(30 / CHECKPOINT_EVERY));
    expect(value.bytesRead).to.be.below(8 * 4096);
  });

  it('uploads through a flaky transport: every receipt stored once, all acknowledged, updates applied', async function () {
    this.timeout(300_000);
    const { value } = await xs.call<{ acked: number; last: number; inserted: number; intact: boolean; denyList: string[]; stats: { failures: number } }>(
      'uplink',
      { seed: 7, receipts: 20, failEvery: 2 },
    );
    expect(value.acked).to.equal(value.last);
    expect(value.inserted).to.equal(20);
    expect(value.intact).to.equal(true);
    expect(value.stats.failures).to.be.greaterThan(0);
    expect(value.denyList).to.deep.equal(['0102030405060708']);
  });
});

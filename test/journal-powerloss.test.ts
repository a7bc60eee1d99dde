import { expect } from 'chai';
import { runWorkload } from './journal-workload';

// Power is cut inside flash writes and erases (a partial program clears a random subset of the bits it
// would clear; an interrupted erase sets a random subset back to 1), then the journal reboots and is
// checked: every approved, unacknowledged receipt present and intact, nothing unapproved or forged
// accepted, sequence continuous, acknowledgement and totals rebuilt exactly (test/journal-workload.ts).
describe('journal under power loss', () => {
  const seed = Number(process.env.JOURNAL_SEED ?? Date.now() % 1_000_000);

  it('J1 J3 J6 J9 J11: cut at every write and erase step of a run from an empty flash', function () {
    this.timeout(600_000);
    const options = { seed: 99, payments: 150, blocks: 6, cutEvery: 0, ackRate: 0.03 };
    const clean = runWorkload(options);
    expect(clean.failures).to.deep.equal([]);
    expect(clean.full).to.be.greaterThan(0, 'the run fills the journal at least once');
    let failures: string[] = [];
    for (let step = 0; step < clean.steps; step++) {
      const r = runWorkload({ ...options, cutAtStep: step });
      expect(r.cuts).to.equal(1);
      failures = failures.concat(r.failures.map((f) => `step ${step}: ${f}`));
    }
    console.log(`      ${clean.steps} cut points, each followed by a reboot and the rest of the run`);
    expect(failures.slice(0, 10)).to.deep.equal([]);
  });

  it('J1 J3 J6 J9 J11: thousands of payments with uploads and reclaims, power cut again and again', function () {
    this.timeout(600_000);
    console.log(`      journal power-loss seed ${seed} (JOURNAL_SEED to replay)`);
    let cuts = 0;
    let approved = 0;
    let full = 0;
    for (let i = 0; i < 4; i++) {
      const r = runWorkload({ seed: seed + i, payments: 1200, blocks: 12, cutEvery: [3, 12, 40][i % 3]!, ackRate: i % 2 ? 0.01 : 0.08 });
      expect(r.failures.slice(0, 10)).to.deep.equal([]);
      expect(r.approved).to.equal(1200);
      cuts += r.cuts;
      approved += r.approved;
      full += r.full;
    }
    console.log(`      ${approved} payments, ${cuts} power cuts and reboots, journal full ${full} times`);
    expect(cuts).to.be.greaterThan(1000);
  });
});

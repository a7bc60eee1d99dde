// The fleet simulation at a small size (test/settlement-fleet.ts; npm run bench runs it large): every
// outcome the operator cares about, asserted.
import { expect } from 'chai';
import { runFleet } from './settlement-fleet';
import { sqliteBackend, type Backend } from './settlement-fixtures';

describe('settlement fleet simulation (small)', function () {
  let backend: Backend;
  before(async () => {
    backend = await sqliteBackend();
  });
  after(async () => {
    await backend?.stop();
  });

  it('10 terminals x 300 wallets x 3,000 payments with clones, outages and lost answers: clones caught, nothing lost or paid twice', async () => {
    const r = await runFleet(backend, {
      terminals: 10,
      wallets: 300,
      payments: 3000,
      cloneShare: 0.05,
      outage: 0.1,
      lostAnswer: 0.1,
      uploadEvery: 40,
      seed: 'fleet test',
    });
    console.log(`      ${JSON.stringify(r)}`);
    expect(r.clonesDoubleSpent).to.be.greaterThan(3);
    expect(r.clonesCaught).to.equal(r.clonesDoubleSpent);
    expect(r.wronglyFlagged).to.equal(0);
    expect(r.receiptsLost).to.equal(0);
    expect(r.creditedTwice).to.equal(0);
    expect(r.uncreditedUnknowable).to.equal(0);
    expect(r.beyondCaps).to.equal(0);
    expect(r.lostAnswers).to.be.greaterThan(0);
    expect(r.approved).to.be.greaterThan(2500);
  });
});

// What the terminal's state checkpoint keeps across a reboot when it outgrows one journal record: the
// risk state of 1,000 wallets (counters, daily totals, last approval) and the terminal sequence.
import { expect } from 'chai';
import { TerminalStore, RECORD_RISK_STATE } from '../firmware/app/state';
import { DEFAULT_RISK_CONFIG } from '../firmware/core/risk/config';
import { silentLog } from '../firmware/base/platform';
import { RamFlash } from '../host/flash/ram-flash';
import { NOW } from './xs/core-scenarios';

describe('terminal state across a reboot', () => {
  it('J13: a checkpoint of 1,000 wallets spans journal records and comes back whole, with the terminal sequence', () => {
    const flash = new RamFlash({ blocks: 64 });
    const riskOptions = { config: DEFAULT_RISK_CONFIG, settledAt: NOW };
    const a = new TerminalStore({ flash, log: silentLog, riskOptions });
    a.journal.open();
    const id = (i: number) => (0x5000_0000 + i).toString(16).padStart(16, '0');
    for (let i = 1; i <= 1000; i++) a.risk.record({ walletId: id(i), counter: i * 3, amount: 100, terminalSeq: i, time: NOW + i, deferred: false });
    a.inDoubt.lastSeq = 1000;
    const seq = a.journal.checkpoint();
    const stored = a.journal.latest(RECORD_RISK_STATE)!;
    expect(stored.seq).to.equal(seq);
    expect(stored.payload.length).to.be.greaterThan(3 * a.journal.maxPayload);

    const b = new TerminalStore({ flash, log: silentLog, riskOptions });
    b.journal.open();
    b.loadCheckpoint();
    expect(b.replayFrom).to.equal(seq);
    expect(b.inDoubt.lastSeq).to.equal(1000);
    expect(b.risk.lastTerminalSeq).to.equal(1000);
    expect([b.risk.offlineCount, b.risk.offlineAmount]).to.deep.equal([1000, 100_000]);
    for (const i of [1, 181, 500, 1000]) expect(b.risk.counterOf(id(i)), `wallet ${i}`).to.equal(i * 3);
  });
});

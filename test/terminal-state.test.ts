// What the terminal's state checkpoint keeps across a reboot when it outgrows one journal record: the
// risk state of 1,000 wallets (counters, daily totals, last approval) and the terminal sequence.
import { expect } from 'chai';
import { TerminalStore, RECORD_RISK_STATE, RECORD_RISK_DELTA, encodeState, encodeDelta } from '../firmware/app/state';
import { toHex } from '../firmware/base/bytes';
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

describe('delta checkpoints', () => {
  const riskOptions = { config: DEFAULT_RISK_CONFIG, settledAt: NOW };
  const id = (i: number) => (0x6000_0000 + i).toString(16).padStart(16, '0');
  const reboot = (flash: RamFlash) => {
    const s = new TerminalStore({ flash, log: silentLog, riskOptions });
    s.journal.open();
    s.loadCheckpoint();
    return s;
  };

  it('J13: between full checkpoints of 1,000 wallets, one record of what changed; a reboot from the full one and its delta is the same state', () => {
    const flash = new RamFlash({ blocks: 128 });
    let live = new TerminalStore({ flash, log: silentLog, riskOptions });
    live.journal.open();
    let seq = 0;
    let next = 1;
    const pay = (walletId: string) => live.risk.record({ walletId, counter: 7 * ++seq, amount: 50 + (seq % 9), terminalSeq: seq, time: NOW + seq, deferred: false });
    for (; next <= 1000; next++) pay(id(next));
    live.inDoubt.lastSeq = seq;
    const first = live.journal.checkpoint();
    expect(live.journal.latest(RECORD_RISK_STATE)!.seq).to.equal(first);
    let deltas = 0;
    let fulls = 0;
    // a random walk over known riders and new ones (a new rider makes the table forget its oldest)
    let x = 12345;
    const random = () => (x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 60; round++) {
      for (let n = Math.floor(random() * 12); n >= 0; n--) pay(random() < 0.3 ? id(next++) : id(next - 1 - Math.floor(random() * 900)));
      live.inDoubt.lastSeq = seq;
      const at = live.journal.checkpoint();
      const delta = live.journal.latest(RECORD_RISK_DELTA);
      if (delta?.seq === at) deltas++;
      else {
        expect(live.journal.latest(RECORD_RISK_STATE)!.seq, `round ${round}: a checkpoint is a delta or a full one`).to.equal(at);
        fulls++;
      }
      const booted = reboot(flash);
      expect(booted.replayFrom, `round ${round}`).to.equal(at);
      expect(toHex(encodeState(booted.risk, booted.inDoubt)), `round ${round}: the state after the reboot`).to.equal(toHex(encodeState(live.risk, live.inDoubt)));
      // what changed since the full checkpoint came back too: the next delta is the same from either
      const base = live.journal.latest(RECORD_RISK_STATE)!.seq;
      expect(toHex(encodeDelta(booted.risk, booted.inDoubt, base) ?? new Uint8Array()), `round ${round}: the delta after the reboot`).to.equal(toHex(encodeDelta(live.risk, live.inDoubt, base) ?? new Uint8Array()));
      // the terminal goes on from the rebooted state half the time
      if (random() < 0.5) live = booted;
    }
    // most checkpoints are one record; a full one comes once the change outgrows a record
    expect(deltas).to.be.greaterThan(40);
    expect(fulls).to.be.greaterThan(0);
  });

  it('J13: a delta that names another full checkpoint is not applied: the full one and the records after it stand', () => {
    const flash = new RamFlash({ blocks: 64 });
    const live = new TerminalStore({ flash, log: silentLog, riskOptions });
    live.journal.open();
    for (let i = 1; i <= 400; i++) live.risk.record({ walletId: id(i), counter: i, amount: 10, terminalSeq: i, time: NOW + i, deferred: false });
    const full = live.journal.checkpoint();
    live.risk.record({ walletId: id(7), counter: 9999, amount: 10, terminalSeq: 401, time: NOW + 401, deferred: false });
    const delta = live.journal.checkpoint();
    expect(live.journal.latest(RECORD_RISK_DELTA)!.seq).to.equal(delta);
    expect(reboot(flash).risk.counterOf(id(7))).to.equal(9999);
    // a delta that names another full checkpoint (a bug or a forged record) is not applied
    const forged = encodeDelta(live.risk, live.inDoubt, full + 1)!;
    live.journal.appendSync(RECORD_RISK_DELTA, forged);
    const booted = reboot(flash);
    expect(booted.replayFrom).to.equal(full);
    expect(booted.risk.counterOf(id(7))).to.equal(7);
  });
});

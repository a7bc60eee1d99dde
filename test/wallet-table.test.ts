import { expect } from 'chai';
import { XSScenario } from '../host/xs/scenario';
import { WalletTable, WALLET_RECORD } from '../firmware/core/risk/wallet-table';
import { RiskEngine } from '../firmware/core/risk/engine';
import { DEFAULT_RISK_CONFIG } from '../firmware/core/risk/config';
import { TlvError } from '../firmware/core/protocol/tlv';
import { walletTableModel, WALLET_TABLE_RUNS } from './wallet-table-scenarios';

const NOW = 1_790_000_000;
const id = (n: number) => n.toString(16).padStart(16, '0');

describe('the risk engine wallet table', () => {
  for (const run of WALLET_TABLE_RUNS) {
    it(`matches the least-recently-seen Map it replaced, across full and delta checkpoints: ${run.capacity} wallets of ${run.wallets} (${run.sequential ? 'ids in sequence' : 'random ids'})`, function () {
      this.timeout(60_000);
      const report = walletTableModel(run);
      expect(report).to.match(/: all as the model$/);
      // the run rebooted from deltas as well as from full checkpoints, and forgot wallets between them
      const [, forgotten, checkpoints, deltas] = report.match(/(\d+) forgotten, .* (\d+) checkpoints \((\d+) of them deltas\)/)!.map(Number);
      expect(deltas).to.be.greaterThan(0).and.lessThan(checkpoints!);
      expect(forgotten).to.be.greaterThan(0);
    });
  }

  it('forgets the least recently seen wallet, not the least recently stored', () => {
    const t = new WalletTable(2);
    t.set(id(1), { counter: 1, day: 1, dayTotal: 1 });
    t.set(id(2), { counter: 1, day: 1, dayTotal: 1 });
    t.set(id(1), { counter: 2, day: 1, dayTotal: 2 });
    t.set(id(3), { counter: 1, day: 1, dayTotal: 1 });
    expect(t.get(id(2))).to.equal(undefined);
    expect(t.get(id(1))?.counter).to.equal(2);
    expect(t.size).to.equal(2);
  });

  it('refuses an id that is not 16 hex digits, and fields wider than the checkpoint holds', () => {
    const t = new WalletTable(4);
    expect(() => t.set('000000000000000g', { counter: 1, day: 1, dayTotal: 1 })).to.throw(TypeError, /16 hex digits/);
    expect(() => t.set('0001', { counter: 1, day: 1, dayTotal: 1 })).to.throw(TypeError, /16 hex digits/);
    expect(() => t.set(id(1), { counter: 2 ** 32, day: 1, dayTotal: 1 })).to.throw(/widths/);
    expect(() => t.set(id(1), { counter: 1, day: 1, dayTotal: 2 ** 48 })).to.throw(/widths/);
    expect(t.size).to.equal(0);
  });

  it('refuses a checkpoint table that is torn, too large or names a wallet twice', () => {
    const t = new WalletTable(2);
    t.set(id(1), { counter: 1, day: 1, dayTotal: 1 });
    t.set(id(2), { counter: 1, day: 1, dayTotal: 1 });
    const bytes = new Uint8Array(t.encodedLength);
    t.encodeInto(bytes, 0);
    expect(() => new WalletTable(2).load(bytes.subarray(1))).to.throw(TlvError, /wallet table of 51 bytes/);
    expect(() => new WalletTable(1).load(bytes)).to.throw(TlvError, /at most 1/);
    const twice = new Uint8Array(2 * WALLET_RECORD);
    twice.set(bytes.subarray(0, WALLET_RECORD), 0);
    twice.set(bytes.subarray(0, WALLET_RECORD), WALLET_RECORD);
    expect(() => new WalletTable(2).load(twice)).to.throw(TlvError, /0000000000000001 twice/);
  });

  it('keeps the checkpoint format: the engine reads the bytes it wrote, oldest wallet first', () => {
    const risk = new RiskEngine({ config: DEFAULT_RISK_CONFIG, settledAt: NOW, maxWallets: 1000 });
    for (let i = 0; i < 1200; i++) risk.record({ walletId: id(i % 1100), counter: 1 + i, amount: 10, terminalSeq: i + 1, time: NOW + i, deferred: false });
    const bytes = risk.encode();
    const back = RiskEngine.decode(bytes, { config: DEFAULT_RISK_CONFIG, maxWallets: 1000 });
    expect(back.encode()).to.deep.equal(bytes);
    // wallets 0..99 came back as 1100..1199 and pushed out 100..199
    expect(back.counterOf(id(99))).to.equal(1200);
    expect(back.counterOf(id(150))).to.equal(0);
    expect(back.counterOf(id(200))).to.equal(201);
  });

  describe('on the XS engine @xs', () => {
    let xs: XSScenario;
    before(async function () {
      this.timeout(120_000);
      xs = await XSScenario.load('test/xs/wallet-table.guest.ts');
    });
    after(() => xs?.close());
    for (const [index, run] of WALLET_TABLE_RUNS.entries()) {
      it(`the same model run: ${run.capacity} wallets of ${run.wallets}`, async function () {
        this.timeout(300_000);
        expect((await xs.call<string>('run', { index })).value).to.equal(walletTableModel(run));
      });
    }
  });
});

// The merchant's day totals (firmware/core/risk/day-totals.ts) end to end, run unchanged on Node
// (test/day-totals.test.ts) and on XS (test/xs/day-totals.guest.ts): a merchant terminal on a NOR flash
// journal (the device's TerminalStore, as in test/refund-scenarios.ts), payments, a refund, midnight,
// reboots, the time lost, a payment left in doubt by a power cut and recovered at the next tap. Each
// scenario returns what the D screens and the serial log say, for the test to compare.
import type { Alg } from '../firmware/core/crypto/verify';
import type { Log } from '../firmware/base/platform';
import { formatAmount } from '../firmware/base/amount';
import { dayDate, DayTotals, type DayTotal } from '../firmware/core/risk/day-totals';
import type { WalletEmulator } from '../host/wallet/emulator';
import { PowerLossError } from '../host/flash/ram-flash';
import { NOW, RefundDevice, RefundWorld } from './refund-scenarios';
import { CutLink } from './in-doubt-campaign';
import { DeviceWorld } from './xs/device-world';

const DAY = 86400;
/** The midnight after NOW (NOW is 2026-09-21 14:13:20 UTC). */
const MIDNIGHT = (Math.floor(NOW / DAY) + 1) * DAY;

class Till {
  readonly lines: string[] = [];
  readonly log: Log = (level, tag, message) => void (tag === 'totals' && this.lines.push(`${level} ${tag}: ${message}`));
  readonly world: RefundWorld;
  readonly device: RefundDevice;

  constructor(alg: Alg, seed: string, utcOffsetMinutes = 0) {
    this.world = new RefundWorld(alg, seed);
    this.device = new RefundDevice(this.world, { log: this.log, utcOffsetMinutes });
    this.device.boot();
  }

  /** D, then D again: today's screen and the previous day's, as text; then a key closes them. */
  async dScreens(): Promise<string> {
    await this.device.keys('D');
    const today = this.device.shown;
    await this.device.keys('D');
    const previous = this.device.shown;
    await this.device.keys('*');
    return `D: ${today} / D: ${previous}`;
  }

  async tick(): Promise<void> {
    await this.device.terminal.handle({ type: 'tick' });
  }

  /** A payment of 30.00 today, then the clock passes midnight and a tick sees it. */
  async payThenMidnight(wallet: WalletEmulator): Promise<void> {
    await this.device.pay(wallet, 3000);
    wallet.removed();
    this.device.clock.setWallTime(MIDNIGHT + 30);
    await this.tick();
  }
}

export const DAY_TOTALS_SCENARIOS: Record<string, { expect: string; run: (alg: Alg) => Promise<string> }> = {
  'two payments and a refund sum right, on the D screen and the serial log': {
    expect:
      'D: offline | 2 pending | settled 1 min ago | today 2026-09-21 | 2 paid 42.50 | 1 refunded 10.00 | net 32.50 / D: no earlier day; ' +
      'log: info totals: today 2026-09-21: 2 payments 42.50, 1 refund 10.00, net 32.50',
    async run(alg) {
      const till = new Till(alg, 'sums');
      const a = till.world.wallet();
      const b = till.world.wallet();
      await till.device.pay(a, 3000);
      a.removed();
      await till.device.pay(b, 1250);
      b.removed();
      await till.device.refund(a, '1', '1000');
      a.removed();
      return `${await till.dScreens()}; log: ${till.lines.join(' / ')}`;
    },
  },
  'midnight moves today to yesterday, logged once; a reboot keeps both days': {
    expect:
      'log: info totals: day closed 2026-09-21: 1 payment 30.00, 0 refunds 0.00, net 30.00; ' +
      'D: offline | 2 pending | settled 588 min ago | today 2026-09-22 | 1 paid 7.00 | 0 refunded 0.00 | net 7.00 / D: yesterday 2026-09-21 | 1 paid 30.00 | 0 refunded 0.00 | net 30.00; ' +
      'after a reboot the same: true',
    async run(alg) {
      const till = new Till(alg, 'midnight');
      const a = till.world.wallet();
      await till.payThenMidnight(a);
      await till.tick();
      const closed = till.lines.join(' / ');
      await till.device.pay(a, 700);
      a.removed();
      const before = await till.dScreens();
      till.device.boot();
      const after = await till.dScreens();
      return `log: ${closed}; ${before}; after a reboot the same: ${before === after || `${after}`}`;
    },
  },
  'the close at midnight is checkpointed: a reboot right after it does not count a payment of the time unknown on the day before': {
    expect: 'today 2026-09-22 | 1 paid 5.00 / yesterday 2026-09-21 | 1 paid 30.00',
    async run(alg) {
      const till = new Till(alg, 'close-checkpoint');
      const a = till.world.wallet();
      await till.payThenMidnight(a);
      // The clock is lost (a reset without a battery): the next payment has no time of its own.
      till.device.clock.setWallTime(undefined);
      await till.device.pay(a, 500);
      a.removed();
      till.device.clock.setWallTime(undefined);
      till.device.boot();
      const t = till.device.store.risk.totals;
      return `today ${dayText(t.today)} / yesterday ${t.previous ? dayText(t.previous) : 'none'}`;
    },
  },
  'the time unknown after a reboot: payments count on the open day, and stay there when the time comes back': {
    expect: 'time unknown: 2026-09-21 | 2 paid 35.00; the time back at 23:00: 2026-09-21 | 3 paid 37.00; after midnight: today 2026-09-22 | 0 paid 0.00 / yesterday 2026-09-21 | 3 paid 37.00',
    async run(alg) {
      const till = new Till(alg, 'unknown');
      const a = till.world.wallet();
      await till.device.pay(a, 3000);
      a.removed();
      till.device.clock.setWallTime(undefined);
      till.device.boot();
      await till.device.pay(a, 500);
      a.removed();
      const unknown = dayText(till.device.store.risk.totals.today);
      till.device.clock.setWallTime(MIDNIGHT - 3600);
      await till.device.pay(a, 200);
      a.removed();
      const back = dayText(till.device.store.risk.totals.today);
      till.device.clock.setWallTime(MIDNIGHT + 60);
      await till.tick();
      const t = till.device.store.risk.totals;
      return `time unknown: ${unknown}; the time back at 23:00: ${back}; after midnight: today ${dayText(t.today)} / yesterday ${t.previous ? dayText(t.previous) : 'none'}`;
    },
  },
  'a payment left in doubt by a power cut counts once, when the next tap recovers it; a reboot keeps it': {
    expect: 'after the cut: 0 paid 0.00, 1 in doubt; another wallet: 1 paid 12.50; recovered at the next tap: 3 paid 49.50; after a reboot: 3 paid 49.50',
    async run(alg) {
      const till = new Till(alg, 'in-doubt');
      const a = till.world.wallet();
      const b = till.world.wallet();
      // SELECT, READ CERTIFICATE, PAY: power dies once the wallet has answered PAY (boundary 2k+1 of command 2).
      try {
        await till.device.pay(new CutLink(a, till.device.flash, 5), 3000);
      } catch (e) {
        if (!(e instanceof PowerLossError)) throw e;
      }
      a.removed();
      till.device.boot();
      const cut = `${paidText(till)}, ${till.device.store.inDoubt.open.length} in doubt`;
      await till.device.pay(b, 1250);
      b.removed();
      const other = paidText(till);
      await till.device.pay(a, 700);
      a.removed();
      const recovered = paidText(till);
      till.device.boot();
      return `after the cut: ${cut}; another wallet: ${other}; recovered at the next tap: ${recovered}; after a reboot: ${paidText(till)}`;
    },
  },
  'a merchant at UTC+8: the day closes at local midnight, 16:00 UTC; the provisioning file sets it, and refuses an offset out of range': {
    expect:
      'at 16:00:30 UTC: info totals: day closed 2026-09-21: 1 payment 30.00, 0 refunds 0.00, net 30.00; today 2026-09-22 | 1 paid 7.00; ' +
      'provisioned 480: the terminal counts at 480; 900: BootError config: ProvisioningError: utcOffsetMinutes must be in -720..840',
    async run(alg) {
      const till = new Till(alg, 'utc+8', 480);
      const a = till.world.wallet();
      await till.device.pay(a, 3000);
      a.removed();
      // NOW is 22:13 in UTC+8: local midnight comes at 16:00 UTC the same UTC day
      till.device.clock.setWallTime(MIDNIGHT - 8 * 3600 + 30);
      await till.tick();
      await till.device.pay(a, 700);
      a.removed();
      const closed = `at 16:00:30 UTC: ${till.lines.join(' / ')}; today ${dayText(till.device.store.risk.totals.today)}`;
      const provisioned = async (offset: number) => {
        const plain = new DeviceWorld();
        const world = new DeviceWorld({ provisioning: JSON.stringify({ ...JSON.parse(plain.provisioning), utcOffsetMinutes: offset }) });
        try {
          return `the terminal counts at ${(await world.boot()).risk.totals.utcOffsetMinutes}`;
        } catch (e) {
          return e instanceof Error ? `${e.name} ${e.message}` : String(e);
        }
      };
      return `${closed}; provisioned 480: ${await provisioned(480)}; 900: ${await provisioned(900)}`;
    },
  },
  'the checkpoint field: read back as written; a torn one, or a previous day not before today, refused': {
    expect: 'round trip true; 47 bytes: TlvError day totals of 47 bytes; swapped days: TlvError day totals: the previous day is not before the open day; none closed: previous none',
    async run() {
      const t = new DayTotals();
      t.paid(3000, NOW);
      t.refunded(1000, undefined);
      t.paid(700, MIDNIGHT + 5);
      const bytes = t.encode();
      const back = DayTotals.decode(bytes);
      const same = JSON.stringify([back.today, back.previous]) === JSON.stringify([t.today, t.previous]);
      const swapped = new Uint8Array(bytes.length);
      swapped.set(bytes.subarray(24), 0);
      swapped.set(bytes.subarray(0, 24), 24);
      const refused = (b: Uint8Array) => {
        try {
          DayTotals.decode(b);
          return 'read';
        } catch (e) {
          return e instanceof Error ? `${e.name} ${e.message}` : String(e);
        }
      };
      const fresh = DayTotals.decode(new DayTotals().encode());
      return `round trip ${same}; 47 bytes: ${refused(bytes.subarray(0, 47))}; swapped days: ${refused(swapped)}; none closed: previous ${fresh.previous ? 'some' : 'none'}`;
    },
  },
};

function dayText(t: DayTotal): string {
  return `${dayDate(t.day)} | ${t.payments} paid ${formatAmount(t.paid)}`;
}

function paidText(till: Till): string {
  const t = till.device.store.risk.totals.today;
  return `${t.payments} paid ${formatAmount(t.paid)}`;
}

// Transit fare scenarios that run unchanged on Node (test/fares.test.ts) and on XS
// (test/xs/fares.guest.ts): each fare rule at a validator priced from the wallet's own transit log,
// and the attacks on that log. A second validator is the same terminal given another station (and a
// clock moved past anti-passback), so one world holds a whole journey.
import type { Alg } from '../../firmware/core/crypto/verify';
import { INS_READ_TRANSIT_LOG } from '../../firmware/core/protocol/apdu';
import { decodeReceipt } from '../../firmware/core/protocol/receipt';
import { verifyReceipt } from '../../firmware/core/crypto/receipt';
import { parseFareRules, type FareRules } from '../../firmware/core/fares/rules';
import { serviceDay } from '../../firmware/core/fares/engine';
import {
  decodeTransitLog,
  encodeTransitLog,
  TAP_OFF,
  TAP_ON,
  TAP_RIDE,
  TRANSIT_LOG_ENTRIES,
  transitLogDigest,
  weekOf,
  type TransitEntry,
} from '../../firmware/core/protocol/transit-log';
import { decodeResponse, encodeResponse } from '../../firmware/core/protocol/apdu';
import type { Effect } from '../../firmware/core/terminal/terminal';
import { CardLostError, type CardLink } from '../../firmware/base/ports';
import { INS_PAY } from '../../firmware/core/protocol/apdu';
import type { WalletEmulator } from '../../host/wallet/emulator';
import { NOW, Relay, World, outcomeOf, type WalletSpec } from './core-scenarios';

const OPERATOR = 7;
/** Tuesday 2026-09-22 08:00 in UTC+8: a peak hour. */
export const PEAK = NOW + 35_200;
const MINUTE = 60_000;

const BASE = { operator: OPERATOR, operatorId: 'M-cafe', utcOffsetMinutes: 480, dayStartMinutes: 240 };

export const FLAT_RULES = {
  ...BASE,
  fare: { kind: 'flat', amount: 200 },
  transfer: { withinMinutes: 60, percent: 0 },
  caps: { daily: 500, weekly: 1800 },
  concessions: { walletClasses: { '4': 50 }, entitlements: { '1': 0, '2': 50 } },
};

export const ZONE_RULES = {
  ...BASE,
  fare: { kind: 'zones', stations: { '1': 0, '2': 0, '3': 1, '4': 2 }, table: [[200, 300, 400], [300, 200, 300], [400, 300, 200]], maxJourneyMinutes: 120 },
  transfer: { withinMinutes: 30, percent: 50 },
  caps: { daily: 1000 },
};

/**
 * A rider transferring at station 1 of ZONE_RULES, 10 minutes after a tap-off at station 4 (the
 * device-sized host's priced transit tap, host/xsdev/scenario.ts): the rules for operator id
 * `operatorId`, the station and the wallet's log.
 */
export function transferringRider(operatorId: string, time: number): { rules: Record<string, unknown>; station: number; log: TransitEntry[] } {
  const rules = { ...ZONE_RULES, operatorId };
  const day = serviceDay(parseFareRules(rules), time);
  const log: TransitEntry[] = [{ kind: TAP_OFF, transfer: false, time: time - 600, operator: OPERATOR, station: 4, fare: 0, refund: 100, counter: 1, day, dayTotal: 300, weekTotal: 300 }];
  return { rules, station: 1, log };
}

export const PEAK_RULES = {
  ...FLAT_RULES,
  caps: {},
  peak: { windows: [['07:00', '09:30'], ['17:00', '19:30']], weekdaysOnly: true, offPeakPercent: 75 },
};

interface Charged {
  outcome: string;
  amount?: number;
  refund?: number;
  kind?: number;
  transfer?: boolean;
}

class FareWorld extends World {
  readonly version: number | undefined;
  constructor(readonly rules: FareRules, station: number, o: { alg: Alg; time?: number; version?: number }) {
    // rides over more than a week: the offline window is not what these scenarios test
    super({ alg: o.alg, mode: 'transit', time: o.time ?? NOW, fares: { rules, station, ...(o.version !== undefined ? { version: o.version } : {}) }, config: { maxOfflineSeconds: 30 * 86400 } });
    this.version = o.version;
  }

  /** The rider walks to another validator (or the same one) and taps `minutes` later. */
  async ride(link: CardLink, minutes: number, station?: number): Promise<Charged> {
    this.clock.advance(minutes * MINUTE);
    await this.send({ type: 'tick' });
    if (station !== undefined) this.terminal.setFares({ rules: this.rules, station, ...(this.version !== undefined ? { version: this.version } : {}) });
    const effects = await this.send({ type: 'card', link });
    return charged(effects);
  }
}

function charged(effects: Effect[]): Charged {
  const outcome = outcomeOf(effects);
  for (const e of effects) {
    if (e.type === 'outcome' && e.approved) {
      return { outcome, amount: e.amount, refund: e.fare?.refund, kind: e.fare?.kind, transfer: e.fare?.transfer };
    }
  }
  return { outcome };
}

/** "approved" when every trip charged what is expected, else what differed. */
function expectCharges(got: Charged[], want: Partial<Charged>[]): string {
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    for (const [k, v] of Object.entries(want[i]!)) {
      if ((g as unknown as Record<string, unknown>)[k] !== v) return `trip ${i + 1}: ${k} ${String((g as unknown as Record<string, unknown>)[k])}, expected ${String(v)}`;
    }
  }
  return 'approved';
}

function world(rules: Record<string, unknown>, station: number, alg: Alg, time?: number): FareWorld {
  return new FareWorld(parseFareRules(rules), station, time === undefined ? { alg } : { alg, time });
}

function wallet(w: World, spec: WalletSpec = {}): WalletEmulator {
  return w.wallet({ balance: 100_00, ...spec });
}

/** A log of `n` old rides of another operator, to fill the card. */
function fullLog(n: number, rules: FareRules, last: Partial<TransitEntry> = {}): TransitEntry[] {
  const day = serviceDay(rules, NOW);
  const entries: TransitEntry[] = [];
  for (let i = 0; i < n; i++) {
    entries.push({ kind: TAP_RIDE, transfer: false, time: NOW - 86400 * 3 + i * 600, operator: 99, station: 1, fare: 100, refund: 0, counter: i + 1, day: day - 3, dayTotal: 100 * (i + 1), weekTotal: 100 * (i + 1) });
  }
  if (n > 0) Object.assign(entries[n - 1]!, last);
  return entries;
}

export type FareScenario = (alg: Alg) => Promise<string>;

export const FARE_SCENARIOS: Record<string, { expect: string; run: FareScenario }> = {
  'a flat fare, then a free transfer within the window, then a full fare after it': {
    expect: 'approved',
    run: async (alg) => {
      const w = world({ ...FLAT_RULES, caps: {} }, 1, alg);
      const card = wallet(w);
      const trips = [await w.ride(card, 0), await w.ride(card, 40), await w.ride(card, 30), await w.ride(card, 90)];
      // the transfer cannot give a transfer in turn: the third trip pays; the fourth is past the window
      const r = expectCharges(trips, [
        { outcome: 'approved', amount: 200, transfer: false },
        { amount: 0, transfer: true },
        { amount: 200, transfer: false },
        { amount: 200, transfer: false },
      ]);
      return r === 'approved' && card.balance !== 100_00 - 600 ? `balance ${card.balance}` : r;
    },
  },
  'a capped day: the third trip costs what is left of the cap, the fourth nothing, the next day full fare': {
    expect: 'approved',
    run: async (alg) => {
      const w = world({ ...FLAT_RULES, transfer: undefined }, 1, alg);
      const card = wallet(w);
      // 22:13 to 23:43 on a Monday, then the next evening: the service day begins at 04:00
      const trips = [await w.ride(card, 0), await w.ride(card, 30), await w.ride(card, 30), await w.ride(card, 30), await w.ride(card, 24 * 60)];
      const r = expectCharges(trips, [{ amount: 200 }, { amount: 200 }, { amount: 100 }, { amount: 0 }, { amount: 200 }]);
      const last = card.transitLog[card.transitLog.length - 1]!;
      return r === 'approved' && (last.dayTotal !== 200 || last.weekTotal !== 700) ? `totals ${last.dayTotal}/${last.weekTotal}` : r;
    },
  },
  'a capped week: never beyond the weekly cap, whatever the day': {
    expect: 'approved',
    run: async (alg) => {
      const rules = parseFareRules({ ...FLAT_RULES, transfer: undefined, caps: { weekly: 500 } });
      const w = new FareWorld(rules, 1, { alg });
      const day = serviceDay(rules, NOW);
      // Monday: the card already paid 400 this week (the day before, Sunday, is another week)
      const card = wallet(w, { counter: 1, transitLog: [{ kind: TAP_RIDE, transfer: false, time: NOW - 3600, operator: OPERATOR, station: 1, fare: 400, refund: 0, counter: 1, day, dayTotal: 400, weekTotal: 400 }] });
      // Monday, Tuesday, and the Monday after
      const trips = [await w.ride(card, 0), await w.ride(card, 24 * 60), await w.ride(card, 6 * 24 * 60)];
      if (weekOf(day) !== weekOf(day + 1) || weekOf(day) === weekOf(day + 7)) return 'the test week is wrong';
      return expectCharges(trips, [{ amount: 100 }, { amount: 0 }, { amount: 200 }]);
    },
  },
  'a concession by wallet class (class 4 pays half)': {
    expect: 'approved',
    run: async (alg) => {
      const w = world({ ...FLAT_RULES, caps: {}, transfer: undefined }, 1, alg);
      return expectCharges([await w.ride(wallet(w, { walletClass: 4 }), 0), await w.ride(wallet(w, { walletClass: 2 }), 1)], [{ amount: 100 }, { amount: 200 }]);
    },
  },
  'a concession entitlement in the certificate: free while it runs, full fare after it ends': {
    expect: 'approved',
    run: async (alg) => {
      const w = world({ ...FLAT_RULES, caps: {}, transfer: undefined }, 1, alg);
      const student = wallet(w, { concession: 1, concessionUntil: NOW + 3600 });
      const trips = [await w.ride(student, 0), await w.ride(student, 120)];
      // a forged entitlement is the certificate changed: its issuer signature fails (PROTOCOL.md)
      return expectCharges(trips, [{ amount: 0 }, { amount: 200 }]);
    },
  },
  'tap-on charges the most a journey from there can cost, tap-off refunds the rest': {
    expect: 'approved',
    run: async (alg) => {
      const w = world(ZONE_RULES, 1, alg);
      const card = wallet(w);
      const trips = [await w.ride(card, 0), await w.ride(card, 25, 3)];
      const r = expectCharges(trips, [{ amount: 400, kind: TAP_ON }, { amount: 0, refund: 100, kind: TAP_OFF }]);
      // zone 0 to zone 1 costs 300: 400 held, 100 back
      return r === 'approved' && card.balance !== 100_00 - 300 ? `balance ${card.balance}` : r;
    },
  },
  'a tap-on without a tap-off keeps the maximum; the next tap begins a new journey': {
    expect: 'approved',
    run: async (alg) => {
      const w = world(ZONE_RULES, 3, alg);
      const card = wallet(w);
      // from zone 1 the most is 300; three hours later the journey is over: no refund, a new tap-on
      const trips = [await w.ride(card, 0), await w.ride(card, 180, 4), await w.ride(card, 20, 1)];
      const r = expectCharges(trips, [{ amount: 300, kind: TAP_ON }, { amount: 400, kind: TAP_ON }, { amount: 0, kind: TAP_OFF, refund: 0 }]);
      return r === 'approved' && card.balance !== 100_00 - 700 ? `balance ${card.balance}` : r;
    },
  },
  'a transfer between tap-on/tap-off journeys pays half, and the cap holds across the refund': {
    expect: 'approved',
    run: async (alg) => {
      const w = world({ ...ZONE_RULES, caps: { daily: 600 } }, 1, alg);
      const card = wallet(w);
      const trips = [
        await w.ride(card, 0), await w.ride(card, 20, 4), // 400 held, 400 charged (zone 0 -> 2)
        await w.ride(card, 10, 4), await w.ride(card, 15, 3), // transfer: most from zone 2 is 400, half 200; 300 -> 150
      ];
      const r = expectCharges(trips, [{ amount: 400 }, { refund: 0 }, { amount: 200, transfer: true, kind: TAP_ON }, { refund: 50, kind: TAP_OFF, transfer: true }]);
      return r === 'approved' && card.balance !== 100_00 - 550 ? `balance ${card.balance}` : r;
    },
  },
  'peak and off-peak: the same ride at 08:00 and at 11:00 on a weekday, and at 08:00 on Saturday': {
    expect: 'approved',
    run: async (alg) => {
      const w = world(PEAK_RULES, 1, alg, PEAK);
      const card = wallet(w);
      const trips = [await w.ride(card, 0), await w.ride(card, 180), await w.ride(card, 4 * 24 * 60 - 180)];
      return expectCharges(trips, [{ amount: 200 }, { amount: 150 }, { amount: 150 }]);
    },
  },
  'a transit log changed on the way (a cap reached that was not) is refused by the wallet': {
    expect: 'transitLog',
    run: async (alg) => {
      const w = world({ ...FLAT_RULES, transfer: undefined }, 1, alg);
      const card = wallet(w);
      await w.ride(card, 0);
      const forged = new Relay(card, {
        response: (apdu, rapdu) => {
          if (apdu[1] !== INS_READ_TRANSIT_LOG) return rapdu;
          const log = decodeTransitLog(decodeResponse(rapdu).data);
          log.entries[0]!.dayTotal = 500;
          return encodeResponse(encodeTransitLog(log), 0x9000);
        },
      });
      const trip = await w.ride(forged, 60);
      return card.balance === 100_00 - 200 && card.counter === 1 ? trip.outcome : `the wallet paid (${card.balance})`;
    },
  },
  'a transit log replayed from an earlier tap is refused before PAY': {
    expect: 'transitLog',
    run: async (alg) => {
      const w = world({ ...FLAT_RULES, caps: {} }, 1, alg);
      const card = wallet(w);
      let recorded: Uint8Array | undefined;
      const recorder = new Relay(card, { response: (apdu, rapdu) => (apdu[1] === INS_READ_TRANSIT_LOG && (recorded = rapdu), rapdu) });
      await w.ride(card, 0);
      await w.ride(recorder, 90); // the log read here shows the first ride
      await w.ride(card, 30); // a transfer
      // the old log played back: it hides the transfer just taken, so this ride would be free again
      const replay = new Relay(card, { response: (apdu, rapdu) => (apdu[1] === INS_READ_TRANSIT_LOG ? recorded! : rapdu) });
      const trip = await w.ride(replay, 1);
      return card.counter === 3 ? trip.outcome : `the wallet paid (counter ${card.counter})`;
    },
  },
  'a card whose log is full drops its oldest entry and keeps its totals: the cap still holds': {
    expect: 'approved',
    run: async (alg) => {
      const w = world({ ...FLAT_RULES, transfer: undefined }, 1, alg);
      const rules = w.rules;
      const day = serviceDay(rules, NOW);
      const log = fullLog(TRANSIT_LOG_ENTRIES, rules, { operator: OPERATOR, time: NOW - 600, day, dayTotal: 400, weekTotal: 400, counter: TRANSIT_LOG_ENTRIES });
      const card = w.wallet({ balance: 100_00, transitLog: log, counter: TRANSIT_LOG_ENTRIES });
      const trip = await w.ride(card, 0);
      const after = card.transitLog;
      if (after.length !== TRANSIT_LOG_ENTRIES) return `log of ${after.length}`;
      if (after[0]!.time !== log[1]!.time) return 'the oldest entry was not the one dropped';
      const newest = after[after.length - 1]!;
      return expectCharges([trip, { outcome: 'approved', amount: newest.dayTotal }], [{ amount: 100 }, { amount: 500 }]);
    },
  },
  'a station the fare rules do not name': {
    expect: 'noFare',
    run: async (alg) => {
      const w = world(ZONE_RULES, 9, alg);
      return (await w.ride(wallet(w), 0)).outcome;
    },
  },
  'the receipt keeps the log the fare came from, and the wallet signed its digest': {
    expect: 'approved',
    run: async (alg) => {
      const w = world(ZONE_RULES, 1, alg);
      const card = wallet(w);
      await w.ride(card, 0);
      const trip = await w.ride(card, 20, 4);
      const receipt = decodeReceipt(w.journal.records[1]!.payload);
      const check = verifyReceipt(receipt, [w.issuer.key], NOW);
      if (!check.ok || !receipt.transitLog || !check.request.transit) return 'no transit in the receipt';
      const digest = transitLogDigest(receipt.transitLog);
      if (digest.some((b, i) => b !== check.request.transit!.logDigest[i])) return 'digest differs';
      return decodeTransitLog(receipt.transitLog).entries[0]!.kind === TAP_ON ? trip.outcome : 'not the tap-on log';
    },
  },
  'a power cut after PAY: the next tap recovers the ride, its receipt the uncut one (the transit log it was priced on, the rules\' version)': {
    expect: 'approved, earlier recovered: transit log kept, rules version 5',
    run: async (alg) => {
      const w = new FareWorld(parseFareRules(ZONE_RULES), 1, { alg, version: 5 });
      const card = wallet(w);
      const lost = await w.ride({ transceive: async (a) => {
        const r = await card.transceive(a);
        if (a[1] === INS_PAY) throw new CardLostError();
        return r;
      } }, 0);
      const intent = w.terminal.inDoubt.open[0];
      if (lost.outcome !== 'cardLost' || !intent?.transitLog) return `first tap ${lost.outcome}, intent ${intent ? 'without a log' : 'none'}`;
      card.removed();
      // the rider taps off 20 minutes later at station 4: the tap recovers the tap-on first
      w.clock.advance(20 * 60_000);
      await w.send({ type: 'tick' });
      w.terminal.setFares({ rules: w.rules, station: 4, version: 5 });
      const effects = await w.send({ type: 'card', link: card });
      const recovered = effects.find((e) => e.type === 'recovered');
      const receipts = w.journal.records.map((r) => decodeReceipt(r.payload));
      const first = receipts.find((r) => r.terminalSeq === intent.terminalSeq);
      if (!first || receipts.length !== 2 || receipts.some((r) => !verifyReceipt(r, [w.issuer.key], NOW).ok)) return `receipts do not match the rides ${receipts.length} ${JSON.stringify(effects.filter((e) => e.type === 'outcome' || e.type === 'recovered'))}`;
      const kept = first.transitLog !== undefined && first.transitLog.every((b, i) => b === intent.transitLog![i]) && first.transitLog.length === intent.transitLog.length;
      return `${outcomeOf(effects)}, earlier ${recovered?.type === 'recovered' ? recovered.outcome : 'not recovered'}: transit log ${kept ? 'kept' : 'lost'}, rules version ${first.fareRulesVersion}`;
    },
  },
};

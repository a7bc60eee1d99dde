// Mutation fuzzing of the parsers transit fares added: the transit log (READ TRANSIT LOG's answer and
// receipt field 88), the transit tap of a PAY request (field 8C), a PAY request and a receipt carrying
// them, the signed fare-rules update (kind 6) and the rules it holds, the settlement's fare check, the
// wallet's PAY naming a log, and a validator reading a mutated log. The only failure allowed is the
// parser's own named error; the wallet answers a status word, the validator a decline with a reason.
// TAPLINE_FUZZ_SEED replays a run.
import { expect } from 'chai';
import { p256 } from '@noble/curves/nist.js';
import { equalBytes, fromHex, utf8Encode } from '../firmware/base/bytes';
import { decodeCommand, decodeResponse, INS_READ_TRANSIT_LOG, payCommand, readTransitLogCommand, selectCommand } from '../firmware/core/protocol/apdu';
import { decodePayRequest, encodePayRequest, type PayRequest } from '../firmware/core/protocol/messages';
import { decodeReceipt, encodeReceipt, openReceipt } from '../firmware/core/protocol/receipt';
import { TlvError } from '../firmware/core/protocol/tlv';
import {
  decodeTransitLog,
  decodeTransitTap,
  encodeTransitLog,
  encodeTransitTap,
  TAP_OFF,
  TAP_ON,
  TAP_RIDE,
  TRANSIT_LOG_ENTRIES,
  transitLogDigest,
  type TransitEntry,
} from '../firmware/core/protocol/transit-log';
import { FareRulesError, parseFareRules, type FareRules } from '../firmware/core/fares/rules';
import { computeFare, FareError, serviceDay } from '../firmware/core/fares/engine';
import { decodeUpdate, encodeUpdate, UPDATE_FARE_RULES, UpdateError } from '../firmware/core/uplink/updates';
import { ALG_P256 } from '../firmware/core/crypto/verify';
import { checkFare } from '../host/settlement/fares';
import { makeTransitVector } from '../host/wallet/transit-vectors';
import { DECLINE } from '../firmware/base/reasons';
import { fuzzer, hashName as hash, mutate, seededRandom } from './uplink-fuzz-helpers';
import { NOW, Relay, World } from './xs/core-scenarios';
import { FLAT_RULES, PEAK_RULES, ZONE_RULES } from './xs/fares-scenarios';

const SEED = Number(process.env.TAPLINE_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32));
const INPUTS = 100_000;
const isTlv = (e: unknown) => e instanceof TlvError;

const fuzz = fuzzer({ seed: SEED, inputs: INPUTS });

/** A full log: eight entries of two operators, every kind and flag, counters and times rising. */
function fullLog(): TransitEntry[] {
  const kinds = [TAP_RIDE, TAP_ON, TAP_OFF] as const;
  return Array.from({ length: TRANSIT_LOG_ENTRIES }, (_, i) => ({
    kind: kinds[i % 3]!, transfer: i % 4 === 1, time: NOW - 86400 + i * 900, operator: i % 2 ? 7 : 99, station: 1 + i, fare: 100 * i, refund: kinds[i % 3] === TAP_OFF ? 50 : 0,
    counter: 10 + i, day: 20_000, dayTotal: 100 * i, weekTotal: 300 * i,
  }));
}

describe('transit fares: fuzzed parsers', function () {
  this.timeout(600_000);
  const vector = makeTransitVector() as {
    readTransitLog: { response: string }; logAfter: { response: string }; pay: { command: string }; receipt: string;
    issuerKey: { keyId: number; alg: number; publicKey: string; notBefore: number; notAfter: number; revoked: boolean };
  };
  const withoutSw = (hex: string) => fromHex(hex).subarray(0, fromHex(hex).length - 2);
  const logs = [withoutSw(vector.readTransitLog.response), withoutSw(vector.logAfter.response), encodeTransitLog({ counter: 17, entries: fullLog() }), encodeTransitLog({ counter: 0, entries: [] })];
  const request = decodeCommand(fromHex(vector.pay.command)).data;
  const tap = encodeTransitTap(decodePayRequest(request).transit!);
  const zoneRules = parseFareRules({ ...ZONE_RULES, operatorId: 'M-metro' });

  it(`the transit log and the transit tap: ${INPUTS} inputs each, TlvError or a value that encodes back to the same bytes`, () => {
    const log = fuzz('transit log', logs, (b) => {
      const back = encodeTransitLog(decodeTransitLog(b));
      if (!equalBytes(back, b)) throw new Error('a log that parses encodes to other bytes');
    }, isTlv);
    const t = fuzz('transit tap', [tap], (b) => {
      if (!equalBytes(encodeTransitTap(decodeTransitTap(b)), b)) throw new Error('a tap that parses encodes to other bytes');
    }, isTlv);
    // Most mutations are refused, and some are not: the fuzzer reaches past the first check.
    for (const r of [log, t]) expect(r.ok).to.be.within(1, INPUTS - 1);
  });

  it(`a PAY request with a transit tap (8C), a receipt with a transit log (88) and a fare rules version (89): ${INPUTS} inputs each, TlvError or a value`, () => {
    const req = fuzz('transit request', [request], decodePayRequest, isTlv);
    // one naming the fare rules version it was priced with (field 89)
    const versioned = encodeReceipt({ ...decodeReceipt(fromHex(vector.receipt)), fareRulesVersion: 3 });
    expect(decodeReceipt(versioned).fareRulesVersion).to.equal(3);
    const receipt = fuzz('transit receipt', [fromHex(vector.receipt), versioned], (b) => {
      const r = openReceipt(decodeReceipt(b));
      const transitLog = decodeReceipt(b).transitLog;
      if (transitLog) {
        const log = decodeTransitLog(transitLog);
        // what settlement does with a parsed receipt: price the tap again from its log
        if (r.request.transit) {
          try {
            computeFare({ rules: zoneRules, log, station: r.request.transit.station, time: r.request.terminalTime, walletClass: r.certificate.walletClass });
          } catch (e) {
            if (!(e instanceof FareError)) throw e;
          }
        }
      }
    }, isTlv);
    for (const r of [req, receipt]) expect(r.ok).to.be.within(1, INPUTS - 1);
  });

  it("settlement's fare check of a mutated receipt: 3,000 inputs (each that parses costs signature checks), TlvError, a check or nothing", () => {
    const key = { ...vector.issuerKey, alg: vector.issuerKey.alg as 1 | 2, publicKey: fromHex(vector.issuerKey.publicKey) };
    const original = checkFare(fromHex(vector.receipt), zoneRules, [key], NOW);
    expect(original?.finding, original?.finding?.reason).to.equal(undefined);
    let checked = 0;
    fuzz('fare check', [fromHex(vector.receipt)], (b) => {
      if (checkFare(b, zoneRules, [key], NOW)) checked++;
    }, isTlv, 3_000);
    // a mutation that still verifies changed nothing signed
    expect(checked).to.be.below(3_000);
  });

  it(`the signed fare-rules update (kind 6): ${INPUTS} mutated updates, UpdateError, FareRulesError or rules`, () => {
    const rootSecret = Uint8Array.from({ length: 32 }, (_, i) => 0x21 + i);
    expect(p256.getPublicKey(rootSecret, true).length).to.equal(33);
    const seeds = [FLAT_RULES, ZONE_RULES, PEAK_RULES].map((rules, i) => encodeUpdate({ kind: UPDATE_FARE_RULES, version: i + 1, operatorId: 'M-metro', rules }, ALG_P256, rootSecret));
    const kinds = new Set<string>();
    const r = fuzz('fare rules update', seeds, (b) => {
      const { update } = decodeUpdate(b);
      if (update.kind === UPDATE_FARE_RULES) parseFareRules(update.rules);
    }, (e) => {
      kinds.add((e as Error).name);
      return e instanceof UpdateError || e instanceof FareRulesError;
    });
    expect(r.ok).to.be.within(1, INPUTS - 1);
    expect([...kinds]).to.include.members(['UpdateError', 'FareRulesError']);
  });

  it(`fare rules with values swapped for others (${INPUTS} objects): FareRulesError, or rules the engine prices without a crash`, () => {
    const random = seededRandom(SEED ^ hash('fare rules values'));
    const odd: unknown[] = [null, true, 'x', '', '07:00', '24:00', '9:5', -1, 0, 1, 2, 0.5, 100, 255, 256, 1439, 1440, 65535, 65536, 0xffffff, 0x1000000, 1e21, -0, Number.MAX_SAFE_INTEGER, [], [[]], [1, 2], {}, { '': 1 }, { '1': -1 }, { '0x1': 1 }, { '1.5': 1 }, { '-1': 1 }, JSON.parse('{"__proto__": {"1": 1}}')];
    const seeds = [FLAT_RULES, ZONE_RULES, PEAK_RULES, { ...ZONE_RULES, fare: { kind: 'distance', stations: { '1': 0, '2': 1000, '3': 50_000 }, base: 100, perUnit: 1, max: 900, maxJourneyMinutes: 90 } }];
    const entries = fullLog().map((e) => ({ ...e, operator: 7 }));
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    let parsed = 0;
    for (let i = 0; i < INPUTS; i++) {
      const rules = JSON.parse(JSON.stringify(seeds[i % seeds.length])) as Record<string, unknown>;
      for (let edits = 1 + Math.floor(random() * 3); edits > 0; edits--) swapOne(rules, random, () => structuredClone(pick(odd)));
      let r: FareRules;
      try {
        r = parseFareRules(JSON.parse(JSON.stringify(rules)));
      } catch (e) {
        if (!(e instanceof FareRulesError)) throw new Error(`rules ${JSON.stringify(rules)} threw ${(e as Error)?.stack ?? e} (TAPLINE_FUZZ_SEED=${SEED})`);
        continue;
      }
      parsed++;
      const day = serviceDay(r, NOW);
      const log = { counter: 17, entries: entries.slice(0, Math.floor(random() * 9)).map((e) => ({ ...e, day })) };
      try {
        const d = computeFare({ rules: r, log, station: pick([0, 1, 2, 3, 4, 99]), time: NOW + Math.floor(random() * 86400), walletClass: pick([0, 2, 4]), concession: pick([1, 2, 3]), concessionUntil: NOW + 3600 });
        if (!Number.isSafeInteger(d.amount) || d.amount < 0 || !Number.isSafeInteger(d.refund) || d.refund < 0) throw new Error(`fare ${JSON.stringify(d)}`);
      } catch (e) {
        if (!(e instanceof FareError)) throw new Error(`rules ${JSON.stringify(rules)} priced to ${(e as Error)?.stack ?? e} (TAPLINE_FUZZ_SEED=${SEED})`);
      }
    }
    expect(parsed).to.be.within(1, INPUTS - 1);
  });

  it("the wallet's PAY naming its log: 20,000 mutated requests, a status word each, never an exception", () => {
    const w = new World({ seed: 'fuzz transit wallet', mode: 'transit' });
    const day = serviceDay(zoneRules, NOW);
    const wallet = w.wallet({ balance: 100_00, counter: 41, transitLog: [{ kind: TAP_ON, transfer: false, time: NOW - 1500, operator: 7, station: 1, fare: 400, refund: 0, counter: 41, day, dayTotal: 400, weekTotal: 400 }] });
    wallet.answer(selectCommand());
    const read = wallet.answer(readTransitLogCommand());
    const fields: PayRequest = {
      challenge: new Uint8Array(16).fill(7), amount: 0, currency: 156, terminalId: 'G-0003', merchantId: 'M-metro', terminalTime: NOW, terminalSeq: 12, cvmRequired: false,
      transit: { logDigest: transitLogDigest(read.subarray(0, read.length - 2)), kind: TAP_OFF, transfer: false, operator: 7, station: 3, day, refund: 100 },
    };
    const seeds = [encodePayRequest(fields), encodePayRequest({ ...fields, amount: 200, transit: { ...fields.transit!, kind: TAP_RIDE, refund: 0 } })];
    const random = seededRandom(SEED ^ hash('transit wallet'));
    const sws = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const input = mutate(seeds[i % seeds.length]!, random);
      const answer = input.length <= 255 ? wallet.answer(payCommand(input)) : wallet.answer(readTransitLogCommand());
      sws.add(decodeResponse(answer).sw.toString(16));
    }
    expect(sws.has('6a80')).to.equal(true);
    // its log still parses after all of it
    const after = wallet.answer(readTransitLogCommand());
    expect(decodeTransitLog(after.subarray(0, after.length - 2)).entries.length).to.be.within(1, TRANSIT_LOG_ENTRIES);
  });

  it('a validator reading 300 mutated READ TRANSIT LOG answers: approved or declined with a reason, never a crash', async () => {
    const w = new World({ seed: 'fuzz transit validator', mode: 'transit', fares: { rules: parseFareRules(ZONE_RULES), station: 1 }, config: { maxOfflineSeconds: 30 * 86400 } });
    const day = serviceDay(zoneRules, NOW);
    const random = seededRandom(SEED ^ hash('transit validator'));
    const codes = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const wallet = w.wallet({ balance: 100_00, counter: 41, transitLog: [{ kind: TAP_ON, transfer: false, time: NOW - 1500, operator: 7, station: 3, fare: 400, refund: 0, counter: 41, day, dayTotal: 400, weekTotal: 400 }] });
      const link = new Relay(wallet, {
        response: (c, r) => (c[1] === INS_READ_TRANSIT_LOG ? new Uint8Array([...mutate(r.subarray(0, r.length - 2), random), 0x90, 0x00]) : r),
      });
      const outcome = await w.tap(link);
      codes.add(outcome);
      expect(outcome === 'approved' || outcome in DECLINE, outcome).to.equal(true);
      await w.next();
    }
    expect(codes.has('protocol') || [...codes].some((c) => c !== 'approved'), [...codes].join()).to.equal(true);
  });

  it('the fare-rules update body that is not JSON, or JSON that is not an object, is an UpdateError', () => {
    const rootSecret = Uint8Array.from({ length: 32 }, (_, i) => 0x21 + i);
    const good = encodeUpdate({ kind: UPDATE_FARE_RULES, version: 1, operatorId: 'M-metro', rules: FLAT_RULES }, ALG_P256, rootSecret);
    const text = utf8Encode(JSON.stringify(FLAT_RULES));
    const at = Buffer.from(good).indexOf(Buffer.from(text));
    expect(at).to.be.greaterThan(0);
    const broken = good.slice();
    broken[at] = 0x5b; // '{' becomes '['
    expect(() => decodeUpdate(broken)).to.throw(UpdateError, /not JSON|not an object/);
  });
});

/** Replaces one value somewhere in a JSON tree (an object's member or an array's element) with another. */
function swapOne(root: Record<string, unknown>, random: () => number, value: () => unknown): void {
  let node: unknown = root;
  for (;;) {
    const keys = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node as object);
    if (keys.length === 0) return;
    const key = keys[Math.floor(random() * keys.length)]!;
    const child = (node as Record<string | number, unknown>)[key];
    if (child && typeof child === 'object' && random() < 0.6) {
      node = child;
      continue;
    }
    if (random() < 0.15 && !Array.isArray(node)) delete (node as Record<string, unknown>)[key as string];
    else (node as Record<string | number, unknown>)[key] = value();
    return;
  }
}

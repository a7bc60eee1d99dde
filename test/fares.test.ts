import { expect } from 'chai';
import { ALG_ED25519, ALG_P256, algName, type Alg } from '../firmware/core/crypto/verify';
import { XSScenario } from '../host/xs/scenario';
import { FARE_SCENARIOS, FLAT_RULES, PEAK_RULES, ZONE_RULES } from './xs/fares-scenarios';
import { p256 } from '@noble/curves/nist.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { fromHex, toHex } from '../firmware/base/bytes';
import { decodeReceipt, encodeReceipt } from '../firmware/core/protocol/receipt';
import { checkFare, operatorBooks } from '../host/settlement/fares';
import { verifyReceipt } from '../firmware/core/crypto/receipt';
import { transitLogDigest } from '../firmware/core/protocol/transit-log';
import { makeTransitVector } from '../host/wallet/transit-vectors';
import { formatWalletFile, parseWalletFile, walletFileOf, walletFileWithState, WalletFileError } from '../host/cli/wallet-file';
import { WalletEmulator } from '../host/wallet/emulator';
import { NOW, World } from './xs/core-scenarios';
import { Journal } from '../firmware/core/journal/journal';
import { UPDATE_RECORD_TYPES, UpdateStore } from '../firmware/core/uplink/store';
import { encodeUpdate, UPDATE_FARE_RULES, UpdateError } from '../firmware/core/uplink/updates';
import { FareRulesError, parseFareRules } from '../firmware/core/fares/rules';
import type { Provisioning } from '../firmware/core/provisioning';
import { provisionedFares } from '../firmware/app/fares';
import { RamFlash } from '../host/flash/ram-flash';

const ALGS: Alg[] = [ALG_P256, ALG_ED25519];

describe('transit fares: each rule and each attack on the log, on Node', () => {
  for (const alg of ALGS) {
    describe(algName(alg), () => {
      for (const [name, s] of Object.entries(FARE_SCENARIOS)) {
        it(`${name}: ${s.expect}`, async () => {
          expect(await s.run(alg)).to.equal(s.expect);
        });
      }
    });
  }
});

describe('transit fares: the same scenarios on the XS engine @xs', () => {
  let xs: XSScenario;
  before(async () => (xs = await XSScenario.load('test/xs/fares.guest.ts')));
  after(() => xs?.close());

  it('runs every scenario the Node suite runs', async () => {
    expect((await xs.call<string[]>('names')).value).to.deep.equal(Object.keys(FARE_SCENARIOS));
  });

  for (const alg of ALGS) {
    describe(algName(alg), () => {
      for (const [name, s] of Object.entries(FARE_SCENARIOS)) {
        it(`${name}: ${s.expect}`, async () => {
          expect((await xs.call<string>('scenario', { name, alg })).value).to.equal(s.expect);
        });
      }
    });
  }
});

describe('transit fares: the operator-signed fare rules (update kind 6)', () => {
  const rootSecret = Uint8Array.from({ length: 32 }, (_, i) => 0x21 + i);
  const root = { alg: ALG_P256, publicKey: p256.getPublicKey(rootSecret, true) } as const;
  const signed = (version: number, operatorId: string, rules: Record<string, unknown> = FLAT_RULES, secret = rootSecret) =>
    encodeUpdate({ kind: UPDATE_FARE_RULES, version, operatorId, rules }, ALG_P256, secret);

  function store(fareRulesVersion = 0) {
    const journal = new Journal({ flash: new RamFlash({ blocks: 8 }), reserveBlocks: 2, keyedTypes: UPDATE_RECORD_TYPES });
    journal.open();
    const taken: number[] = [];
    const make = () => new UpdateStore({
      journal, root, terminalId: 'T-1', operatorId: 'M-cafe', fareRulesVersion,
      validateFareRules: (r) => void parseFareRules(r), onFareRules: (_r, v) => taken.push(v),
    });
    return { s: make(), make, taken };
  }

  it('takes newer rules for its operator, keeps them across a reboot, and refuses older, foreign, forged or invalid ones', () => {
    const { s, make, taken } = store();
    s.apply(signed(2, 'M-cafe'));
    expect(taken).to.deep.equal([2]);
    expect(() => s.apply(signed(2, 'M-cafe'))).to.throw(UpdateError, /not newer/);
    expect(() => s.apply(signed(3, 'M-other'))).to.throw(UpdateError, /operator M-other/);
    expect(() => s.apply(signed(3, 'M-cafe', FLAT_RULES, Uint8Array.from({ length: 32 }, (_, i) => 0x41 + i)))).to.throw(UpdateError, /not signed/);
    expect(() => s.apply(signed(3, 'M-cafe', { ...FLAT_RULES, fare: { kind: 'flat', amount: -1 } }))).to.throw(UpdateError, /fare.amount/);
    const tampered = signed(3, 'M-cafe');
    tampered[tampered.indexOf(0x32)] = 0x39; // a digit in the JSON: the signature no longer covers it
    expect(() => s.apply(tampered)).to.throw(UpdateError);
    expect(s.fareRulesVersion).to.equal(2);
    const rebooted = make();
    rebooted.load();
    expect([rebooted.fareRulesVersion, taken]).to.deep.equal([2, [2, 2]]);
  });

  it('an update must be newer than the rules the terminal was provisioned with', () => {
    const { s } = store(5);
    expect(() => s.apply(signed(4, 'M-cafe'))).to.throw(UpdateError, /not newer than 5/);
    s.apply(signed(6, 'M-cafe'));
    expect(s.fareRulesVersion).to.equal(6);
  });

  it('the provisioned rules are verified at boot: another key, another operator or a merchant terminal gets none', () => {
    const logs: string[] = [];
    const log = (_l: string, _t: string, m: string) => void logs.push(m);
    const p = { merchantId: 'M-cafe', station: 3, rootPublicKey: { alg: 'p256' as const, publicKey: toHex(root.publicKey) } } as Provisioning;
    expect(provisionedFares({ ...p, fareRules: toHex(signed(4, 'M-cafe', ZONE_RULES)) }, log)).to.deep.include({ version: 4 });
    expect(provisionedFares({ ...p, fareRules: toHex(signed(4, 'M-cafe', ZONE_RULES)) }, log)?.fares.station).to.equal(3);
    expect(provisionedFares({ ...p, fareRules: toHex(signed(4, 'M-bus')) }, log)).to.equal(undefined);
    expect(provisionedFares({ ...p, fareRules: toHex(signed(4, 'M-cafe', FLAT_RULES, Uint8Array.from({ length: 32 }, (_, i) => 0x41 + i))) }, log)).to.equal(undefined);
    expect(logs.filter((l) => l.includes('refused'))).to.have.length(2);
  });

  it('a fare rules mistake is named: unknown fields, a station outside the table, a window that ends first', () => {
    expect(() => parseFareRules({ ...FLAT_RULES, capz: {} })).to.throw(FareRulesError, /unknown field "capz"/);
    expect(() => parseFareRules({ ...ZONE_RULES, fare: { ...ZONE_RULES.fare, stations: { '1': 5 } } })).to.throw(FareRulesError, /fare.stations 1/);
    expect(() => parseFareRules({ ...PEAK_RULES, peak: { ...PEAK_RULES.peak, windows: [['09:00', '08:00']] } })).to.throw(FareRulesError, /ends before/);
  });
});

describe('transit fares: the protocol vector (docs/vectors/transit-tap-off.json)', () => {
  const file = new URL('../docs/vectors/transit-tap-off.json', import.meta.url);
  if (process.env.TAPLINE_WRITE_VECTORS) writeFileSync(file, `${JSON.stringify(makeTransitVector(), null, 2)}\n`);
  const v = JSON.parse(readFileSync(file, 'utf8'));

  it('is what the wallet emulator still produces', () => {
    expect(JSON.parse(JSON.stringify(makeTransitVector()))).to.deep.equal(v);
  });

  it('the terminal side reads it: the log, the request naming it, a receipt that re-verifies with the refund', () => {
    const log = fromHex(v.readTransitLog.response).subarray(0, -2);
    expect(toHex(transitLogDigest(log))).to.equal(v.logDigest);
    const receipt = decodeReceipt(fromHex(v.receipt));
    const key = { ...v.issuerKey, publicKey: fromHex(v.issuerKey.publicKey) };
    const check = verifyReceipt(receipt, [key], v.pay.request.terminalTime);
    expect(check.ok).to.equal(true);
    if (!check.ok) return;
    expect(check.request.transit?.refund).to.equal(100);
    expect(toHex(check.request.transit!.logDigest)).to.equal(v.logDigest);
    expect(v.logAfter.entries.map((e: { kind: number; dayTotal: number }) => [e.kind, e.dayTotal])).to.deep.equal([[2, 600], [3, 500]]);
  });
});

describe('transit fares: the wallet keeps its log across a power loss', () => {
  it('the wallet file carries the log with the balance, and a reloaded card prices its next tap from it', async () => {
    const w = new World({ mode: 'transit', fares: { rules: parseFareRules(ZONE_RULES), station: 1 } });
    const card = w.wallet({ balance: 100_00 });
    await w.send({ type: 'card', link: card });
    const file = walletFileOf({ profile: 'card', certificate: card.certificate, secretKey: new Uint8Array(32), balance: 100_00 });
    const saved = walletFileWithState(file, card)!;
    const reloaded = new WalletEmulator(parseWalletFile(formatWalletFile(saved)));
    expect(reloaded.transitLog).to.deep.equal(card.transitLog);
    expect([reloaded.balance, reloaded.counter, reloaded.transitLog[0]?.kind]).to.deep.equal([100_00 - 400, 1, 2]);
    expect(() => parseWalletFile(formatWalletFile({ ...saved, transitLog: saved.transitLog!.slice(0, -2) }))).to.throw(WalletFileError, /transitLog/);
  });
});

describe('transit fares: the settlement service prices each receipt again (host/settlement/fares.ts)', () => {
  it('books the net fares to the operator and finds a validator that charged beyond the rules', async () => {
    const rules = parseFareRules(ZONE_RULES);
    const w = new World({ mode: 'transit', fares: { rules, station: 1 } });
    const card = w.wallet({ balance: 100_00 });
    await w.send({ type: 'card', link: card });
    w.clock.advance(25 * 60_000);
    await w.send({ type: 'tick' });
    w.terminal.setFares({ rules, station: 3 });
    await w.send({ type: 'card', link: card });
    // a validator with stale rules (no refunds at all) prices the next journey
    w.clock.advance(60 * 60_000);
    await w.send({ type: 'tick' });
    w.terminal.setFares({ rules: parseFareRules({ ...ZONE_RULES, fare: { ...ZONE_RULES.fare, table: [[500, 500, 500], [500, 500, 500], [500, 500, 500]] } }), station: 1 });
    await w.send({ type: 'card', link: card });
    const receipts = w.journal.records.map((r) => r.payload);
    const books = operatorBooks(receipts, rules, [w.issuer.key], NOW);
    expect([books.taps, books.charged, books.refunded, books.net]).to.deep.equal([3, 900, 100, 800]);
    expect(books.findings).to.have.length(1);
    expect(books.findings[0]).to.deep.include({ terminalSeq: 3, charged: 500, expectedCharge: 400 });
    // a receipt whose kept log is not the one the wallet signed
    const tampered = decodeReceipt(receipts[1]!);
    const log = tampered.transitLog!.slice();
    log[log.length - 1]! ^= 1;
    const changed = checkFare(encodeReceipt({ ...tampered, transitLog: log }), rules, [w.issuer.key], NOW);
    expect(changed?.finding?.reason).to.match(/another log/);
  });
});

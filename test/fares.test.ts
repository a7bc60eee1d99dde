import { expect } from 'chai';
import { ALG_ED25519, ALG_P256, algName, type Alg } from '../firmware/core/crypto/verify';
import { XSScenario } from '../host/xs/scenario';
import { FARE_SCENARIOS, FLAT_RULES, PEAK_RULES, ZONE_RULES } from './xs/fares-scenarios';
import { p256 } from '@noble/curves/nist.js';
import { toHex } from '../firmware/base/bytes';
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

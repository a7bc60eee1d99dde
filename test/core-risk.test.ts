import { expect } from 'chai';
import { ALG_ED25519, ALG_P256, verifySignature } from '../firmware/core/crypto/verify';
import { Keyring, KeyringError } from '../firmware/core/crypto/keyring';
import { Verifier } from '../firmware/core/crypto/verifier';
import { decodeCertificate } from '../firmware/core/protocol/messages';
import { decodeReceipt } from '../firmware/core/protocol/receipt';
import { verifyReceipt } from '../firmware/core/crypto/receipt';
import { TlvError } from '../firmware/core/protocol/tlv';
import { DEFAULT_RISK_CONFIG, parseRiskConfig, RiskConfigError } from '../firmware/core/risk/config';
import { RiskEngine, RiskStateError } from '../firmware/core/risk/engine';
import { ClockState } from '../firmware/core/risk/clock-state';
import { DECLINE } from '../firmware/base/reasons';
import { FARE_SCENARIOS } from './xs/fares-scenarios';
import { Terminal } from '../firmware/core/terminal/terminal';
import { NOW, SCENARIOS, World } from './xs/core-scenarios';
import { WALLET_RULE_SCENARIOS } from './xs/wallet-rules-scenarios';
import { REFUND_SCENARIOS } from './refund-scenarios';

async function worldWithPayments(n: number, mode: 'merchant' | 'transit' = 'merchant') {
  const w = new World({ mode, seed: `payments ${n}` });
  const wallets = [w.wallet({ profile: 'phone', holderVerified: true }), w.wallet({ profile: 'phone', holderVerified: true, alg: ALG_ED25519 })];
  for (let i = 0; i < n; i++) {
    expect(await w.tap(wallets[i % 2]!, 100 + i)).to.equal('approved');
    await w.next();
  }
  return { w, wallets };
}

describe('payment core: clock state', () => {
  it('counts uptime into the floor and the time offline, and never moves the floor back', () => {
    const c = new ClockState({ settledAt: NOW });
    c.advance(0);
    c.advance(90_500);
    expect([c.lastKnownTime, c.offlineSeconds]).to.deep.equal([NOW + 90, 90]);
    expect(c.observe(NOW + 10, 91_000)).to.equal(false);
    expect(c.lastKnownTime).to.equal(NOW + 91);
    expect(c.observe(NOW + 200, 91_000)).to.equal(true);
    expect(c.effectiveTime(NOW + 150, 92_000)).to.equal(NOW + 201);
    expect(c.secondsOffline(92_000)).to.equal(201);
  });

  it('round-trips, and a merge takes the later floor and the count of the later settlement', () => {
    const a = new ClockState({ lastKnownTime: NOW + 500, settledAt: NOW, offlineSeconds: 500 });
    expect(ClockState.decode(a.encode())).to.deep.include({ lastKnownTime: NOW + 500, settledAt: NOW, offlineSeconds: 500 });
    const older = new ClockState({ lastKnownTime: NOW - 10, settledAt: NOW - 9000, offlineSeconds: 8990 });
    a.merge(older);
    expect([a.lastKnownTime, a.settledAt, a.offlineSeconds]).to.deep.equal([NOW + 500, NOW, 500]);
    const fresh = new ClockState();
    fresh.merge(a);
    expect([fresh.lastKnownTime, fresh.settledAt, fresh.offlineSeconds]).to.deep.equal([NOW + 500, NOW, 500]);
    expect(() => ClockState.decode(a.encode().subarray(0, 10))).to.throw(TlvError);
  });

  it('a settlement starts the time offline again, never before the floor', () => {
    const c = new ClockState({ lastKnownTime: NOW, settledAt: NOW - 100, offlineSeconds: 100 });
    c.settled(NOW - 50);
    expect([c.settledAt, c.offlineSeconds]).to.deep.equal([NOW, 0]);
  });
});

describe('payment core: risk state', () => {
  it('every decline reason is produced by at least one tap scenario', () => {
    // a scenario's expected outcome names the decline codes it ends in, alone or within a longer story
    const outcomes = [...Object.values(SCENARIOS), ...Object.values(WALLET_RULE_SCENARIOS), ...Object.values(FARE_SCENARIOS)].map((s) => s.expect);
    const produced = new Set(outcomes.flatMap((e) => e.split(/[^A-Za-z]+/)));
    // the refund desk's scenarios name what the display shows, so a refund reason counts by its text
    const refundScreens = Object.values(REFUND_SCENARIOS).map((s) => s.expect).join('\n');
    const shown = (code: keyof typeof DECLINE) => code.startsWith('refund') && refundScreens.includes(DECLINE[code]);
    expect((Object.keys(DECLINE) as (keyof typeof DECLINE)[]).filter((code) => !produced.has(code) && !shown(code))).to.deep.equal([]);
  });

  it('every decline reason has a short text that fits the display', () => {
    for (const [code, text] of Object.entries(DECLINE)) {
      expect(text.length, code).to.be.within(1, 32);
    }
  });

  it('rebuilds the same state from the journal alone (replay) as the terminal kept', async () => {
    const { w } = await worldWithPayments(5);
    const fresh = new RiskEngine({ config: w.risk.config, settledAt: NOW - 3600 });
    for (const r of w.journal.records) fresh.applyReceipt(decodeReceipt(r.payload));
    // The uptime counted offline is no receipt's: it comes back from its own record (RECORD_CLOCK).
    fresh.clock.merge(w.risk.clock);
    expect(fresh.encode()).to.deep.equal(w.risk.encode());
    expect([fresh.offlineCount, fresh.offlineAmount, fresh.lastTerminalSeq]).to.deep.equal([5, 100 + 101 + 102 + 103 + 104, 5]);
  });

  it('a checkpoint plus the receipts after it equals the state, and replaying older receipts changes nothing', async () => {
    const { w } = await worldWithPayments(6);
    const records = w.journal.records.map((r) => decodeReceipt(r.payload));
    const early = new RiskEngine({ config: w.risk.config, settledAt: NOW - 3600 });
    for (const r of records.slice(0, 3)) early.applyReceipt(r);
    const restored = RiskEngine.decode(early.encode(), { config: w.risk.config });
    for (const r of records) restored.applyReceipt(r); // the first three are skipped by sequence number
    restored.clock.merge(w.risk.clock);
    expect(restored.encode()).to.deep.equal(w.risk.encode());
  });

  it('a restored terminal refuses a counter replay it saw before the reboot, and continues the sequence', async () => {
    const { w, wallets } = await worldWithPayments(2);
    const risk = RiskEngine.decode(w.risk.encode(), { config: w.risk.config });
    const terminal = new Terminal({ mode: 'merchant', terminalId: 'T-0001', merchantId: 'M', verifier: w.verifier, risk, journal: w.journal, clock: w.clock, random: w.random });
    const cert = decodeCertificate(wallets[0]!.certificate);
    expect(() => risk.checkResponse(cert, { counter: 1, balanceAfter: 0, holderVerified: true, signature: new Uint8Array(64), tbs: new Uint8Array(0) }, false)).to.throw(/counterReplay/);
    for (const k of '5#') await terminal.handle({ type: 'key', key: k as any });
    const out = await terminal.handle({ type: 'card', link: wallets[0]! });
    expect(out.find((e) => e.type === 'outcome')).to.include({ approved: true, terminalSeq: 3 });
  });

  it('restore re-queues deferred transit payments for verification', async () => {
    const { w } = await worldWithPayments(2, 'transit');
    const risk = new RiskEngine({ config: w.risk.config, settledAt: NOW - 3600 });
    const terminal = new Terminal({ mode: 'transit', fare: 200, terminalId: 'T-0001', merchantId: 'M', verifier: new Verifier({ keyring: w.keyring }), risk, journal: w.journal, clock: w.clock, random: w.random });
    for (const r of w.journal.records) terminal.restore(decodeReceipt(r.payload));
    expect(terminal.pendingVerifications).to.equal(2);
    expect(risk.unverifiedExposure).to.equal(400);
    const effects = terminal.verifyAllPending();
    expect(effects.filter((e) => e.type === 'verified' && e.ok)).to.have.length(2);
    expect(risk.unverifiedExposure).to.equal(0);
  });

  it('settlement resets the cumulative caps, and deny-list deltas apply only when newer', async () => {
    const { w, wallets } = await worldWithPayments(3);
    w.risk.settled(NOW);
    expect([w.risk.offlineAmount, w.risk.offlineCount]).to.deep.equal([0, 0]);
    const id = decodeCertificate(wallets[0]!.certificate).walletId;
    expect(w.risk.applyDenyDelta({ version: 2, addWallets: [id], addSerials: [], removeWallets: [], removeSerials: [] })).to.equal(true);
    expect(w.risk.applyDenyDelta({ version: 2, addWallets: [], addSerials: [], removeWallets: [id], removeSerials: [] })).to.equal(false);
    expect(await w.tap(wallets[0]!, 100)).to.equal('walletDenied');
    await w.next();
    w.risk.applyDenyDelta({ version: 3, addWallets: [], addSerials: [], removeWallets: [id], removeSerials: [] });
    expect(await w.tap(wallets[0]!, 100)).to.equal('approved');
    expect(() => w.risk.applyDenyDelta({ version: 4, addWallets: ['not hex'], addSerials: [], removeWallets: [], removeSerials: [] })).to.throw(RiskStateError);
  });

  it('a terminal that never settled starts its offline window when it first knows the time', () => {
    const risk = new RiskEngine({ config: DEFAULT_RISK_CONFIG });
    const w = new World();
    const certificate = decodeCertificate(w.wallet().certificate);
    const facts = { certificate, amount: 100, mode: 'merchant' as const, nowMs: 0 };
    expect(() => risk.assess({ ...facts, time: undefined })).to.not.throw();
    risk.observeTime(NOW);
    expect(risk.settledAt).to.equal(NOW);
    expect(() => risk.assess({ ...facts, time: NOW + DEFAULT_RISK_CONFIG.maxOfflineSeconds })).to.not.throw();
    expect(() => risk.assess({ ...facts, time: NOW + DEFAULT_RISK_CONFIG.maxOfflineSeconds + 1 })).to.throw(/offlineTooLong/);
  });

  it('keeps anti-passback across a reboot: the last approval time is in the checkpoint, the floor stands in for an unknown clock', () => {
    const risk = new RiskEngine({ config: DEFAULT_RISK_CONFIG, settledAt: NOW });
    const cert = { walletId: '00112233aabbccdd', serial: '0102030405060708', walletClass: 2, singleLimit: 1_000_000, dailyLimit: 1_000_000 } as unknown as Parameters<RiskEngine['assess']>[0]['certificate'];
    const facts = (time: number | undefined, nowMs: number) => ({ certificate: cert, amount: 200, mode: 'transit' as const, time, nowMs });
    risk.assess(facts(NOW + 100, 5_000));
    risk.record({ walletId: cert.walletId, counter: 1, amount: 200, terminalSeq: 1, time: NOW + 100, deferred: true, nowMs: 5_000 });
    expect(() => risk.assess(facts(NOW + 110, 15_000))).to.throw(/passback/);
    // Power cut: the monotonic clock starts again from 0, the wall time may be unknown.
    const rebooted = RiskEngine.decode(risk.encode(), { config: DEFAULT_RISK_CONFIG });
    expect(() => rebooted.assess(facts(NOW + 110, 0))).to.throw(/passback/);
    expect(() => rebooted.assess(facts(undefined, 0))).to.throw(/passback/);
    expect(rebooted.assess(facts(NOW + 131, 0)).mayDefer).to.equal(true);
  });

  it('keeps at most maxWallets wallets and maxDenied entries', () => {
    const risk = new RiskEngine({ config: DEFAULT_RISK_CONFIG, settledAt: NOW, maxWallets: 3, maxDenied: 2 });
    for (let i = 0; i < 10; i++) risk.record({ walletId: `00000000000000${i.toString(16).padStart(2, '0')}`, counter: 1, amount: 1, terminalSeq: i + 1, time: NOW, deferred: false });
    const back = RiskEngine.decode(risk.encode(), { config: DEFAULT_RISK_CONFIG, maxWallets: 3 });
    expect(back.encode()).to.deep.equal(risk.encode());
    expect(risk.encode().length).to.be.lessThan(200);
    expect(() => risk.applyDenyDelta({ version: 1, addWallets: ['0000000000000001', '0000000000000002', '0000000000000003'], addSerials: [], removeWallets: [], removeSerials: [] })).to.throw(/holds 2/);
  });

  it('refuses a checkpoint from another version or with a torn table', () => {
    const risk = new RiskEngine({ config: DEFAULT_RISK_CONFIG, settledAt: NOW });
    const bytes = risk.encode();
    bytes[2] = 9;
    expect(() => RiskEngine.decode(bytes, { config: DEFAULT_RISK_CONFIG })).to.throw(TlvError, /version/);
  });

  it('validates risk configuration and keyrings with named errors', () => {
    expect(parseRiskConfig(JSON.parse(JSON.stringify(DEFAULT_RISK_CONFIG)))).to.deep.equal(DEFAULT_RISK_CONFIG);
    expect(() => parseRiskConfig({ ...DEFAULT_RISK_CONFIG, maxTransaction: -1 })).to.throw(RiskConfigError, /maxTransaction/);
    expect(() => parseRiskConfig({ ...DEFAULT_RISK_CONFIG, transit: undefined })).to.throw(RiskConfigError, /transit/);
    const w = new World();
    expect(() => new Keyring([w.issuer.key, w.issuer.key])).to.throw(KeyringError, /duplicated/);
    expect(() => new Keyring([{ ...w.issuer.key, alg: ALG_ED25519 }])).to.throw(KeyringError, /does not fit/);
    expect(() => new Keyring([{ ...w.issuer.key, alg: ALG_P256, notAfter: 0 }])).to.throw(KeyringError, /window/);
  });

  it('uses the signature primitive it is given: two checks for a new wallet, one for a returning one', async () => {
    const w = new World();
    const calls: number[] = [];
    const verifier = new Verifier({ keyring: w.keyring, verify: (alg, pk, msg, sig) => (calls.push(alg), verifySignature(alg, pk, msg, sig)) });
    const terminal = new Terminal({ mode: 'merchant', terminalId: 'T', merchantId: 'M', verifier, risk: w.risk, journal: w.journal, clock: w.clock, random: w.random });
    const wallet = w.wallet({ profile: 'phone', holderVerified: true });
    for (const expected of [2, 3]) {
      for (const k of '99#') await terminal.handle({ type: 'key', key: k as any });
      const out = await terminal.handle({ type: 'card', link: wallet });
      expect(out.find((e) => e.type === 'outcome')).to.include({ approved: true });
      expect(calls).to.have.length(expected);
      w.clock.advance(5000);
      await terminal.handle({ type: 'tick' });
    }
    const refusing = new Verifier({ keyring: w.keyring, verify: () => false });
    expect(verifyReceipt(w.journal.records[0]!.payload, w.keyring, NOW, refusing.verify)).to.deep.include({ ok: false });
  });

  it('bounds the certificate cache and forgets it when the keys change', async () => {
    const w = new World();
    for (let i = 0; i < 10; i++) {
      await w.tap(w.wallet({ profile: 'phone', holderVerified: true }), 100);
      await w.next();
    }
    expect(w.verifier.cached).to.equal(8);
    w.verifier.replaceKeys([w.issuer.key]);
    expect(w.verifier.cached).to.equal(0);
  });
});

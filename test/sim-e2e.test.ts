// The whole loop through the simulator, as `npm start -- --script` runs it: the firmware on the XS engine
// with the simulated board, the wallets on the host, the real settlement service on loopback (SQLite).
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runScript } from '../host/sim/main';
import { parseScript, type SimEvent, type SimSetup } from '../host/sim/script';
import { World } from '../host/sim/world';
import type { SimOutput } from '../host/sim/device';
import { SimPN532 } from '../host/sim/hw/pn532';
import { PtyExposure, socatAvailable } from '../host/sim/hw/pty-node';
import { SystemClock } from '../host/sim/hw/serial-node';
import { Keystore } from '../host/cli/keystore';
import { encodeUpdate, UPDATE_FARE_RULES } from '../firmware/core/uplink/updates';

type Line = SimOutput | { type: 'event'; event: SimEvent } | { type: 'note'; note: string };

interface Run {
  lines: Line[];
  world: World;
}

const worlds: World[] = [];
const dirs: string[] = [];

async function play(events: SimEvent[], setup?: SimSetup, mode: 'merchant' | 'transit' = 'merchant'): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'tapline-sim-'));
  dirs.push(dir);
  const world = await World.open({ dir, mode, setup });
  worlds.push(world);
  const lines: Line[] = [];
  await runScript(world, events, (_at, line) => lines.push(line));
  return { lines, world };
}

function decisions(run: Run): Array<Extract<SimOutput, { type: 'decision' }>> {
  return run.lines.filter((l): l is Extract<SimOutput, { type: 'decision' }> => l.type === 'decision');
}

function logs(run: Run, tag: string): string[] {
  return run.lines.flatMap((l) => (l.type === 'log' && l.tag === tag ? [l.message] : []));
}

function example(name: string) {
  return parseScript(readFileSync(join('examples', name), 'utf8'), name);
}

/** Key an amount, tap a wallet, take it away: one payment, 3 s of simulated time. */
function pay(at: number, amount: number, wallet = 'bob-phone'): SimEvent[] {
  return [
    { at, key: `${amount}#` },
    { at: at + 800, tap: wallet },
    { at: at + 1200, remove: true },
  ];
}

describe('the simulator, end to end @xs', function () {
  this.timeout(600_000);

  after(async () => {
    for (const w of worlds) await w.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('keyed amount, tap, approved: the receipt is journaled and the OLED says so', async () => {
    const run = await play(example('merchant-payment.json').events);
    const [d] = decisions(run);
    expect(d).to.include({ approved: true, amount: 1250 });
    expect(logs(run, 'pay').some((m) => /APPROVED 1250 .* jseq 2/.test(m))).to.equal(true);
    expect(run.lines).to.deep.include({ type: 'display', lines: ['APPROVED', '12.50', 'balance 1987.50'] });
    expect(run.world.lastScreen).to.match(/[1-9a-f]/); // the panel shows something
  });

  it('declines for each cap, with the reason the screen shows', async () => {
    const setup = { risk: { maxTransaction: 10_000, maxOfflineAmount: 10_000, maxOfflineCount: 4, maxOfflineSeconds: 3600 } };
    const events: SimEvent[] = [
      ...pay(0, 12_000), // over the per-transaction cap
      ...pay(3_000, 3_000),
      ...pay(6_000, 3_000),
      ...pay(9_000, 3_000),
      ...pay(12_000, 2_000), // 110.00 offline in all: over the cumulative amount
      ...pay(15_000, 500), // 95.00 in 4 payments: fine
      ...pay(18_000, 100), // a 5th offline payment: over the count
      ...pay(21_000, 200, 'carol-card'), // carol has 3.00: fine
      ...pay(24_000, 200, 'carol-card'), // and then only 1.00: her wallet refuses
    ];
    const run = await play(events, setup);
    const got = decisions(run).map((d) => (d.approved ? `ok ${d.amount}` : `${d.reason} ${d.amount}`));
    expect(got).to.deep.equal([
      'overTransactionCap 12000',
      'ok 3000',
      'ok 3000',
      'ok 3000',
      'overOfflineAmount 2000',
      'ok 500',
      'overOfflineCount 100',
      'overOfflineCount 200',
      'overOfflineCount 200',
    ]);
    expect(run.lines).to.deep.include({ type: 'display', lines: ['DECLINED', 'over limit'] });
  });

  it('declines a card beyond its balance, and a terminal offline for too long', async () => {
    const setup = { risk: { maxOfflineSeconds: 3600 } };
    const later = new Date(Date.now() + 2 * 3600_000).toISOString();
    const run = await play([...pay(0, 200, 'carol-card'), ...pay(3_000, 200, 'carol-card'), { at: 6_000, clock: later }, ...pay(6_500, 100)], setup);
    const got = decisions(run).map((d) => (d.approved ? `ok ${d.amount}` : `${d.reason} ${d.amount}`));
    expect(got).to.deep.equal(['ok 200', 'insufficientBalance 200', 'offlineTooLong 100']);
  });

  it('asks for the PIN above the cardholder-verification threshold and approves with the right one', async () => {
    const run = await play([
      { at: 0, key: '40000#' }, // 400.00 > 300.00 threshold; alice-card is a card: PIN on the keypad
      { at: 800, tap: 'alice-card' },
      { at: 1500, key: '1234#' },
      { at: 3000, remove: true },
    ]);
    expect(run.lines).to.deep.include({ type: 'display', lines: ['enter PIN'] });
    expect(decisions(run)).to.have.length(1);
    expect(decisions(run)[0]).to.include({ approved: true, amount: 40000 });
  });

  it('loses power after the wallet signed: no approval shown, the payment recovered from the wallet at its next tap and settled', async () => {
    const run = await play(example('power-cut.json').events);
    const cut = run.lines.findIndex((l) => l.type === 'power');
    expect(cut).to.be.greaterThan(0);
    expect(run.lines.slice(0, cut).some((l) => l.type === 'decision')).to.equal(false);
    expect(logs(run, 'risk').some((m) => /1 in doubt/.test(m))).to.equal(true);
    const recovered = run.lines.filter((l) => l.type === 'recovered');
    expect(recovered).to.have.length(1);
    expect(recovered[0]).to.include({ terminalSeq: 1, amount: 3000, outcome: 'recovered' });
    expect(decisions(run)).to.have.length(1);
    expect(decisions(run)[0]).to.include({ approved: true, amount: 1250, terminalSeq: 2 });
    expect(run.lines).to.deep.include({ type: 'display', lines: ['APPROVED', '12.50', 'balance 1957.50', 'prev paid 30.00'] });
    // The wallet was debited twice; the merchant is credited for both, once each.
    expect(await run.world.service.settlement.balance('merchant:CAFE')).to.equal(3000 + 1250);
  });

  it('uploads when the network returns: acknowledged, settled, and the merchant credited once', async () => {
    const run = await play(example('upload.json').events);
    expect(decisions(run).filter((d) => d.approved)).to.have.length(2);
    expect(logs(run, 'uplink').some((m) => /acknowledged up to \d+/.test(m))).to.equal(true);
    expect(logs(run, 'risk').some((m) => /offline totals reset/.test(m))).to.equal(true);
    expect(await run.world.service.settlement.balance('merchant:CAFE')).to.equal(1250 + 800);
  });

  it('a cloned wallet is caught by the service, deny-listed, and the deny list declines the clone here', async () => {
    const run = await play(example('cloned-wallet.json').events);
    const got = decisions(run).map((d) => (d.approved ? `ok ${d.amount}` : `${d.reason} ${d.amount}`));
    expect(got).to.deep.equal(['ok 2000', 'walletDenied 500']);
    expect(logs(run, 'peer').some((m) => /APPROVED 1500/.test(m))).to.equal(true);
    expect(logs(run, 'risk').some((m) => /deny list version \d+: 1 wallets/.test(m))).to.equal(true);
    const alice = run.world.wallets.get('alice-card')!.info.walletId;
    const findings = await run.world.service.settlement.findings(alice);
    expect(findings.map((f) => f.kind)).to.include('clone');
  });

  it('refuses offline payments once the journal is full of unsent receipts, and takes them again after upload', async () => {
    const script = example('journal-full.json');
    const run = await play(script.events, script.setup);
    const got = decisions(run).map((d) => (d.approved ? 'ok' : d.reason));
    const firstFull = got.indexOf('journalFull');
    expect(firstFull).to.be.greaterThan(5);
    expect(got.slice(0, firstFull).every((g) => g === 'ok')).to.equal(true);
    expect(got[got.length - 1]).to.equal('ok');
    expect(run.lines).to.deep.include({ type: 'display', lines: ['DECLINED', 'journal full: connect to upload'] });
  });

  it('bench mode drives a PN532 on a serial line (here the simulated chip behind a pseudo-terminal) in real time', async function () {
    if (!socatAvailable()) this.skip();
    const dir = mkdtempSync(join(tmpdir(), 'tapline-bench-'));
    dirs.push(dir);
    const chip = new SimPN532({ clock: new SystemClock() });
    chip.powerUpAsleep();
    const exposure = await PtyExposure.open({ chip, link: join(dir, 'pn532') });
    const world = await World.open({ dir, serialDevice: exposure.pty });
    try {
      chip.placeCard(world.wallets.get('bob-phone')!);
      const lines: Line[] = [];
      await runScript(world, [{ at: 0, key: '1250#' }, { at: 1500, note: 'the phone is already on the reader' }], (_at, line) => lines.push(line));
      const got = lines.filter((l) => l.type === 'decision');
      expect(got).to.have.length(1);
      expect(got[0]).to.include({ approved: true, amount: 1250 });
      expect(lines.some((l) => l.type === 'log' && l.tag === 'pn532' && /ready on uart/.test(l.message))).to.equal(true);
    } finally {
      await world.close();
      await exposure.close();
    }
  });

  it('a gate takes newer fare rules from an upload answer; settlement prices each receipt by the rules it names', async () => {
    const commute = example('commute.json');
    const v1 = commute.setup!.fares!.rules;
    // version 2 cuts every zone fare by 1.00: a tap priced by version 1 is wrong by version 2's rules
    const fare = v1.fare as { table: number[][] };
    const v2 = { ...v1, fare: { ...fare, table: fare.table.map((row) => row.map((f) => f - 100)) } };
    const dir = mkdtempSync(join(tmpdir(), 'tapline-sim-'));
    dirs.push(dir);
    const world = await World.open({ dir, mode: 'transit', setup: commute.setup });
    worlds.push(world);
    const root = new Keystore(join(dir, 'keys')).root();
    for (const [version, rules] of [[1, v1], [2, v2]] as const) {
      await world.service.settlement.addUpdate(encodeUpdate({ kind: UPDATE_FARE_RULES, version, operatorId: 'METRO', rules }, root.alg, root.secretKey));
    }
    const lines: Line[] = [];
    await runScript(world, [
      { at: 500, tap: 'alice-card' },
      { at: 800, remove: true },
      { at: 1000, network: 'up' },
      { at: 6000, gate: 3 },
      { at: 6500, tap: 'alice-card' },
      { at: 6800, remove: true },
      { at: 12000, note: 'uploaded' },
    ], (_at, line) => lines.push(line));
    const run = { lines, world };
    const fares = logs(run, 'fares');
    // the tap-on by version 1 (4.00 held), the tap-off by version 2 (a 2.00 journey: 2.00 back)
    expect(fares.filter((m) => m.startsWith('tap-'))).to.deep.equal([
      'tap-on at station 1: charged 400, the most a journey from here costs',
      'tap-off at station 3: journey fare 200, refund 200',
    ]);
    expect(fares).to.include('fare rules version 2 in force');
    expect(logs(run, 'uplink').filter((m) => /acknowledged up to/.test(m)).length).to.be.at.least(2);
    const wallet = world.wallets.get('alice-card')!.info.walletId;
    const s = world.service.settlement;
    // no fare-mismatch: the tap-on is priced again by version 1, which it names, though version 2 is newer
    expect(await s.findings(wallet)).to.deep.equal([]);
    expect(await s.balance('merchant:METRO')).to.equal(200);
  });

  it('a transit gate takes the fare with the signature checked after the gate opens, and refuses passback', async () => {
    const run = await play(example('transit-tap.json').events, undefined, 'transit');
    const got = decisions(run).map((d) => (d.approved ? `ok ${d.amount}${d.deferred ? ' deferred' : ''}` : `${d.reason} ${d.amount}`));
    expect(got).to.deep.equal(['ok 200 deferred', 'ok 200 deferred', 'passback 200']);
    expect(run.lines.filter((l) => l.type === 'verified' && l.ok)).to.have.length(2);
  });
});

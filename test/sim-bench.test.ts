// Bench mode as an engineer runs it: `npm start -- --reader uart:DEVICE` in a terminal, the reader on a
// serial line (here the simulated chip behind a socat pseudo-terminal), `q` to quit.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runScript } from '../host/sim/main';
import { World } from '../host/sim/world';
import type { SimOutput } from '../host/sim/device';
import type { WalletFile } from '../host/cli/wallet-file';
import { SimPN532 } from '../host/sim/hw/pn532';
import { PtyExposure, socatAvailable } from '../host/sim/hw/pty-node';
import { SystemClock } from '../host/sim/hw/serial-node';
import { TestCard } from '../host/sim/hw/test-card';
import { makeWallet } from './drivers-wallet';

/** Starts the interactive simulator on a terminal of its own (util-linux `script`), presses q once it drew. */
async function quitAfterStart(device: string, dir: string): Promise<{ quitMs: number; code: number | null; output: string }> {
  const command = `${process.execPath} --import tsx host/sim/main.ts --reader uart:${device} --dir ${dir}`;
  const child = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, TERM: 'dumb' } });
  let output = '';
  let pressed = 0;
  return new Promise((done, fail) => {
    let timer: NodeJS.Timeout;
    const giveUp = (ms: number, what: string) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        child.kill('SIGKILL');
        fail(new Error(`${what}: ${output.slice(-2000)}`));
      }, ms);
    };
    // starting (provisioning the demo world, booting XS) takes long on a loaded machine; quitting must not
    giveUp(80_000, 'never started');
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      // the screen is drawn once the terminal has booted (with or without its reader)
      if (!pressed && /keypad\s+0-9/.test(output)) {
        pressed = performance.now();
        child.stdin!.write('q');
        giveUp(10_000, 'no exit after q');
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      done({ quitMs: pressed ? performance.now() - pressed : -1, code, output });
    });
  });
}

describe('bench mode over a pseudo-terminal', function () {
  this.timeout(120_000);
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  for (const answers of [true, false])
    it(`quits on q within a second when the chip ${answers ? 'answers' : 'never answers'}`, async function () {
      if (!socatAvailable()) this.skip();
      const dir = mkdtempSync(join(tmpdir(), 'tapline-quit-'));
      dirs.push(dir);
      const chip = new SimPN532({ clock: new SystemClock() });
      chip.powerUpAsleep();
      chip.faults.silent = !answers;
      const exposure = await PtyExposure.open({ chip, link: join(dir, 'pn532') });
      try {
        const r = await quitAfterStart(exposure.pty, join(dir, 'world'));
        expect(r.code, r.output.slice(-2000)).to.equal(0);
        console.log(`      q to exit: ${r.quitMs.toFixed(0)} ms`);
        expect(r.quitMs, r.output.slice(-2000)).to.be.within(0, 1000);
        if (answers) expect(chip.commands.length).to.be.greaterThan(2);
      } finally {
        await exposure.close();
      }
    });
});

/** `tapline wallet` as a bench engineer starts it; resolves once it says the card is up. */
function startWallet(device: string, walletFile: string): Promise<{ child: ReturnType<typeof spawn>; output: () => string }> {
  const child = spawn(process.execPath, ['host/cli/bin.mjs', 'wallet', '--reader', `uart:${device}`, '--wallet', walletFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`tapline wallet did not start: ${output}`)), 60_000);
    const take = (chunk: Buffer) => {
      output += chunk.toString();
      if (/is a card on/.test(output)) {
        clearTimeout(timer);
        done({ child, output: () => output });
      }
    };
    child.stdout!.on('data', take);
    child.stderr!.on('data', take);
    child.on('exit', (code) => fail(new Error(`tapline wallet exited with ${code}: ${output}`)));
  });
}

describe('two PN532s on pseudo-terminals: the terminal reads a second chip that is the wallet card', function () {
  this.timeout(180_000);
  const dirs: string[] = [];
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('a payment approved end to end through card emulation (tapline wallet --reader uart:...)', async function () {
    if (!socatAvailable()) this.skip();
    const dir = mkdtempSync(join(tmpdir(), 'tapline-two-'));
    dirs.push(dir);
    const clock = new SystemClock();
    const readerChip = new SimPN532({ clock });
    readerChip.powerUpAsleep();
    const walletChip = new SimPN532({ clock });
    walletChip.powerUpAsleep();
    // the wallet module's antenna lies on the terminal's reader
    walletChip.holdTo(readerChip);
    const readerPty = await PtyExposure.open({ chip: readerChip, link: join(dir, 'reader') });
    const walletPty = await PtyExposure.open({ chip: walletChip, link: join(dir, 'wallet') });
    const world = await World.open({ dir, serialDevice: readerPty.pty });
    let wallet: Awaited<ReturnType<typeof startWallet>> | undefined;
    try {
      const walletFile = join(dir, 'wallets', 'bob-phone.json');
      const before = JSON.parse(readFileSync(walletFile, 'utf8')) as { balance: number; counter: number };
      wallet = await startWallet(walletPty.pty, walletFile);
      const lines: SimOutput[] = [];
      await runScript(world, [{ at: 0, key: '1250#' }, { at: 4000, note: 'the wallet module lies on the reader' }], (_at, line) => lines.push(line as SimOutput));
      const got = lines.filter((l) => l.type === 'decision');
      const logs = lines.flatMap((l) => (l.type === 'log' ? [`${l.tag}: ${l.message}`] : []));
      expect(got, logs.join('\n') + wallet.output()).to.have.length(1);
      expect(got[0]).to.include({ approved: true, amount: 1250 });
      // the card the terminal read was the second chip in card emulation
      expect(logs.some((l) => /card 08544c4e in the field/.test(l)), logs.join('\n')).to.equal(true);
      expect(walletChip.commands.some((c) => c.startsWith('8c05'))).to.equal(true);
      expect(walletChip.commands.filter((c) => c.startsWith('8e')).length).to.be.greaterThan(2);
      // the wallet file follows the payment
      const deadline = Date.now() + 5000;
      let after = before;
      while (Date.now() < deadline && after.counter === before.counter) {
        await new Promise((r) => setTimeout(r, 100));
        after = JSON.parse(readFileSync(walletFile, 'utf8'));
      }
      expect(after.balance).to.equal(before.balance - 1250);
      expect(after.counter).to.equal(before.counter + 1);
      // and keeps all its secure element keeps, not the balance and counter alone: the payment in its
      // refund book (a refund of it at the till) and its spend since sync (its offline caps)
      const kept = after as WalletFile;
      expect(kept.refundBook?.map((e) => [e.amount, e.counter])).to.deep.equal([[1250, after.counter]]);
      expect(kept.offlineSpent).to.deep.equal({ amount: 1250, count: 1 });
      expect(wallet.output()).to.match(/tap 1: \d+ APDUs answered; balance/);
    } finally {
      wallet?.child.removeAllListeners('exit');
      if (wallet && wallet.child.exitCode === null) {
        const exited = new Promise((r) => wallet!.child.once('exit', r));
        wallet.child.kill('SIGINT');
        await exited;
      }
      await world.close();
      await readerPty.close();
      await walletPty.close();
    }
  });
});

describe('tapline reader: the bench probe', function () {
  this.timeout(60_000);

  it('prints the firmware and, for each card in the field, UID, ATQA, SAK, ATS and the SELECT round trip', async function () {
    if (!socatAvailable()) this.skip();
    const dir = mkdtempSync(join(tmpdir(), 'tapline-probe-'));
    const chip = new SimPN532({ clock: new SystemClock() });
    chip.powerUpAsleep();
    chip.placeCard(makeWallet('p256'), { uid: Uint8Array.of(0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66), sensRes: 0x0044 });
    const exposure = await PtyExposure.open({ chip, link: join(dir, 'pn532') });
    try {
      const run = (args: string[]) =>
        new Promise<{ code: number | null; out: string }>((done) => {
          const child = spawn(process.execPath, ['host/cli/bin.mjs', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
          let out = '';
          child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
          child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
          child.on('exit', (code) => done({ code, out }));
        });
      const r = await run(['reader', '--reader', `uart:${exposure.pty}`]);
      expect(r.code, r.out).to.equal(0);
      const lines = r.out.trim().split('\n');
      expect(lines[0]).to.equal('PN532 v1.6 (supports ISO/IEC 14443 A, ISO/IEC 14443 B, ISO 18092)');
      expect(lines[1]).to.equal('target 1: ISO/IEC 14443A (106 kbps)');
      expect(lines).to.include('    ATQA (SENS_RES): 00 44');
      expect(lines).to.include('       UID (NFCID1): 04 11 22 33 44 55 66');
      expect(lines).to.include('      SAK (SEL_RES): 20 (ISO/IEC 14443-4)');
      expect(lines).to.include('                ATS: 05 78 80 70 02');
      // the wallet answers the tapline SELECT; the probe times it
      expect(r.out).to.match(/SELECT f05441504c494e4501: SW 9000 in \d+\.\d ms/);
      expect(lines).to.have.length(7);
      // nothing in the field: said so, and a chip that is not there is one line, not a stack trace
      chip.removeCard();
      const empty = await run(['reader', '--reader', `uart:${exposure.pty}`, '--wait', '200']);
      expect(empty.out).to.match(/no target in the field within 200 ms/);
      chip.faults.silent = true;
      const silent = await run(['reader', '--reader', `uart:${exposure.pty}`]);
      expect(silent.code).to.equal(1);
      expect(silent.out.trim().split('\n')).to.have.length(1);
      expect(silent.out).to.match(/^tapline reader: .*no ACK/);
    } finally {
      await exposure.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

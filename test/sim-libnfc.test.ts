// The simulated PN532's certificate: Debian's libnfc tools (libnfc-bin, libnfc-examples; installed by
// .ci/run) open it on a pseudo-terminal through libnfc's own pn532_uart driver and see what a firmware
// engineer's tools would see on a real chip: the chip, and the card's UID, ATQA, SAK and ATS.
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimPN532 } from '../host/sim/hw/pn532';
import { PtyExposure, socatAvailable } from '../host/sim/hw/pty-node';
import { SystemClock } from '../host/sim/hw/serial-node';
import { TestCard } from '../host/sim/hw/test-card';

const IDENTITY = {
  uid: Uint8Array.of(0x04, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6),
  sensRes: 0x0044,
  selRes: 0x20,
  // TL 06, T0 75 (FSCI 5, TA TB TC follow), TA 77, TB 81, TC 02, one historical byte 80
  ats: Uint8Array.of(0x06, 0x75, 0x77, 0x81, 0x02, 0x80),
};

function available(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

/** Runs a libnfc tool against `pty`; `onOutput` sees the output as it grows. */
function run(tool: string, args: string[], pty: string, onOutput: (text: string) => void = () => {}): Promise<{ code: number | null; out: string }> {
  return new Promise((done, fail) => {
    // only the simulated chip: no USB scan, libnfc's own settings from the environment
    const env = { ...process.env, LIBNFC_DEVICE: `pn532_uart:${pty}`, LIBNFC_AUTO_SCAN: 'false', LIBNFC_INTRUSIVE_SCAN: 'false', LIBNFC_LOG_LEVEL: '1' };
    const child = spawn(tool, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`${tool} did not finish: ${out}`));
    }, 30_000);
    const take = (chunk: Buffer) => {
      out += chunk.toString();
      onOutput(out);
    };
    child.stdout!.on('data', take);
    child.stderr!.on('data', take);
    child.on('exit', (code) => {
      clearTimeout(timer);
      done({ code, out });
    });
  });
}

describe('simulated PN532 against libnfc 1.8 (pn532_uart on a pseudo-terminal)', function () {
  this.timeout(60_000);
  let dir: string;
  let chip: SimPN532;
  let exposure: PtyExposure;

  before(async function () {
    if (!socatAvailable() || !available('nfc-list') || !available('nfc-poll')) this.skip();
    dir = mkdtempSync(join(tmpdir(), 'tapline-libnfc-'));
    chip = new SimPN532({ clock: new SystemClock() });
    chip.powerUpAsleep();
    exposure = await PtyExposure.open({ chip, link: join(dir, 'pn532') });
  });
  after(async () => {
    await exposure?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => chip.placeCard(new TestCard(), IDENTITY));

  it('nfc-scan-device -v opens it and names the chip', async () => {
    const { code, out } = await run('nfc-scan-device', ['-v'], exposure.pty);
    expect(code, out).to.equal(0);
    expect(out).to.include(`pn532_uart:${exposure.pty}`);
    expect(out).to.match(/chip: PN532 v1\.6/);
    expect(out).to.not.match(/error/i);
  });

  it('nfc-list -v lists the card with its UID, ATQA, SAK and ATS, and nothing else', async () => {
    const { code, out } = await run('nfc-list', ['-v'], exposure.pty);
    expect(code, out).to.equal(0);
    expect(out).to.not.match(/error/i);
    expect(out).to.match(/1 ISO14443A passive target\(s\) found/);
    expect(out).to.match(/ATQA \(SENS_RES\): 00 {2}44/);
    expect(out).to.match(/UID \(NFCID1\): 04 {2}a1 {2}b2 {2}c3 {2}d4 {2}e5 {2}f6/);
    expect(out).to.match(/UID size: double/);
    expect(out).to.match(/SAK \(SEL_RES\): 20/);
    expect(out).to.match(/Compliant with ISO\/IEC 14443-4/);
    expect(out).to.match(/ATS: 75 {2}77 {2}81 {2}02 {2}80/);
    expect(out).to.match(/Max Frame Size accepted by PICC: 64 bytes/);
    expect(out).to.match(/0 ISO14443B passive target\(s\) found/);
    // nfc-list deselects what it found: the card is halted until the field is cycled
    expect(chip.commands).to.include('4400');
  });

  it('nfc-poll finds the card, sees it stay, and sees it leave', async () => {
    let removed = false;
    const { code, out } = await run('nfc-poll', ['-v'], exposure.pty, (text) => {
      if (!removed && /Waiting for card removing/.test(text)) {
        removed = true;
        setTimeout(() => chip.removeCard(), 300);
      }
    });
    expect(code, out).to.equal(0);
    expect(out).to.match(/ISO\/IEC 14443A \(106 kbps\) target:/);
    expect(out).to.match(/UID \(NFCID1\): 04 {2}a1 {2}b2 {2}c3 {2}d4 {2}e5 {2}f6/);
    expect(out).to.match(/ATQA \(SENS_RES\): 00 {2}44/);
    expect(out).to.match(/SAK \(SEL_RES\): 20/);
    expect(out).to.match(/ATS: 75 {2}77 {2}81 {2}02 {2}80/);
    expect(out).to.match(/done\./);
    // polled with InAutoPoll, and the presence checks (an R(NAK) through InCommunicateThru) came back
    expect(chip.commands.some((c) => c.startsWith('60'))).to.equal(true);
    expect(chip.commands.filter((c) => c === '42b2').length).to.be.greaterThan(1);
  });
});

describe('simulated PN532 card emulation against libnfc 1.8 (two chips on pseudo-terminals)', function () {
  this.timeout(60_000);
  let dir: string;
  let reader: SimPN532;
  let card: SimPN532;
  let readerPty: PtyExposure;
  let cardPty: PtyExposure;

  before(async function () {
    if (!socatAvailable() || !available('nfc-list') || !available('nfc-emulate-forum-tag4')) this.skip();
    dir = mkdtempSync(join(tmpdir(), 'tapline-libnfc-picc-'));
    const clock = new SystemClock();
    reader = new SimPN532({ clock });
    card = new SimPN532({ clock });
    reader.powerUpAsleep();
    card.powerUpAsleep();
    card.holdTo(reader);
    readerPty = await PtyExposure.open({ chip: reader, link: join(dir, 'reader') });
    cardPty = await PtyExposure.open({ chip: card, link: join(dir, 'card') });
  });
  after(async () => {
    await readerPty?.close();
    await cardPty?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("libnfc's nfc-emulate-forum-tag4 on one chip is a card the project's reader probe reads on the other", async () => {
    const emulator = run('nfc-emulate-forum-tag4', ['-1'], cardPty.pty);
    // once libnfc's TgInitAsTarget has reached the chip, the card is in the reader's field
    const deadline = Date.now() + 5000;
    while (!card.commands.some((c) => c.startsWith('8c')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const probe = await new Promise<string>((done) => {
      const child = spawn(process.execPath, ['host/cli/bin.mjs', 'reader', '--reader', `uart:${readerPty.pty}`], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
      child.on('exit', () => done(out));
    });
    const tag = await emulator;
    // the UID libnfc's emulator asks for (08 00 b0 0b), the ATS the chip builds, and the NDEF application
    // answering the tapline SELECT with "file not found"
    expect(probe, probe).to.include('       UID (NFCID1): 08 00 b0 0b');
    expect(probe).to.include('    ATQA (SENS_RES): 00 04');
    expect(probe).to.include('      SAK (SEL_RES): 20 (ISO/IEC 14443-4)');
    expect(probe).to.match(/SELECT f05441504c494e4501: SW 6a82 in/);
    expect(tag.out, tag.out).to.match(/In: 00 {2}a4 {2}04 {2}00 {2}09 {2}f0 {2}54 {2}41 {2}50 {2}4c {2}49 {2}4e {2}45 {2}01 {2}00/);
    expect(tag.out).to.match(/Target Released/);
  });

  it("libnfc's nfc-list reads the card `tapline wallet` makes of the other chip", async () => {
    const walletDir = mkdtempSync(join(tmpdir(), 'tapline-libnfc-wallet-'));
    const keys = join(walletDir, 'keys');
    const file = join(walletDir, 'w.json');
    const cli = (args: string[]) => spawnSync(process.execPath, ['host/cli/bin.mjs', ...args], { encoding: 'utf8' });
    expect(cli(['init', '--keys', keys]).status).to.equal(0);
    expect(cli(['issue-wallet', '--keys', keys, '--out', file, '--profile', 'phone', '--balance', '1000']).status).to.equal(0);
    const wallet = spawn(process.execPath, ['host/cli/bin.mjs', 'wallet', '--reader', `uart:${cardPty.pty}`, '--wallet', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      await new Promise<void>((done) => wallet.stdout!.on('data', (c: Buffer) => /is a card on/.test(c.toString()) && done()));
      const deadline = Date.now() + 5000;
      while (!card.commands.some((c) => c.startsWith('8c05')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const { code, out } = await run('nfc-list', ['-v'], readerPty.pty);
      expect(code, out).to.equal(0);
      expect(out).to.match(/1 ISO14443A passive target\(s\) found/);
      // libnfc calls a random UID (first byte 08) NFCID3
      expect(out).to.match(/UID \(NFCID3\): 08 {2}54 {2}4c {2}4e/);
      expect(out).to.match(/ATQA \(SENS_RES\): 00 {2}04/);
      expect(out).to.match(/SAK \(SEL_RES\): 20/);
      expect(out).to.match(/ATS: 78 {2}80 {2}70 {2}02/);
    } finally {
      const exited = new Promise((r) => wallet.once('exit', r));
      wallet.kill('SIGINT');
      await exited;
      rmSync(walletDir, { recursive: true, force: true });
    }
  });
});

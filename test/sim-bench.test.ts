// Bench mode as an engineer runs it: `npm start -- --reader uart:DEVICE` in a terminal, the reader on a
// serial line (here the simulated chip behind a socat pseudo-terminal), `q` to quit.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimPN532 } from '../host/sim/hw/pn532';
import { PtyExposure, socatAvailable } from '../host/sim/hw/pty-node';
import { SystemClock } from '../host/sim/hw/serial-node';

/** Starts the interactive simulator on a terminal of its own (util-linux `script`), presses q once it drew. */
async function quitAfterStart(device: string, dir: string): Promise<{ quitMs: number; code: number | null; output: string }> {
  const command = `${process.execPath} --import tsx host/sim/main.ts --reader uart:${device} --dir ${dir}`;
  const child = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, TERM: 'dumb' } });
  let output = '';
  let pressed = 0;
  return new Promise((done, fail) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`no exit: ${output.slice(-2000)}`));
    }, 20_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      // the screen is drawn once the terminal has booted (with or without its reader)
      if (!pressed && /keypad\s+0-9/.test(output)) {
        pressed = performance.now();
        child.stdin!.write('q');
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      done({ quitMs: pressed ? performance.now() - pressed : -1, code, output });
    });
  });
}

describe('bench mode over a pseudo-terminal', function () {
  this.timeout(90_000);
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
        expect(r.quitMs, r.output.slice(-2000)).to.be.within(0, 1000);
        if (answers) expect(chip.commands.length).to.be.greaterThan(2);
      } finally {
        await exposure.close();
      }
    });
});

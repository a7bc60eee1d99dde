// Node only: the simulated PN532's HSU on a pseudo-terminal (through socat), so that other NFC host
// software (libnfc's pn532_uart driver, nfcpy's tty: path, a serial terminal) can talk to it:
//   npx tsx host/sim/hw/pty-node.ts /tmp/pn532      then e.g.  LIBNFC_DEVICE=pn532_uart:/tmp/pn532 nfc-list
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Log } from '../../../firmware/base/platform';
import { silentLog } from '../../../firmware/base/platform';
import { SimPN532 } from './pn532';
import { SystemClock } from './serial-node';
import { TestCard } from './test-card';

export function socatAvailable(): boolean {
  return spawnSync('socat', ['-V'], { stdio: 'ignore' }).status === 0;
}

export class PtyExposure {
  private readonly child: ChildProcess;
  private readonly timer: NodeJS.Timeout;
  /** The pseudo-terminal socat made, e.g. /dev/pts/3 (`link` points to it). */
  readonly pty: string;

  private constructor(child: ChildProcess, timer: NodeJS.Timeout, pty: string) {
    this.child = child;
    this.timer = timer;
    this.pty = pty;
  }

  /** Starts socat with a raw pseudo-terminal at `link` and connects its other end to `chip`'s HSU. */
  static async open(options: { chip: SimPN532; link: string; log?: Log }): Promise<PtyExposure> {
    const log = options.log ?? silentLog;
    const child = spawn('socat', ['-d', '-d', `PTY,link=${options.link},raw,echo=0`, 'STDIO'], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdout!.on('data', (chunk: Buffer) => options.chip.uartWrite(Uint8Array.from(chunk)));
    const pty = await new Promise<string>((done, fail) => {
      let text = '';
      child.once('error', fail);
      child.once('exit', (code) => fail(new Error(`socat exited with ${code}: ${text.trim()}`)));
      child.stderr!.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        const m = /PTY is (\S+)/.exec(text);
        if (m && /starting data transfer loop/.test(text)) done(m[1]!);
      });
    });
    child.removeAllListeners('exit');
    const timer = setInterval(() => {
      const bytes = options.chip.uartRead();
      if (bytes) child.stdin!.write(bytes);
    }, 1);
    log('info', 'sim-pn532', `PN532 (HSU) on ${pty}, linked at ${options.link}`);
    return new PtyExposure(child, timer, pty);
  }

  close(): Promise<void> {
    clearInterval(this.timer);
    return new Promise((done) => {
      if (this.child.exitCode !== null) return done();
      this.child.once('exit', () => done());
      this.child.kill('SIGTERM');
    });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const link = process.argv[2] ?? '/tmp/tapline-pn532';
  const log: Log = (level, tag, message) => console.error(`[${level}] ${tag}: ${message}`);
  const chip = new SimPN532({ clock: new SystemClock(), log });
  chip.powerUpAsleep();
  chip.placeCard(new TestCard());
  PtyExposure.open({ chip, link, log }).then(
    (exposure) => {
      console.log(`simulated PN532 with a test card in the field at ${link}; Ctrl-C to stop`);
      process.on('SIGINT', () => void exposure.close().then(() => process.exit(0)));
    },
    (error) => {
      console.error(String(error));
      process.exit(1);
    },
  );
}

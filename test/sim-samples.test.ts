// The simulator output the docs show is what a run prints: every "$ npm start -- --script FILE" sample
// in README.md and docs/*.md is run, and its lines must appear in the run's output in the same order
// (wallet ids and byte counts differ from world to world, so they are compared by shape). Each run
// starts from a folder where an earlier session left its .sim world behind: a script plays in a world
// of its own, so that leftover state cannot change what it prints. Also the simulator's one-line
// errors for damaged demo files, a missing serial device and a script naming an unknown wallet.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { expect } from 'chai';

const repo = process.cwd();
// the loader by path, so a run from another folder finds it
const tsxLoader = pathToFileURL(createRequire(join(repo, 'package.json')).resolve('tsx')).href;

interface Sample {
  doc: string;
  script: string;
  lines: string[];
}

function samples(): Sample[] {
  const docs = ['README.md', ...readdirSync(join(repo, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const found: Sample[] = [];
  for (const doc of docs) {
    const text = readFileSync(join(repo, doc), 'utf8');
    for (const m of text.matchAll(/```\n\$ npm start -- --script (\S+)\n([\s\S]*?)```/g)) {
      found.push({ doc, script: m[1]!, lines: m[2]!.split('\n').filter((l) => l.trim() !== '') });
    }
  }
  return found;
}

function sim(cwd: string, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, ['--import', tsxLoader, join(repo, 'host/sim/main.ts'), ...args], { cwd, encoding: 'utf8' });
}

/** What may differ between two worlds: wallet ids, card UIDs, sizes in bytes. */
function shape(line: string): string {
  return line.replace(/\b[0-9a-f]{16}\b/g, '<wallet>').replace(/\bcard [0-9a-f]{8}\b/g, 'card <uid>').replace(/\b\d+ bytes\b/g, '<n> bytes').trimEnd();
}

/** The index in `run` after the last sample line matched in order, or the first sample line not found. */
function inOrder(sample: string[], run: string[]): string | undefined {
  let at = 0;
  for (const line of sample.map(shape)) {
    const i = run.map(shape).indexOf(line, at);
    if (i < 0) return line;
    at = i + 1;
  }
  return undefined;
}

describe('simulator: the docs\' sample outputs are what a run prints', function () {
  this.timeout(180_000);
  const found = samples();
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tapline-samples-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('the docs hold samples', () => {
    expect(found.map((s) => s.doc)).to.include('README.md');
    for (const s of found) expect(s.lines.length, `${s.doc} ${s.script}`).to.be.greaterThan(2);
  });

  for (const s of found) {
    it(`${s.doc}: ${s.script}, after an earlier session left its state in .sim`, () => {
      const script = join(repo, s.script);
      // the earlier session: the same script in the folder's default world, which keeps its state
      const earlier = sim(dir, '--script', script, '--dir', '.sim');
      expect(earlier.status, earlier.stderr).to.equal(0);
      const again = sim(dir, '--script', script, '--dir', '.sim');
      expect(again.status, again.stderr).to.equal(0);
      const run = sim(dir, '--script', script);
      expect(run.status, run.stderr).to.equal(0);
      const lines = run.stdout.split('\n');
      const missing = inOrder(s.lines, lines);
      expect(missing, `not in the run's output, in this order:\n${missing}\n--- run:\n${run.stdout}`).to.equal(undefined);
      if (s.script.endsWith('cloned-wallet.json')) {
        // the state an earlier run leaves does change a run in the same world: this is what --dir keeps
        expect(inOrder(s.lines, again.stdout.split('\n')), 'a replay in the same world differs').not.to.equal(undefined);
      }
    });
  }
});

describe('simulator: errors are one line that names what to fix', function () {
  this.timeout(120_000);
  let dir: string;
  const script = join(repo, 'examples/merchant-payment.json');
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tapline-sim-errors-'));
    const made = sim(dir, '--script', script, '--dir', 'world');
    expect(made.status, made.stderr).to.equal(0);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const oneLine = (r: { stderr: string }) => {
    const lines = r.stderr.trim().split('\n');
    expect(lines, r.stderr).to.have.length(1);
    expect(lines[0]).not.to.match(/\bat .*\.ts:\d+/);
    return lines[0]!;
  };

  it('a damaged wallet file is named', () => {
    const file = join(dir, 'world', 'wallets', 'bob-phone.json');
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, 'garbage');
    const r = sim(dir, '--script', script, '--dir', 'world');
    writeFileSync(file, good);
    expect(r.status).to.equal(1);
    expect(oneLine(r)).to.match(/^npm start: .*world\/wallets\/bob-phone\.json is not a wallet file \(not JSON: .*\): delete it to have it issued again, or start over with --reset$/);
  });

  it('a damaged terminal file is named, before the firmware boots', () => {
    const file = join(dir, 'world', 'terminal-merchant.json');
    const good = readFileSync(file, 'utf8');
    writeFileSync(file, '{"version": 1}');
    const r = sim(dir, '--script', script, '--dir', 'world');
    writeFileSync(file, good);
    expect(r.status).to.equal(1);
    expect(r.stdout).not.to.match(/boot:/);
    expect(oneLine(r)).to.match(/^npm start: .*world\/terminal-merchant\.json is not a terminal provisioning file \(mode must be "merchant" or "transit"\): delete it/);
  });

  it('a serial device that does not exist', () => {
    const r = sim(dir, '--script', script, '--reader', 'uart:/dev/does-not-exist');
    expect(r.status).to.equal(1);
    expect(oneLine(r)).to.equal('npm start: no serial device /dev/does-not-exist: plug in the USB-UART adapter wired to the PN532 (HSU), or check the name (ls /dev/ttyUSB* /dev/ttyACM*)');
  });

  it('a script that taps an unknown wallet is refused before the terminal boots', () => {
    const bad = join(dir, 'zed.json');
    writeFileSync(bad, JSON.stringify({ events: [{ at: 0, key: '100#' }, { at: 100, tap: 'zed-card' }] }));
    const r = sim(dir, '--script', bad);
    expect(r.status).to.equal(2);
    expect(r.stdout).to.equal('');
    expect(oneLine(r)).to.match(/zed\.json: event 1: no wallet named "zed-card" \(the demo wallets are alice-card, bob-phone, carol-card, mallory-clone, dora-phone\)$/);
  });
});

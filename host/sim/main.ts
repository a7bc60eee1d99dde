// `npm start`: the terminal on your laptop. The firmware runs on the XS engine with a simulated PN532,
// keypad, display and flash; demo wallets to tap; a local settlement service it uploads to.
//
//   npm start                                   interactive, merchant till
//   npm start -- --mode transit                 interactive, transit gate (fixed fare)
//   npm start -- --script FILE [--json]         replay a script of timed events, print what happened
//   npm start -- --reset                        forget the demo world (keys, wallets, journal, database)
//   npm start -- --web [--port N]               the terminal in a browser (host/sim/web/)
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { emitKeypressEvents } from 'node:readline';
import { tuiFrame, WALLET_KEYS, type TuiState } from './tui';
import { parseScript, ScriptError, type SimEvent } from './script';
import { DEMO_WALLET_NAMES, DEMO_WALLETS, SimError, World } from './world';
import { runWeb } from './web/server';
import type { SimOutput } from './device';
import { fromHex } from '../../firmware/base/bytes';

const USAGE = `usage: npm start -- [--mode merchant|transit] [--script FILE [--json]] [--web [--port N]] [--dir DIR] [--reset] [--reader uart:DEVICE]

  --mode     merchant (keyed amount, default) or transit (fixed fare, tap and go)
  --script   run the timed events of FILE (see docs/SIMULATOR.md and examples/) and exit
  --json     with --script: one JSON object per line for every effect
  --web      the terminal in a browser instead of this terminal: a page on http://127.0.0.1:PORT/
  --port     with --web: the page's port (default 8090)
  --dir      where the demo world lives (default .sim): keys, wallets, journal flash, settlement database;
             a script plays in a fresh world of its own unless --dir is given, so its output is repeatable
  --reset    delete the demo world first
  --reader   uart:DEVICE: bench mode, a real PN532 (HSU, 115200) on a USB-UART adapter instead of the
             simulated reader: tap real cards or phones (a script then runs in real time)`;

/** Milliseconds the simulator keeps running after a script's last event, so uploads and timeouts finish. */
const SETTLE_MS = 3000;

/** What a headless `npm start` plays. */
const TOUR = 'examples/tour.json';

interface Printer {
  (at: number, out: SimOutput | { type: 'event'; event: SimEvent } | { type: 'note'; note: string }): void;
}

async function main(argv = process.argv.slice(2)): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        mode: { type: 'string', default: 'merchant' },
        script: { type: 'string' },
        json: { type: 'boolean', default: false },
        dir: { type: 'string' },
        reset: { type: 'boolean', default: false },
        reader: { type: 'string' },
        help: { type: 'boolean', default: false },
        web: { type: 'boolean', default: false },
        port: { type: 'string', default: '8090' },
      },
    }).values;
  } catch (e) {
    console.error(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  if (args.mode !== 'merchant' && args.mode !== 'transit') {
    console.error(`--mode must be merchant or transit\n${USAGE}`);
    return 2;
  }
  const dir = resolve(args.dir ?? '.sim');
  let serialDevice: string | undefined;
  if (args.reader !== undefined) {
    const m = /^uart:(.+)$/.exec(args.reader);
    if (!m) {
      console.error(`--reader takes uart:DEVICE, e.g. uart:/dev/ttyUSB0\n${USAGE}`);
      return 2;
    }
    serialDevice = m[1]!;
    if (!existsSync(serialDevice)) {
      console.error(`npm start: no serial device ${serialDevice}: plug in the USB-UART adapter wired to the PN532 (HSU), or check the name (ls /dev/ttyUSB* /dev/ttyACM*)`);
      return 1;
    }
  }
  if (args.reset) rmSync(dir, { recursive: true, force: true });
  if (args.script) {
    let script;
    try {
      script = parseScript(readFileSync(args.script, 'utf8'), args.script, DEMO_WALLET_NAMES);
    } catch (e) {
      console.error(e instanceof ScriptError ? e.message : `cannot read ${args.script}: ${(e as Error).message}`);
      return 2;
    }
    const print: Printer = args.json ? jsonPrinter : textPrinter;
    // A script plays in a fresh world unless told where (--dir): what an earlier session left in .sim
    // (a wallet's counter, a journal, a deny list) must not change its output. In a given world, a
    // script with its own setup gets a sub-world, so it never disturbs the default terminal.
    const scratch = args.dir === undefined ? mkdtempSync(join(tmpdir(), 'tapline-sim-')) : undefined;
    const setupDir = () => join(dir, 'setup-' + createHash('sha256').update(JSON.stringify(script.setup)).digest('hex').slice(0, 12));
    const worldDir = scratch ?? (script.setup ? setupDir() : dir);
    try {
      const world = await World.open({ dir: worldDir, mode: script.mode ?? args.mode, setup: script.setup, serialDevice, say: args.json || scratch ? undefined : (l) => console.log(l) });
      try {
        await runScript(world, script.events, print);
      } finally {
        await world.close();
      }
    } finally {
      if (scratch) rmSync(scratch, { recursive: true, force: true });
    }
    return 0;
  }
  if (args.web) {
    const port = Number(args.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      console.error(`--port takes a port number\n${USAGE}`);
      return 2;
    }
    return runWeb(await World.open({ dir, mode: args.mode, serialDevice, say: (l) => console.log(l) }), port);
  }
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    // No keyboard to read (CI, a pipe): play the guided tour instead of waiting for keys.
    console.log(`no terminal to read keys from: playing ${TOUR} (npm start -- --script FILE for your own)`);
    return main(['--script', TOUR, ...(args.dir === undefined ? [] : ['--dir', args.dir]), '--mode', args.mode]);
  }
  return interactive(dir, args.mode, serialDevice);
}

export async function runScript(world: World, events: SimEvent[], print: Printer): Promise<void> {
  let now = 0;
  const emit = (outputs: SimOutput[]) => outputs.forEach((o) => print(now, o));
  emit(await world.powerOn(Math.floor(Date.now() / 1000)));
  for (const event of events) {
    if (event.at > now) {
      emit(await world.run(event.at - now));
      now = event.at;
    }
    print(now, { type: 'event', event });
    if (event.note !== undefined && Object.keys(event).length === 2) continue;
    emit(await apply(world, event));
  }
  emit(await world.run(SETTLE_MS));
}

async function apply(world: World, e: SimEvent): Promise<SimOutput[]> {
  if ('key' in e) return world.keys(e.key);
  if ('tap' in e) return world.tap(e.tap);
  if ('remove' in e) return world.remove();
  if ('network' in e) return world.network(e.network === 'up');
  if ('clock' in e) return world.setClock(e.clock === null ? undefined : Math.floor(Date.parse(e.clock) / 1000));
  if ('report' in e) {
    await world.reportLost(e.wallet);
    return [];
  }
  if ('elsewhere' in e) return world.payElsewhere(e.elsewhere, e.amount);
  if ('gate' in e) return world.gate(e.gate);
  if ('power' in e) {
    if (e.power === 'cut') {
      await world.powerOff();
      return [{ type: 'power', state: 'lost' }];
    }
    if (e.power === 'cut-during-append') return world.cutPowerInNextWrite();
    if (e.power === 'cut-after-pay') return world.cutPowerAfterPay();
    // a devkit has no battery-backed clock: after a power cycle the time is unknown until the network says
    return world.powered ? [] : world.powerOn(undefined);
  }
  return [];
}

const jsonPrinter: Printer = (at, out) => {
  console.log(JSON.stringify({ t: at, ...out }));
};

const textPrinter: Printer = (at, out) => {
  const t = `${(at / 1000).toFixed(2).padStart(7)}s`;
  switch (out.type) {
    case 'event':
      console.log(`${t} >> ${describe(out.event)}`);
      break;
    case 'display':
      console.log(`${t}    screen: ${out.lines.join(' | ')}`);
      break;
    case 'decision':
      console.log(`${t}    ${out.approved ? 'APPROVED' : 'DECLINED'} ${out.amount}${out.walletId ? ` wallet ${out.walletId}` : ''}${out.reason ? ` (${out.reason}: ${out.text})` : ''}`);
      break;
    case 'log':
      if (out.level !== 'debug') console.log(`${t}    [${out.level}] ${out.tag}: ${out.message}`);
      break;
    case 'power':
      console.log(`${t}    power ${out.state}`);
      break;
    default:
      break;
  }
};

function describe(e: SimEvent): string {
  const note = e.note ? `  # ${e.note}` : '';
  if ('key' in e) return `keys ${e.key}${note}`;
  if ('tap' in e) return `tap ${e.tap}${note}`;
  if ('remove' in e) return `card removed${note}`;
  if ('network' in e) return `network ${e.network}${note}`;
  if ('power' in e) return `power ${e.power}${note}`;
  if ('clock' in e) return `clock ${e.clock ?? 'unknown'}${note}`;
  if ('report' in e) return `${e.wallet} reported lost${note}`;
  if ('elsewhere' in e) return `${e.elsewhere} pays ${e.amount} at another terminal${note}`;
  if ('gate' in e) return `at the gate of station ${e.gate}${note}`;
  return note.trim();
}

// ---- interactive ------------------------------------------------------------------------------------

async function interactive(dir: string, mode: 'merchant' | 'transit', serialDevice?: string): Promise<number> {
  const world = await World.open({ dir, mode, serialDevice, say: (l) => console.log(l) });
  const state: TuiState = { title: `tapline simulator: ${mode} terminal, data in ${dir}`, oled: [], led: 'off', beep: '', networkUp: false, powered: true, decision: '', log: [] };
  const take = (outputs: SimOutput[]) => {
    for (const o of outputs) {
      if (o.type === 'log' && o.level !== 'debug') state.log.push(`[${o.level}] ${o.tag}: ${o.message}`);
      if (o.type === 'display') state.oled = o.lines;
      if (o.type === 'led') state.led = o.color;
      if (o.type === 'beep') state.beep = o.pattern;
      if (o.type === 'decision') state.decision = o.approved ? `APPROVED ${o.amount}` : `DECLINED ${o.amount}: ${o.text}`;
      if (o.type === 'power') state.log.push('power lost');
    }
    while (state.log.length > 20) state.log.shift();
  };
  const draw = () => {
    state.framebuffer = world.lastScreen ? fromHex(world.lastScreen) : undefined;
    state.networkUp = world.networkUp;
    state.powered = world.powered;
    const frame = tuiFrame(state, DEMO_WALLETS.map((w) => w.name), process.stdout.columns || 80, process.stdout.rows || 24);
    process.stdout.write('\x1b[H\x1b[2J' + frame.join('\n') + '\n');
  };
  process.stdout.on('resize', draw);

  let queue: Promise<unknown> = Promise.resolve();
  const enqueue = (work: () => Promise<SimOutput[]>) => {
    queue = queue.then(async () => {
      take(await work());
      draw();
    }).catch((e) => {
      state.log.push(`error: ${(e as Error).message}`);
    });
  };

  enqueue(() => world.powerOn(Math.floor(Date.now() / 1000)));
  let ticking = false;
  const timer = setInterval(() => {
    if (ticking) return;
    ticking = true;
    enqueue(async () => {
      try {
        return await world.run(100);
      } finally {
        ticking = false;
      }
    });
  }, 100);

  emitKeypressEvents(process.stdin);
  process.stdin.setRawMode(true);
  return new Promise<number>((done) => {
    process.stdin.on('keypress', (text: string | undefined, key: { name?: string; ctrl?: boolean; shift?: boolean }) => {
      if ((key.ctrl && key.name === 'c') || text === 'q') {
        clearInterval(timer);
        process.stdin.setRawMode(false);
        void queue.then(() => world.close()).then(() => done(0));
        return;
      }
      if (key.name === 'return') return enqueue(() => world.keys('#'));
      if (key.name === 'backspace') return enqueue(() => world.keys('B'));
      if (text && /^[0-9*#ABCD]$/.test(text)) return enqueue(() => world.keys(text));
      const walletIndex = text ? WALLET_KEYS.indexOf(text) : -1;
      if (walletIndex >= 0) return enqueue(() => world.tap(DEMO_WALLETS[walletIndex]!.name));
      if (text === 'r') return enqueue(() => world.remove());
      if (text === 'n') return enqueue(() => world.network(!world.networkUp));
      if (text === 'p') {
        return enqueue(async () => {
          await world.powerOff();
          draw();
          return world.powerOn(undefined);
        });
      }
    });
  });
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('host/sim/main.ts')) {
  main().then(
    (code) => process.exit(code),
    (e) => {
      // one line for the user; the trace only on request
      const message = e instanceof SimError ? e.message : `unexpected error: ${(e as Error)?.message ?? e} (TAPLINE_DEBUG=1 shows where)`;
      console.error(`npm start: ${message.replace(/\s*\n\s*/g, ' ')}`);
      if (process.env.TAPLINE_DEBUG) console.error((e as Error)?.stack ?? e);
      process.exit(1);
    },
  );
}

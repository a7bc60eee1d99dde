// The simulator's world on the host: the demo issuer, wallets and terminal (provisioned on first start
// with the `tapline` CLI's own code), the local settlement service (SQLite), the flash file, the network
// switch, and the terminal's firmware running on the XS engine. Events go in; what the terminal did
// comes out as SimOutput lines.
import { existsSync, mkdirSync, readFileSync, writeFileSync, openSync, writeSync, closeSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { concatBytes, toHex, utf8Decode, utf8Encode } from '../../firmware/base/bytes';
import { WalletEmulator } from '../wallet/emulator';
import { formatWalletFile, parseWalletFile, walletFileWithState, WalletFileError, type WalletFile } from '../cli/wallet-file';
import { main as cli } from '../cli/main';
import { Keystore } from '../cli/keystore';
import { DEFAULT_RISK_CONFIG } from '../../firmware/core/risk/config';
import { parseProvisioning, ProvisioningError } from '../../firmware/core/provisioning';
import { startService, type RunningService } from '../settlement/service';
import { XSScenario } from '../xs/scenario';
import { performance } from 'node:perf_hooks';
import { openSerial } from './serial-port';
import type { NodeSerial } from './hw/serial-node';
import type { SimSetup } from './script';
import { encodeUpdate, UPDATE_FARE_RULES } from '../../firmware/core/uplink/updates';
import { SimDevice, type HostBridge, type SimBootOptions, type SimOutput } from './device';
import { TransportError, type HttpResponse } from '../../firmware/core/uplink/transport';

/** 1 MiB journal partition, as on the device. */
const JOURNAL_BLOCKS = 256;

export interface DemoWallet {
  name: string;
  profile: 'card' | 'phone';
  walletClass: number;
  balance: number;
  pin?: string;
  /** A copy of another wallet's secure element (same keys, same counter): a clone. */
  cloneOf?: string;
  /** A purpose-bound balance the issuer grants (`tapline grant-purse`), which the holder pays with. */
  subsidy?: { program: string; categories: string; regions: string; validDays: number; balance: number };
}

export const DEMO_WALLETS: DemoWallet[] = [
  { name: 'alice-card', profile: 'card', walletClass: 2, balance: 50_000, pin: '1234' },
  { name: 'bob-phone', profile: 'phone', walletClass: 1, balance: 200_000 },
  { name: 'carol-card', profile: 'card', walletClass: 4, balance: 300, pin: '0000' },
  { name: 'mallory-clone', profile: 'card', walletClass: 2, balance: 50_000, cloneOf: 'alice-card' },
  // A food subsidy: groceries, food stores and fast food (ISO 18245 5411, 5499, 5814) in district 101.
  { name: 'dora-phone', profile: 'phone', walletClass: 2, balance: 5_000, subsidy: { program: 'FOOD-2026', categories: '5411,5499,5814', regions: '101', validDays: 30, balance: 20_000 } },
];

/** Where the demo's till is (fast food, district 101): the food subsidy may be spent there. */
const TILL_PLACE = { category: '5814', region: '101' };

/** The demo till's merchant PIN for offline refunds (key C). */
const SIM_REFUND_PIN = '9876';

/** The demo's terminals: the one on screen (merchant or transit) and a peer till for "elsewhere" payments. */
const TERMINALS = [
  ['terminal-merchant.json', 'SIM-TILL-1', 'CAFE', 'merchant'],
  ['terminal-transit.json', 'SIM-GATE-1', 'METRO', 'transit'],
  ['terminal-peer.json', 'SIM-TILL-2', 'KIOSK', 'merchant'],
] as const;

export interface WorldOptions {
  dir: string;
  mode?: 'merchant' | 'transit';
  /** Risk settings and journal size for the terminals provisioned on first start. */
  setup?: SimSetup;
  /** Bench mode: a real PN532 (HSU) on this serial device instead of the simulated reader. */
  serialDevice?: string;
  /** Print what the provisioning steps say (first start). */
  say?: (line: string) => void;
}

/** Something the user can fix (a damaged demo file, a missing serial device): one line, exit code 1. */
export class SimError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SimError';
  }
}

/** The demo wallets' names, which scripts and keys refer to. */
export const DEMO_WALLET_NAMES = DEMO_WALLETS.map((w) => w.name);

/** Everything a run of the simulator holds on the host side. */
export class World {
  readonly dir: string;
  readonly mode: 'merchant' | 'transit';
  readonly service: RunningService;
  readonly wallets = new Map<string, WalletEmulator>();
  networkUp = false;
  readonly #bridge: NodeBridge;
  #serialPort: NodeSerial | undefined;
  readonly #serialDevice: string | undefined;
  /** Journal partition size in 4 KiB blocks. */
  readonly blocks: number;
  #provisioningText: string;
  #xs: XSScenario | undefined;

  private constructor(options: WorldOptions, service: RunningService, provisioningText: string) {
    this.dir = options.dir;
    this.mode = options.mode ?? 'merchant';
    this.service = service;
    this.#provisioningText = provisioningText;
    this.blocks = options.setup?.journalBlocks ?? JOURNAL_BLOCKS;
    this.#serialDevice = options.serialDevice;
    this.#bridge = new NodeBridge(join(this.dir, `flash-${this.mode}.bin`), this.blocks, this.wallets, service.url, () => this.networkUp);
  }

  /** Opens the world in `dir`, provisioning the demo on first start. */
  static async open(options: WorldOptions): Promise<World> {
    const { dir } = options;
    const say = options.say ?? (() => {});
    const mode = options.mode ?? 'merchant';
    const keys = join(dir, 'keys');
    mkdirSync(dir, { recursive: true });
    const quiet = () => {};
    if (!existsSync(join(keys, 'root.key'))) {
      say('first start: creating a demo issuer, wallets and terminals in ' + dir);
      await run(['init', '--keys', keys], quiet);
    }
    const service = await startService({ keys, database: join(dir, 'settlement.db') });
    const riskFile = join(dir, 'risk.json');
    // Bench mode runs in real time over a serial line, often with the wallet relayed through a second
    // PN532 in card emulation: a relay by construction, so it gets the time a relay takes.
    const bench = options.serialDevice ? { exchangeMaxMs: 20_000, payMaxMs: 15_000 } : {};
    if (!existsSync(riskFile)) writeFileSync(riskFile, JSON.stringify({ ...DEFAULT_RISK_CONFIG, ...bench, ...options.setup?.risk }, null, 2));
    for (const [file, id, merchant, m] of TERMINALS) {
      const path = join(dir, file);
      if (existsSync(path)) continue;
      const args = ['provision-terminal', '--keys', keys, '--out', path, '--service', service.url, '--register', '--risk', riskFile];
      args.push('--terminal-id', id, '--merchant-id', merchant, '--mode', m);
      if (m === 'transit') args.push('--fare', '200');
      if (id === 'SIM-TILL-1') args.push('--category', TILL_PLACE.category, '--region', TILL_PLACE.region, '--refund-pin', SIM_REFUND_PIN);
      await run(args, say);
      const fares = options.setup?.fares;
      if (m === 'transit' && fares) {
        // the operator signs its fare rules with the root key (update kind 6) for the gate's merchant id
        const root = new Keystore(keys).root();
        const signed = encodeUpdate({ kind: UPDATE_FARE_RULES, version: 1, operatorId: merchant, rules: fares.rules }, root.alg, root.secretKey);
        const p = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
        writeFileSync(path, JSON.stringify({ ...p, station: fares.station, fareRules: toHex(signed) }, null, 2) + '\n');
      }
    }
    const terminalFile = join(dir, `terminal-${mode}.json`);
    const terminalText = readFileSync(terminalFile, 'utf8');
    // checked here, before the firmware boots, so a damaged file is named instead of failing inside XS
    try {
      parseProvisioning(terminalText);
    } catch (e) {
      if (!(e instanceof ProvisioningError)) throw e;
      await service.close();
      throw new SimError(`${terminalFile} is not a terminal provisioning file (${e.message}): delete it to have it provisioned again, or start over with --reset`);
    }
    mkdirSync(join(dir, 'wallets'), { recursive: true });
    for (const w of DEMO_WALLETS) {
      const file = join(dir, 'wallets', `${w.name}.json`);
      if (existsSync(file)) continue;
      if (w.cloneOf) {
        copyFileSync(join(dir, 'wallets', `${w.cloneOf}.json`), file);
        continue;
      }
      const args = ['issue-wallet', '--keys', keys, '--out', file, '--profile', w.profile, '--class', String(w.walletClass), '--balance', String(w.balance), '--service', service.url];
      if (w.pin) args.push('--pin', w.pin);
      await run(args, say);
      const g = w.subsidy;
      if (g) await run(['grant-purse', '--keys', keys, '--wallet', file, '--program', g.program, '--categories', g.categories, '--regions', g.regions, '--valid-days', String(g.validDays), '--balance', String(g.balance), '--pay-with'], say);
    }
    const world = new World(options, service, terminalText);
    for (const w of DEMO_WALLETS) {
      const file = world.#walletPath(w.name);
      try {
        world.wallets.set(w.name, new WalletEmulator(parseWalletFile(readFileSync(file, 'utf8'))));
      } catch (e) {
        if (!(e instanceof WalletFileError)) throw e;
        await service.close();
        throw new SimError(`${file} is not a wallet file (${e.message}): delete it to have it issued again, or start over with --reset`);
      }
    }
    return world;
  }

  get adminToken(): string {
    return new Keystore(join(this.dir, 'keys')).adminToken();
  }

  /** Powers the terminal on: a fresh XS engine boots the firmware from the flash file. */
  async powerOn(wallTime: number | undefined): Promise<SimOutput[]> {
    await this.#xs?.close();
    this.#xs = await XSScenario.load('host/sim/firmware.guest.ts', { onCommand: (m) => this.#answer(m) });
    if (this.#serialDevice && !this.#serialPort) {
      try {
        this.#serialPort = await openSerial(this.#serialDevice);
      } catch (e) {
        throw new SimError(`cannot open the reader's serial port ${this.#serialDevice}: ${(e as Error).message}`);
      }
    }
    const options: SimBootOptions = {
      provisioningText: this.#provisioningText,
      flashBlocks: this.blocks,
      wallTime,
      seed: toHex(randomBytes(16)),
      reader: this.#serialPort ? 'host-uart' : 'simulated',
    };
    return this.#call('boot', options);
  }

  /** Power is cut now: the engine stops where it is; the flash file keeps what was written. */
  async powerOff(): Promise<void> {
    await this.#xs?.close();
    this.#xs = undefined;
  }

  get powered(): boolean {
    return this.#xs !== undefined;
  }

  lastScreen = '';

  run(ms: number): Promise<SimOutput[]> {
    return this.#call('run', ms);
  }

  keys(keys: string): Promise<SimOutput[]> {
    return this.#call('keys', keys);
  }

  tap(wallet: string): Promise<SimOutput[]> {
    const emulator = this.wallets.get(wallet);
    if (!emulator) throw new SimError(`no wallet named ${wallet} (have ${[...this.wallets.keys()].join(', ')})`);
    // a card's UID is random on every activation, as phones and privacy-minded cards do
    return this.#call('tap', { wallet, uid: '08' + toHex(randomBytes(3)) });
  }

  async remove(): Promise<SimOutput[]> {
    for (const [name, w] of this.wallets) {
      w.removed();
      this.#saveWallet(name, w);
    }
    return this.#call('remove', null);
  }

  network(up: boolean): Promise<SimOutput[]> {
    this.networkUp = up;
    return this.#call('network', up);
  }

  /** Transit with fare rules: the validator now stands at `station`. */
  gate(station: number): Promise<SimOutput[]> {
    return this.#call('gate', station);
  }

  setClock(unixSeconds: number | undefined): Promise<SimOutput[]> {
    return this.#call('clock', unixSeconds ?? null);
  }

  cutPowerInNextWrite(): Promise<SimOutput[]> {
    return this.#call('cutPowerInNextWrite', null);
  }

  cutPowerAfterPay(): Promise<SimOutput[]> {
    return this.#call('cutPowerAfterPay', null);
  }

  /**
   * The wallet pays `amount` at another terminal (SIM-TILL-2), which is online and uploads at once. That
   * terminal runs the same firmware, here directly on Node: the simulated board is platform-free.
   */
  async payElsewhere(wallet: string, amount: number): Promise<SimOutput[]> {
    const emulator = this.wallets.get(wallet);
    if (!emulator) throw new Error(`no wallet named ${wallet}`);
    const bridge = new NodeBridge(join(this.dir, 'flash-peer.bin'), JOURNAL_BLOCKS, this.wallets, this.service.url, () => true);
    const peer = new SimDevice(bridge, {
      provisioningText: readFileSync(join(this.dir, 'terminal-peer.json'), 'utf8'),
      flashBlocks: JOURNAL_BLOCKS,
      wallTime: Math.floor(Date.now() / 1000),
      seed: toHex(randomBytes(16)),
    });
    await peer.start();
    await peer.network(true);
    for (const key of `${amount}#`) await peer.press(key);
    peer.tap(wallet, randomBytes(4));
    await peer.run(1000);
    peer.remove();
    emulator.removed();
    this.#saveWallet(wallet, emulator);
    await peer.run(3000);
    // what the other terminal did, as one line each on this run's console
    return peer.output.flatMap((o): SimOutput[] => {
      if (o.type === 'decision') {
        const what = o.approved ? `APPROVED ${o.amount} wallet ${o.walletId}` : `DECLINED ${o.amount}: ${o.text}`;
        return [{ type: 'log', level: 'info', tag: 'peer', message: `SIM-TILL-2 ${what}` }];
      }
      if (o.type === 'log' && o.tag === 'uplink' && o.level !== 'debug') return [{ type: 'log', level: o.level, tag: 'peer', message: `SIM-TILL-2 ${o.message}` }];
      return [];
    });
  }

  async reportLost(wallet: string): Promise<unknown> {
    const w = this.wallets.get(wallet);
    if (!w) throw new Error(`no wallet named ${wallet}`);
    const response = await fetch(`${this.service.url}/v1/wallets/${w.info.walletId}/lost`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.adminToken}`, 'content-type': 'application/json' },
      body: '{}',
    });
    return response.json();
  }

  #serial(): NodeSerial {
    if (!this.#serialPort) throw new Error('no serial port open (npm start -- --reader uart:DEVICE)');
    return this.#serialPort;
  }

  async close(): Promise<void> {
    this.#serialPort?.close();
    await this.#xs?.close();
    await this.service.close();
  }

  async #call(op: string, args: unknown): Promise<SimOutput[]> {
    if (!this.#xs) return [];
    const { value } = await this.#xs.call<{ output: SimOutput[]; screen: string; powered: boolean }>(op, args);
    this.lastScreen = value.screen;
    if (!value.powered) await this.powerOff();
    return value.output;
  }

  #walletPath(name: string): string {
    return join(this.dir, 'wallets', `${name}.json`);
  }

  #saveWallet(name: string, w: WalletEmulator): void {
    const file = JSON.parse(readFileSync(this.#walletPath(name), 'utf8')) as WalletFile;
    const next = walletFileWithState(file, w);
    if (next) writeFileSync(this.#walletPath(name), formatWalletFile(next), { mode: 0o600 });
  }

  // Bridge messages from the firmware in XS: a JSON header, a zero byte, raw bytes (host/sim/firmware.guest.ts).
  async #answer(message: Uint8Array): Promise<Uint8Array> {
    const zero = message.indexOf(0);
    const m = JSON.parse(utf8Decode(message.subarray(0, zero))) as { op: string; [k: string]: any };
    const payload = message.subarray(zero + 1);
    let header: Record<string, unknown> = {};
    let out: Uint8Array = new Uint8Array(0);
    switch (m.op) {
      case 'flash-image':
        out = this.#bridge.flashImage();
        break;
      case 'apdu':
        out = this.#bridge.apdu(m.wallet, payload);
        break;
      case 'flash':
        this.#bridge.flashChanged(m.offset, payload);
        break;
      case 'serial-write':
        this.#serial().write(payload);
        break;
      case 'serial-read':
        out = new Uint8Array(this.#serial().read() ?? new ArrayBuffer(0));
        break;
      case 'now':
        header = { now: performance.now() };
        break;
      case 'sleep':
        await new Promise((done) => setTimeout(done, Math.max(0, Math.min(Number(m.ms) || 0, 1000))));
        break;
      case 'post':
        try {
          const response = await this.#bridge.post(m.path, payload, m.timeoutMs);
          header = { status: response.status };
          out = response.body;
        } catch (e) {
          header = { error: (e as Error).message };
        }
        break;
      default:
        throw new Error(`unknown bridge call ${m.op}`);
    }
    return concatBytes(utf8Encode(JSON.stringify(header)), Uint8Array.of(0), out);
  }
}

/** The world as a terminal sees it from the host: its flash file, the wallets in the field, the network. */
class NodeBridge implements HostBridge {
  constructor(
    private readonly flashPath: string,
    blocks: number,
    private readonly wallets: Map<string, WalletEmulator>,
    private readonly serviceUrl: string,
    private readonly networkUp: () => boolean,
  ) {
    // a new part comes erased
    if (!existsSync(flashPath)) writeFileSync(flashPath, Buffer.alloc(blocks * 4096, 0xff));
  }

  flashImage(): Uint8Array {
    return readFileSync(this.flashPath);
  }

  apdu(wallet: string, apdu: Uint8Array): Uint8Array {
    const w = this.wallets.get(wallet);
    if (!w) throw new Error(`no wallet ${wallet}`);
    return w.answer(apdu);
  }

  flashChanged(offset: number, bytes: Uint8Array): void {
    const fd = openSync(this.flashPath, 'r+');
    try {
      writeSync(fd, bytes, 0, bytes.length, offset);
    } finally {
      closeSync(fd);
    }
  }

  async post(path: string, body: Uint8Array, timeoutMs: number): Promise<HttpResponse> {
    if (!this.networkUp()) throw new TransportError('network down');
    try {
      const response = await fetch(this.serviceUrl + path, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      return { status: response.status, body: new Uint8Array(await response.arrayBuffer()) };
    } catch (e) {
      throw new TransportError((e as Error).message);
    }
  }
}

async function run(args: string[], say: (line: string) => void): Promise<void> {
  const errors: string[] = [];
  const code = await cli(args, (line) => line.startsWith('note: ') || say(line), (line) => errors.push(line));
  if (code !== 0) throw new Error(`tapline ${args[0]} failed: ${errors.join('; ')}`);
}

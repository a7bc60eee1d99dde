// The simulator's world on the host: the demo issuer, wallets and terminal (provisioned on first start
// with the `tapline` CLI's own code), the local settlement service (SQLite), the flash file, the network
// switch, and the terminal's firmware running on the XS engine. Events go in; what the terminal did
// comes out as SimOutput lines.
import { existsSync, mkdirSync, readFileSync, writeFileSync, openSync, writeSync, closeSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { concatBytes, toHex, utf8Decode, utf8Encode } from '../../firmware/core/bytes';
import { WalletEmulator } from '../wallet/emulator';
import { formatWalletFile, parseWalletFile, type WalletFile } from '../cli/wallet-file';
import { main as cli } from '../cli/main';
import { Keystore } from '../cli/keystore';
import { startService, type RunningService } from '../settlement/service';
import { XSScenario } from '../xs/scenario';
import type { SimBootOptions, SimOutput } from './device';

export const FLASH_BLOCKS = 256; // 1 MiB journal partition, as on the device

export interface DemoWallet {
  name: string;
  profile: 'card' | 'phone';
  walletClass: number;
  balance: number;
  pin?: string;
  /** A copy of another wallet's secure element (same keys, same counter): a clone. */
  cloneOf?: string;
  /** What the simulator's screen says about it. */
  about: string;
}

export const DEMO_WALLETS: DemoWallet[] = [
  { name: 'alice-card', profile: 'card', walletClass: 2, balance: 50_000, pin: '1234', about: 'IC card, class 2, 500.00, PIN 1234' },
  { name: 'bob-phone', profile: 'phone', walletClass: 1, balance: 200_000, about: 'phone wallet, class 1, 2000.00' },
  { name: 'carol-card', profile: 'card', walletClass: 4, balance: 300, pin: '0000', about: 'IC card, class 4, only 3.00 left' },
  { name: 'mallory-clone', profile: 'card', walletClass: 2, balance: 50_000, cloneOf: 'alice-card', about: "a clone of alice-card's secure element" },
];

export interface WorldOptions {
  dir: string;
  mode?: 'merchant' | 'transit';
  /** Print what the provisioning steps say (first start). */
  say?: (line: string) => void;
}

/** Everything a run of the simulator holds on the host side. */
export class World {
  readonly dir: string;
  readonly mode: 'merchant' | 'transit';
  readonly service: RunningService;
  readonly wallets = new Map<string, WalletEmulator>();
  networkUp = false;
  #flashPath: string;
  #provisioningText: string;
  #xs: XSScenario | undefined;
  #say: (line: string) => void;

  private constructor(options: WorldOptions, service: RunningService, provisioningText: string) {
    this.dir = options.dir;
    this.mode = options.mode ?? 'merchant';
    this.service = service;
    this.#provisioningText = provisioningText;
    this.#flashPath = join(this.dir, `flash-${this.mode}.bin`);
    this.#say = options.say ?? (() => {});
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
    const terminalFile = join(dir, `terminal-${mode}.json`);
    if (!existsSync(terminalFile)) {
      const args = ['provision-terminal', '--keys', keys, '--out', terminalFile, '--service', service.url, '--register'];
      args.push('--terminal-id', mode === 'transit' ? 'SIM-GATE-1' : 'SIM-TILL-1', '--merchant-id', mode === 'transit' ? 'METRO' : 'CAFE');
      args.push('--mode', mode);
      if (mode === 'transit') args.push('--fare', '200');
      await run(args, say);
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
    }
    const world = new World(options, service, readFileSync(terminalFile, 'utf8'));
    for (const w of DEMO_WALLETS) world.wallets.set(w.name, new WalletEmulator(parseWalletFile(readFileSync(world.#walletPath(w.name), 'utf8'))));
    return world;
  }

  get adminToken(): string {
    return new Keystore(join(this.dir, 'keys')).adminToken();
  }

  /** Powers the terminal on: a fresh XS engine boots the firmware from the flash file. */
  async powerOn(wallTime: number | undefined): Promise<SimOutput[]> {
    await this.#xs?.close();
    this.#xs = await XSScenario.load('host/sim/firmware.guest.ts', { onCommand: (m) => this.#answer(m) });
    // a new part comes erased
    if (!existsSync(this.#flashPath)) writeFileSync(this.#flashPath, Buffer.alloc(FLASH_BLOCKS * 4096, 0xff));
    const options: SimBootOptions = {
      provisioningText: this.#provisioningText,
      flashBlocks: FLASH_BLOCKS,
      wallTime,
      seed: toHex(randomBytes(16)),
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
    if (!emulator) throw new Error(`no wallet named ${wallet} (have ${[...this.wallets.keys()].join(', ')})`);
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

  setClock(unixSeconds: number | undefined): Promise<SimOutput[]> {
    return this.#call('clock', unixSeconds ?? null);
  }

  cutPowerInNextWrite(): Promise<SimOutput[]> {
    return this.#call('cutPowerInNextWrite', null);
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

  async close(): Promise<void> {
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
    if (file.balance === w.balance && file.counter === w.counter) return;
    writeFileSync(this.#walletPath(name), formatWalletFile({ ...file, balance: w.balance, counter: w.counter }), { mode: 0o600 });
  }

  // Bridge messages from the firmware: a JSON header, a zero byte, raw bytes (host/sim/firmware.guest.ts).
  async #answer(message: Uint8Array): Promise<Uint8Array> {
    const zero = message.indexOf(0);
    const m = JSON.parse(utf8Decode(message.subarray(0, zero))) as { op: string; [k: string]: any };
    const payload = message.subarray(zero + 1);
    let header: Record<string, unknown> = {};
    let out: Uint8Array = new Uint8Array(0);
    switch (m.op) {
      case 'flash-image':
        out = readFileSync(this.#flashPath);
        break;
      case 'apdu': {
        const wallet = this.wallets.get(m.wallet);
        if (!wallet) throw new Error(`no wallet ${m.wallet}`);
        out = wallet.answer(payload);
        break;
      }
      case 'flash': {
        const fd = openSync(this.#flashPath, 'r+');
        try {
          writeSync(fd, payload, 0, payload.length, m.offset);
        } finally {
          closeSync(fd);
        }
        break;
      }
      case 'post':
        ({ header, body: out } = await this.#post(m.path, payload, m.timeoutMs));
        break;
      default:
        throw new Error(`unknown bridge call ${m.op}`);
    }
    return concatBytes(utf8Encode(JSON.stringify(header)), Uint8Array.of(0), out);
  }

  async #post(path: string, body: Uint8Array, timeoutMs: number): Promise<{ header: Record<string, unknown>; body: Uint8Array }> {
    const none = new Uint8Array(0);
    if (!this.networkUp) return { header: { error: 'network down' }, body: none };
    try {
      const response = await fetch(this.service.url + path, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      return { header: { status: response.status }, body: new Uint8Array(await response.arrayBuffer()) };
    } catch (e) {
      return { header: { error: (e as Error).message }, body: none };
    }
  }
}

async function run(args: string[], say: (line: string) => void): Promise<void> {
  const errors: string[] = [];
  const code = await cli(args, say, (line) => errors.push(line));
  if (code !== 0) throw new Error(`tapline ${args[0]} failed: ${errors.join('; ')}`);
}

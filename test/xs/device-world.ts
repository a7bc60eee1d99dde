// A terminal as the device app assembles it (firmware/app: boot, Runner, openReader, Feedback), with the
// bus-level simulated PN532 behind the I2C/SPI/UART classes the pin map selects, a RAM flash as the
// journal partition and the provisioning text as the `provision` partition would hold it. Platform-free,
// so the same scenarios run on Node and, through test/xs/device.guest.ts, on the XS engine.
import { toHex, utf8Encode } from '../../firmware/core/bytes';
import { VirtualClock, type Log } from '../../firmware/core/platform';
import { ALG_P256 } from '../../firmware/core/crypto/verify';
import { DEFAULT_RISK_CONFIG } from '../../firmware/core/risk/config';
import { publicKeyOf } from '../../firmware/core/uplink/sign';
import { boot, type Booted } from '../../firmware/app/boot';
import { Runner } from '../../firmware/app/runner';
import { Feedback, openReader, type IOClasses, type OutputPin } from '../../firmware/app/hardware';
import { PartitionAdapter, readProvisioningText } from '../../firmware/app/device-storage';
import { selectBoard, type BoardPins, type PinMap, type ReaderTransport } from '../../firmware/app/pins';
import pinMap from '../../hardware/pins.json';
import { RamFlash } from '../../host/flash/ram-flash';
import { SimI2C, SimI2CBus, SimSerial, SimSPI } from '../../host/sim/hw/io';
import { SimPN532 } from '../../host/sim/hw/pn532';
import type { I2COptions, SPIOptions, SerialOptions } from '../../drivers/io';
import { createIssuer, issueWallet, type Issuer } from '../../host/wallet/issuer';
import { WalletEmulator } from '../../host/wallet/emulator';
import { seededRandom } from '../../host/wallet/random';

export const NOW = 1_790_000_000;
const YEAR = 365 * 86400;

/** A GPIO output that remembers its level, for the LEDs and the buzzer. */
class PinRecorder implements OutputPin {
  static levels = new Map<number, number[]>();
  readonly pin: number;
  constructor(options: { pin: number; mode: number }) {
    this.pin = options.pin;
  }
  write(value: number): void {
    const seen = PinRecorder.levels.get(this.pin) ?? [];
    seen.push(value);
    PinRecorder.levels.set(this.pin, seen);
  }
  close(): void {}
}

export interface DeviceWorldOptions {
  transport?: ReaderTransport;
  seed?: string;
  /** The reader stays silent for this many boot attempts (a PN532 still powering up). */
  silentAttempts?: number;
  /** Shared between worlds to model a reboot on the same flash. */
  flash?: RamFlash;
  issuer?: Issuer;
  provisioning?: string;
}

/** Makes the IO classes openReader receives: each one talks to `chip`, on whatever pins it is given. */
function simIO(chip: SimPN532, pinsSeen: Record<string, unknown>): IOClasses {
  const bus = new SimI2CBus();
  bus.attach(0x24, { i2cWrite: (b) => chip.i2cWrite(b), i2cRead: (n) => chip.i2cRead(n) });
  return {
    I2C: class extends SimI2C {
      constructor(o: I2COptions) {
        pinsSeen.i2c = o;
        super({ bus, ...o });
      }
    },
    SPI: class extends SimSPI {
      constructor(o: SPIOptions) {
        pinsSeen.spi = o;
        super({ device: { spiTransfer: (b) => chip.spiTransfer(b) }, ...o });
      }
    },
    Serial: class extends SimSerial {
      constructor(o: SerialOptions) {
        pinsSeen.serial = o;
        super({ device: { uartWrite: (b) => chip.uartWrite(b), uartRead: () => chip.uartRead() }, ...o });
      }
    },
  } as unknown as IOClasses;
}

export class DeviceWorld {
  readonly clock = new VirtualClock({ start: 1000, wallTime: NOW });
  readonly random;
  readonly flash: RamFlash;
  readonly issuer: Issuer;
  readonly chip: SimPN532;
  readonly board: BoardPins;
  readonly provisioning: string;
  readonly logs: string[] = [];
  readonly screens: string[][] = [];
  readonly pinsSeen: Record<string, unknown> = {};
  readonly log: Log = (level, tag, message) => void this.logs.push(`[${level}] ${tag}: ${message}`);
  booted: Booted | undefined;
  runner: Runner | undefined;
  #silent: number;

  constructor(o: DeviceWorldOptions = {}) {
    this.random = seededRandom(o.seed ?? 'device');
    this.flash = o.flash ?? new RamFlash({ blocks: 64 });
    this.issuer = o.issuer ?? createIssuer(ALG_P256, this.random, { keyId: 1, notBefore: NOW - YEAR, notAfter: NOW + YEAR });
    this.chip = new SimPN532({ clock: this.clock });
    const map = pinMap as PinMap;
    const board = { ...map.boards['esp32-devkitc']! };
    board.pn532 = { ...board.pn532, transport: o.transport ?? 'i2c' };
    this.board = selectBoard({ version: 1, boards: { b: board } }, 'b');
    if (this.board.pn532.transport === 'uart') this.chip.powerUpAsleep();
    this.provisioning = o.provisioning ?? this.#provisioningText();
    this.#silent = o.silentAttempts ?? 0;
  }

  #provisioningText(): string {
    const deviceKey = this.random(32);
    deviceKey[0] = 0x11; // keep it below the curve order
    const rootKey = Uint8Array.from({ length: 32 }, (_, i) => 0x21 + i);
    return JSON.stringify({
      version: 1,
      terminalId: 'T-0042',
      devicePrivateKey: toHex(deviceKey),
      devicePublicKey: toHex(publicKeyOf(ALG_P256, deviceKey)),
      merchantId: 'M-bakery',
      mode: 'merchant',
      risk: DEFAULT_RISK_CONFIG,
      issuerKeys: [{
        keyId: this.issuer.key.keyId, alg: 'p256', publicKey: toHex(this.issuer.key.publicKey),
        notBefore: this.issuer.key.notBefore, notAfter: this.issuer.key.notAfter,
      }],
      rootPublicKey: { alg: 'p256', publicKey: toHex(publicKeyOf(ALG_P256, rootKey)) },
      settlementUrl: 'http://192.168.1.10:8080',
    });
  }

  /** The `provision` partition as parttool writes it: the file, then erased flash. */
  provisionPartition(): PartitionAdapter {
    const flash = new RamFlash({ blocks: 16 });
    flash.write(utf8Encode(this.provisioning), 0);
    return new PartitionAdapter(flash);
  }

  async boot(): Promise<Booted> {
    const provision = this.provisionPartition();
    const io = simIO(this.chip, this.pinsSeen);
    const feedback = new Feedback({
      board: this.board,
      Digital: PinRecorder,
      setTimer: () => undefined,
      log: this.log,
      display: (lines) => void this.screens.push(lines),
    });
    this.booted = await boot({
      clock: this.clock,
      random: this.random,
      log: this.log,
      provisioningText: () => readProvisioningText(provision),
      journalFlash: this.flash,
      openReader: () => {
        if (this.#silent > 0) {
          this.#silent--;
          throw new Error('read failed');
        }
        return openReader(this.board, io, this.clock, this.log);
      },
      show: (lines) => feedback.display(lines),
    });
    this.runner = new Runner({ terminal: this.booted.terminal, reader: this.booted.reader, sink: feedback, log: this.log });
    this.runner.start();
    return this.booted;
  }

  wallet(balance = 100_000): WalletEmulator {
    const issued = issueWallet(this.issuer, this.random, { alg: ALG_P256, walletClass: 2, notBefore: NOW - 30 * 86400, notAfter: NOW + YEAR });
    return new WalletEmulator({ profile: 'phone', certificate: issued.certificate, secretKey: issued.keys.secretKey, balance, holderVerified: true });
  }

  async keys(text: string): Promise<void> {
    for (const k of text) await this.runner!.key(k);
  }

  /** Runs loop steps until `done` or `most` steps, advancing the clock like the device's timer would. */
  async steps(most: number, done: () => boolean = () => false): Promise<number> {
    let n = 0;
    while (n < most && !done()) {
      await this.runner!.step();
      this.clock.advance(20);
      n++;
    }
    return n;
  }

  pinLevels(pin: number): number[] {
    return PinRecorder.levels.get(pin) ?? [];
  }

  static resetPins(): void {
    PinRecorder.levels = new Map();
  }
}

/** Boot, key 12.00, tap a phone wallet, approved; the result a test checks on either engine. */
export async function bootAndPay(transport: ReaderTransport, keep?: (w: DeviceWorld) => void): Promise<{
  readerFirmware: string; transport: string; pins: Record<string, unknown>; approved: number; declined: number;
  journalLastSeq: number; screens: string[][]; logs: string[]; greenOn: boolean;
}> {
  DeviceWorld.resetPins();
  const w = new DeviceWorld({ transport });
  keep?.(w);
  const booted = await w.boot();
  await w.keys('1200#');
  w.chip.placeCard(w.wallet());
  await w.steps(50, () => w.runner!.approved + w.runner!.declined > 0);
  w.chip.removeCard();
  await w.steps(5);
  const fw = booted.readerFirmware;
  return {
    readerFirmware: fw ? `${fw.ic}:${fw.version}.${fw.revision}` : 'none',
    transport: booted.reader ? booted.reader.pn532.transport.name : 'none',
    pins: w.pinsSeen,
    approved: w.runner!.approved,
    declined: w.runner!.declined,
    journalLastSeq: booted.journal.lastSeq,
    screens: w.screens,
    logs: w.logs,
    greenOn: w.pinLevels(w.board.leds.green).includes(1),
  };
}

/** Two payments, then a power cut (a new boot on the same flash): the receipts restore the risk state. */
export async function payThenReboot(): Promise<{ before: number; restored: number; offlineCount: number; offlineAmount: number; logs: string[] }> {
  DeviceWorld.resetPins();
  const first = new DeviceWorld({ seed: 'reboot' });
  await first.boot();
  for (const amount of ['500#', '750#']) {
    await first.keys(amount);
    first.chip.placeCard(first.wallet());
    const before = first.runner!.approved;
    await first.steps(50, () => first.runner!.approved > before);
    first.chip.removeCard();
    // the result stays on screen for a while; keys count again once the terminal is idle
    await first.steps(500, () => first.booted!.terminal.state === 'idle');
  }
  const second = new DeviceWorld({ seed: 'reboot-2', flash: first.flash, issuer: first.issuer, provisioning: first.provisioning });
  const booted = await second.boot();
  return {
    before: first.runner!.approved,
    restored: booted.restored,
    offlineCount: booted.risk.offlineCount,
    offlineAmount: booted.risk.offlineAmount,
    logs: second.logs,
  };
}

/** The reader answers only from the third attempt: boot retries and succeeds. */
export async function slowReader(): Promise<{ attempts: number; ready: boolean; logs: string[] }> {
  const w = new DeviceWorld({ silentAttempts: 2 });
  const booted = await w.boot();
  return { attempts: w.logs.filter((l) => l.includes('pn532: attempt')).length + 1, ready: booted.reader !== undefined, logs: w.logs };
}

/** Bad provisioning: boot stops at the config step with the field named. */
export async function badProvisioning(): Promise<{ error: string; screens: string[][] }> {
  const w = new DeviceWorld({ provisioning: '{"version":1,"terminalId":"bad id!"}' });
  try {
    await w.boot();
    return { error: 'none', screens: w.screens };
  } catch (e) {
    return { error: `${(e as Error).name}: ${(e as Error).message}`, screens: w.screens };
  }
}

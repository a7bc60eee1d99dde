// A terminal as the device app assembles it (firmware/app: boot, Runner, openReader, Feedback), with the
// bus-level simulated PN532 behind the I2C/SPI/UART classes the pin map selects, a RAM flash as the
// journal partition and the provisioning text as the `provision` partition would hold it. Platform-free,
// so the same scenarios run on Node and, through test/xs/device.guest.ts, on the XS engine.
import { utf8Encode } from '../../firmware/base/bytes';
import { VirtualClock, type Log } from '../../firmware/base/platform';
import { ALG_ED25519, ALG_P256, verifySignature, type Alg, type VerifyFn } from '../../firmware/core/crypto/verify';
import type { HashPort } from '../../firmware/base/hash';
import { publicKeyOf } from '../../firmware/core/uplink/sign';
import { boot, type Booted } from '../../firmware/app/boot';
import { Runner } from '../../firmware/app/runner';
import type { Screen } from '../../firmware/core/terminal/terminal';
import { screenLines } from '../../firmware/ui/text';
import { DeviceSink, Display, openFeedback, openKeypad, openReader } from '../../firmware/app/hardware';
import { simulatedIO } from '../../host/sim/hw/board';
import { PartitionAdapter, readProvisioningText } from '../../firmware/app/device-storage';
import { selectBoard, type BoardPins, type PinMap, type ReaderTransport } from '../../firmware/app/pins';
import pinMap from '../../hardware/pins.json';
import { RamFlash } from '../../host/flash/ram-flash';
import { fixedRootPublicKey, provisioningText } from '../../host/xsdev/provisioning';
import type { TerminalMode } from '../../firmware/core/provisioning';
import { fromHex } from '../../firmware/base/bytes';
import { KeyMatrix } from '../../host/sim/hw/keypad';
import { BuzzerRecorder, OutputPins } from '../../host/sim/hw/feedback';
import { SimSSD1306 } from '../../host/sim/hw/ssd1306';
import { SimPN532 } from '../../host/sim/hw/pn532';
import { createIssuer, issueWallet, type Issuer } from '../../host/wallet/issuer';
import { WalletEmulator } from '../../host/wallet/emulator';
import { seededRandom } from '../../host/wallet/random';

export const NOW = 1_790_000_000;
const YEAR = 365 * 86400;

export interface DeviceWorldOptions {
  transport?: ReaderTransport;
  seed?: string;
  /** The reader stays silent for this many boot attempts (a PN532 still powering up). */
  silentAttempts?: number;
  /** Shared between worlds to model a reboot on the same flash. */
  flash?: RamFlash;
  issuer?: Issuer;
  provisioning?: string;
  /** The provisioning root's public key (default: a fixed test key). */
  rootPublic?: Uint8Array;
  /** A signature primitive in place of noble's, as the device passes its native P-256. */
  verify?: VerifyFn;
  hashes?: HashPort;
  /** The wall time at boot; null: unknown (a power cycle without network). */
  wallTime?: number | null;
  /** Merchant (keyed amounts, the default) or transit (a flat fare of 200 per tap). */
  mode?: TerminalMode;
}

export class DeviceWorld {
  readonly clock: VirtualClock;
  readonly random;
  readonly flash: RamFlash;
  readonly issuer: Issuer;
  readonly chip: SimPN532;
  readonly board: BoardPins;
  readonly provisioning: string;
  devicePublic: Uint8Array = new Uint8Array(0);
  #rootPublic: Uint8Array | undefined;
  #seed: string;
  readonly #mode: TerminalMode;
  readonly logs: string[] = [];
  readonly screens: string[][] = [];
  readonly pinsSeen: Record<string, unknown> = {};
  readonly panel = new SimSSD1306();
  readonly keypad: KeyMatrix;
  readonly leds: OutputPins;
  readonly buzzer: BuzzerRecorder;
  readonly log: Log = (level, tag, message) => void this.logs.push(`[${level}] ${tag}: ${message}`);
  booted: Booted | undefined;
  runner: Runner | undefined;
  #silent: number;
  #verify: VerifyFn | undefined;
  #hashes: HashPort | undefined;

  constructor(o: DeviceWorldOptions = {}) {
    this.clock = new VirtualClock({ start: 1000, wallTime: o.wallTime === null ? undefined : (o.wallTime ?? NOW) });
    this.random = seededRandom(o.seed ?? 'device');
    this.flash = o.flash ?? new RamFlash({ blocks: 64 });
    this.issuer = o.issuer ?? createIssuer(ALG_P256, this.random, { keyId: 1, notBefore: NOW - YEAR, notAfter: NOW + YEAR });
    this.chip = new SimPN532({ clock: this.clock });
    const map = pinMap as PinMap;
    const board = { ...map.boards['esp32-devkitc']! };
    board.pn532 = { ...board.pn532, transport: o.transport ?? 'i2c' };
    this.board = selectBoard({ version: 1, boards: { b: board } }, 'b');
    if (this.board.pn532.transport === 'uart') this.chip.powerUpAsleep();
    this.#rootPublic = o.rootPublic;
    this.#seed = o.seed ?? 'device';
    this.#mode = o.mode ?? 'merchant';
    this.provisioning = o.provisioning ?? this.#provisioningText();
    this.keypad = new KeyMatrix({ rowPins: this.board.keypad.rows, columnPins: this.board.keypad.cols, clock: this.clock });
    this.leds = new OutputPins({ clock: this.clock });
    this.buzzer = new BuzzerRecorder({ clock: this.clock });
    this.#silent = o.silentAttempts ?? 0;
    this.#verify = o.verify;
    this.#hashes = o.hashes;
  }

  #provisioningText(): string {
    const deviceKey = seededRandom(`${this.#seed}/device-key`)(32);
    deviceKey[0] = 0x11; // keep it below the curve order
    this.devicePublic = publicKeyOf(ALG_P256, deviceKey);
    return provisioningText({
      deviceKey, merchantId: 'M-bakery', mode: this.#mode, issuerAlg: this.issuer.key.alg, issuerKey: this.issuer.key,
      rootPublicKey: this.#rootPublic ?? fixedRootPublicKey(),
    });
  }

  /** The `provision` partition as parttool writes it: the file, then erased flash. */
  provisionPartition(): PartitionAdapter {
    const flash = new RamFlash({ blocks: 16 });
    flash.write(utf8Encode(this.provisioning), 0);
    return new PartitionAdapter(flash);
  }

  async boot(online?: (booted: Booted) => { network(up: boolean): void; receiptAdded(): void; check(): void }): Promise<Booted> {
    const provision = this.provisionPartition();
    const io = simulatedIO(this.chip, this.panel, { keypad: this.keypad, leds: this.leds, buzzer: this.buzzer, board: this.board }, this.pinsSeen);
    const display = new Display({ board: this.board, I2C: io.I2C });
    const feedback = new DeviceSink({
      display: { show: (screen: Screen) => { this.screens.push(screenLines(screen)); display.show(screen); } },
      feedback: openFeedback(this.board, io, this.clock),
      log: this.log,
    });
    const keypad = openKeypad(this.board, io.DigitalBank, this.clock);
    this.booted = await boot({
      clock: this.clock,
      random: this.random,
      log: this.log,
      provisioningText: () => readProvisioningText(provision),
      journalFlash: this.flash,
      verify: this.#verify,
      hashes: this.#hashes,
      openReader: () => {
        if (this.#silent > 0) {
          this.#silent--;
          throw new Error('read failed');
        }
        return openReader(this.board, io, this.clock, this.log);
      },
      show: (screen) => feedback.display(screen),
    });
    this.runner = new Runner({ terminal: this.booted.terminal, reader: this.booted.reader, sink: feedback, keypad, online: online?.(this.booted), log: this.log });
    this.runner.start();
    return this.booted;
  }

  wallet(balance = 100_000): WalletEmulator {
    const alg = this.issuer.key.alg;
    const issued = issueWallet(this.issuer, this.random, { alg, walletClass: 2, notBefore: NOW - 30 * 86400, notAfter: NOW + YEAR });
    return new WalletEmulator({ profile: 'phone', certificate: issued.certificate, secretKey: issued.keys.secretKey, balance, holderVerified: true });
  }

  /** Presses each key on the simulated matrix long enough for the debounce, then releases it. */
  async keys(text: string): Promise<void> {
    for (const k of text) {
      const row = this.board.keypad.layout.findIndex((r) => r.includes(k));
      if (row < 0) throw new RangeError(`no key "${k}" on the keypad`);
      const column = this.board.keypad.layout[row]!.indexOf(k);
      this.keypad.press(row, column, 5);
      await this.steps(3);
      this.keypad.release(row, column);
      await this.steps(2);
    }
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

  /** Whether the LED pin was ever driven on. */
  ledLit(pin: number): boolean {
    return this.leds.changes.some((c) => (c.level & (1 << pin)) !== 0);
  }
}

/** Boot, key 12.00, tap a phone wallet, approved; the result a test checks on either engine. */
export async function bootAndPay(transport: ReaderTransport, keep?: (w: DeviceWorld) => void): Promise<{
  readerFirmware: string; transport: string; pins: Record<string, unknown>; approved: number; declined: number;
  journalLastSeq: number; screens: string[][]; logs: string[]; greenOn: boolean; panelText: string; tones: number;
}> {
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
    greenOn: w.ledLit(w.board.leds.green),
    panelText: w.panel.toText(),
    tones: w.buzzer.tones().length,
  };
}

/**
 * A card tapped before any amount gets a screen, and the keys keep working while the reader searches:
 * the card stays on the reader while the amount is keyed, pays once it is confirmed; then, with a search
 * running, `*` cancels a payment nobody tapped for.
 */
export async function tapAtIdle(transport: ReaderTransport): Promise<{
  screens: string[][]; approved: number; declined: number; searches: number; aborts: number; stepsToAnswer: number; logs: string[];
}> {
  const w = new DeviceWorld({ transport });
  await w.boot();
  w.chip.placeCard(w.wallet());
  const shown = () => w.screens.some((s) => s[1] === 'then tap card');
  const stepsToAnswer = await w.steps(20, shown);
  // the card is still there; the amount is keyed, and the resting card pays once # confirms it
  await w.keys('1200#');
  await w.steps(50, () => w.runner!.approved > 0);
  w.chip.removeCard();
  await w.steps(500, () => w.booted!.terminal.state === 'idle');
  // no card now: a payment is keyed, and * cancels it while the search runs
  await w.keys('5#');
  await w.steps(3);
  await w.keys('*');
  await w.steps(3);
  return {
    screens: w.screens,
    approved: w.runner!.approved,
    declined: w.runner!.declined,
    searches: w.chip.commands.filter((c) => c === '4a0100').length,
    aborts: w.chip.aborts,
    stepsToAnswer,
    logs: w.logs,
  };
}

/**
 * Riders back to back at a transit gate: each card leaves as the next one arrives, between two looks
 * of the removal check. A fixed UID (7 bytes, NXP's 0x04) tells the next card from the one charged, so
 * it is charged at once; a card that stays is charged once. Random UIDs (0x08, phones) cannot be told
 * apart: the next rider's phone counts as the one still there until the field is seen empty.
 */
export async function backToBack(uids: string[], stayMs: number): Promise<{ approved: number; declined: number; cardsSeen: number; logs: string[] }> {
  const w = new DeviceWorld({ mode: 'transit', seed: 'gate' });
  await w.boot();
  let cardsSeen = 0;
  const observed = w.runner!;
  for (const uid of uids) {
    w.chip.removeCard();
    w.chip.placeCard(w.wallet(), { uid: fromHex(uid) });
    const before = observed.approved + observed.declined;
    await w.steps(50, () => observed.approved + observed.declined > before);
    // the card stays on the reader a while: a few looks of the removal check find it
    const until = w.clock.now() + stayMs;
    await w.steps(1000, () => w.clock.now() >= until);
    cardsSeen = w.logs.filter((l) => l.includes('nfc: card') && l.includes('in the field')).length;
  }
  return { approved: observed.approved, declined: observed.declined, cardsSeen, logs: w.logs };
}

/** Two payments, then a power cut (a new boot on the same flash): the receipts restore the risk state. */
export async function payThenReboot(): Promise<{ before: number; restored: number; offlineCount: number; offlineAmount: number; logs: string[] }> {
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

/** Keys an amount and taps a fresh wallet; resolves with "approved" or the decline code the loop logged. */
async function payOnce(w: DeviceWorld, keys: string): Promise<string> {
  await w.keys(keys);
  w.chip.placeCard(w.wallet());
  const before = w.runner!.approved + w.runner!.declined;
  const logged = w.logs.length;
  await w.steps(100, () => w.runner!.approved + w.runner!.declined > before);
  w.chip.removeCard();
  await w.steps(500, () => w.booted!.terminal.state === 'idle');
  const line = w.logs.slice(logged).find((l) => l.includes('pay: APPROVED') || l.includes('pay: DECLINED'));
  return line === undefined ? 'none' : line.includes('APPROVED') ? 'approved' : (/"code":"(\w+)"/.exec(line)?.[1] ?? 'declined');
}

/**
 * The offline-time cap across a power cycle: a terminal settles (its first payment with the time known),
 * runs 8 days offline (a 7-day cap), then loses power and boots with the wall time unknown. 20 small
 * payments follow; each must be declined offlineTooLong.
 */
export async function offlineCapAcrossReboot(): Promise<{ before: string; late: string; after: string[]; logs: string[] }> {
  const first = new DeviceWorld({ seed: 'clock' });
  await first.boot();
  const before = await payOnce(first, '500#');
  for (let hour = 0; hour < 8 * 24; hour++) {
    first.clock.advance(3600_000);
    await first.runner!.step();
  }
  const late = await payOnce(first, '500#');
  const second = new DeviceWorld({ seed: 'clock-2', flash: first.flash, issuer: first.issuer, provisioning: first.provisioning, wallTime: null });
  await second.boot();
  const after: string[] = [];
  for (let i = 0; i < 20; i++) after.push(await payOnce(second, '500#'));
  return { before, late, after, logs: second.logs.filter((l) => l.includes('time:')) };
}

/** The line boot logs for a transit terminal's signature policy. */
function policyLine(w: DeviceWorld): string {
  return w.logs.find((l) => l.includes('boot: transit: signatures checked')) ?? 'none';
}

/**
 * What boot turns on for transit by itself (no verifyBeforeOpen given, as firmware/app/main.ts boots):
 * with a native signature primitive that passes the self-test, Ed25519 cards are checked before the
 * gate opens and P-256 cards after it; with only the JavaScript one, every card after it. One rider
 * each: was the tap approved, and was its check deferred.
 */
export async function transitBootDefault(): Promise<{ native: Record<string, string>; javascript: Record<string, string>; nativeLine: string; javascriptLine: string }> {
  const ride = async (alg: Alg, native: boolean): Promise<{ line: string; outcome: string }> => {
    const seed = `gate-default-${alg}-${native}`;
    const issuer = createIssuer(alg, seededRandom(seed), { keyId: 1, notBefore: NOW - YEAR, notAfter: NOW + YEAR });
    // a primitive that is not noble's own function counts as native (boot.ts); it answers as noble does
    const w = new DeviceWorld({ mode: 'transit', seed, issuer, ...(native ? { verify: (...args) => verifySignature(...args) } : {}) });
    await w.boot();
    w.chip.placeCard(w.wallet());
    await w.steps(50, () => w.runner!.approved + w.runner!.declined > 0);
    const pay = w.logs.find((l) => l.includes('pay: APPROVED') || l.includes('pay: DECLINED')) ?? 'none';
    const outcome = pay.includes('APPROVED') ? (pay.includes('(verify deferred)') ? 'deferred' : 'verified before opening') : pay;
    return { line: policyLine(w), outcome };
  };
  const out = { native: {} as Record<string, string>, javascript: {} as Record<string, string>, nativeLine: '', javascriptLine: '' };
  for (const alg of [ALG_ED25519, ALG_P256] as const) {
    const n = await ride(alg, true);
    const j = await ride(alg, false);
    out.native[alg === ALG_ED25519 ? 'Ed25519' : 'P-256'] = n.outcome;
    out.javascript[alg === ALG_ED25519 ? 'Ed25519' : 'P-256'] = j.outcome;
    out.nativeLine = n.line;
    out.javascriptLine = j.line;
  }
  return out;
}

/**
 * A rider at a gate with a deferred check due: the loop looks at the card before the tick's deferred
 * work. The checks take 500 ms each (a slow signature primitive on the device's clock), so after the
 * first rider one of its two checks is left for the waiting gate (500 ms does not fit what is left of
 * the 800 ms result screen); the gate stays quiet 3.5 s, past the 3 s after which a waiting gate checks,
 * and the next rider's card is in the field at the next turn. What that turn did, in order: the card,
 * then the check (or the check first, and the rider waited for it); and the check done afterwards.
 */
export async function cardBeforeDeferredCheck(): Promise<{ order: string[]; pendingBefore: number; verifiedLater: boolean; approved: number }> {
  let w: DeviceWorld | undefined;
  // after boot's self-test: each check logged where it runs, and 500 ms of the device's clock spent
  const slow: VerifyFn = (...args) => {
    if (w?.runner) {
      w.log('debug', 'test', 'check');
      w.clock.advance(500);
    }
    return verifySignature(...args);
  };
  w = new DeviceWorld({ mode: 'transit', seed: 'card-first', verify: slow });
  const world = w;
  await world.boot();
  const runner = world.runner!;
  world.chip.placeCard(world.wallet());
  await world.steps(50, () => runner.approved > 0);
  world.chip.removeCard();
  // the result screen ends, the removal is seen and the gate waits for the next card (a search running)
  await world.steps(100, () => world.booted!.terminal.state === 'waiting');
  await world.steps(20);
  const pendingBefore = world.booted!.terminal.pendingVerifications;
  world.clock.advance(3_500);
  world.chip.placeCard(world.wallet());
  world.clock.advance(200);
  // the simulated chip answers the running search in its own promise chain: let it run, as the real
  // chip has found the card by itself while the loop slept
  for (let i = 0; i < 50; i++) await Promise.resolve();
  const logged = world.logs.length;
  const approvedBefore = runner.approved;
  await runner.step();
  const order = world.logs.slice(logged).flatMap((l) => (l.includes('in the field') ? ['card'] : l.endsWith('test: check') ? ['check'] : []));
  world.chip.removeCard();
  await world.steps(400);
  return { order, pendingBefore, verifiedLater: world.logs.some((l) => l.includes('pay: deferred tseq 1 verified')), approved: runner.approved - approvedBefore + 1 };
}

// Offline refunds end to end, run unchanged on Node (test/refund.test.ts) and on XS
// (test/xs/refund.guest.ts): a merchant terminal on a NOR flash journal (the device's TerminalStore),
// refunds keyed behind the merchant PIN, wallets that trust the provisioning root key. Each scenario
// returns a summary string the test compares; the power-cut campaign cuts at every flash write and
// erase and every APDU boundary of a refund, reboots, and checks that no money was made or lost.
import { toHex } from '../firmware/base/bytes';
import { Keyring } from '../firmware/core/crypto/keyring';
import { Verifier } from '../firmware/core/crypto/verifier';
import { ALG_P256, type Alg } from '../firmware/core/crypto/verify';
import { VirtualClock, silentLog, type Log } from '../firmware/base/platform';
import type { CardLink } from '../firmware/base/ports';
import { DEFAULT_RISK_CONFIG } from '../firmware/core/risk/config';
import { Terminal, type Effect, type Key } from '../firmware/core/terminal/terminal';
import { TerminalStore } from '../firmware/app/state';
import { provisionedRefunds } from '../firmware/app/refunds';
import { decodeRefundRecord, decodeRefundRequest, encodeRefundRequest, RECORD_REFUND, RECORD_REFUND_INTENT } from '../firmware/core/protocol/refund';
import { decodeCommand, decodeResponse, INS_REFUND, terminalCertificateCommand, refundCommand, selectCommand } from '../firmware/core/protocol/apdu';
import { hashMerchantPin, type RefundSetup } from '../firmware/core/refund/flow';
import { screenLines } from '../firmware/ui/text';
import { PowerLossError, RamFlash } from '../host/flash/ram-flash';
import { WalletEmulator } from '../host/wallet/emulator';
import { createIssuer, generateKeyPair, issueWallet, type Issuer, type KeyPair } from '../host/wallet/issuer';
import { seededRandom } from '../host/wallet/random';
import { signTerminalCertificate } from '../host/wallet/refunds';
import { publicKeyOf } from '../firmware/core/uplink/sign';
import { CutLink } from './in-doubt-campaign';

export const NOW = 1_790_000_000;
const YEAR = 365 * 86400;
export const MERCHANT_PIN = '2580';
const BALANCE = 100_000;

export class RefundWorld {
  readonly random;
  readonly seeded: () => number;
  readonly issuer: Issuer;
  readonly root: KeyPair;
  readonly device: KeyPair;
  readonly pinSalt: Uint8Array;
  certificate: Uint8Array;

  constructor(readonly alg: Alg, seed: string) {
    this.random = seededRandom(seed);
    const b = this.random(4);
    let s = (b[0]! << 24) ^ (b[1]! << 16) ^ (b[2]! << 8) ^ b[3]!;
    this.seeded = () => ((s = (Math.imul(s, 1103515245) + 12345) | 0) >>> 0) / 2 ** 32;
    this.issuer = createIssuer(alg, this.random, { keyId: 1, notBefore: NOW - YEAR, notAfter: NOW + YEAR });
    this.root = generateKeyPair(ALG_P256, this.random);
    this.device = generateKeyPair(ALG_P256, this.random);
    this.pinSalt = this.random(16);
    this.certificate = this.certify(this.root);
  }

  /** The terminal certificate as the root (or another key, for a forgery) signs it. */
  certify(by: KeyPair, notAfter = NOW + YEAR): Uint8Array {
    return signTerminalCertificate(by, { terminalId: 'T-REF', merchantId: 'M-shop', publicKey: publicKeyOf(ALG_P256, this.device.secretKey), notAfter });
  }

  wallet(balance = BALANCE): WalletEmulator {
    const issued = issueWallet(this.issuer, this.random, { alg: this.alg, walletClass: 2, notBefore: NOW - 86400, notAfter: NOW + YEAR });
    return new WalletEmulator({
      profile: 'phone', holderVerified: true, certificate: issued.certificate, secretKey: issued.keys.secretKey, balance,
      refundRoot: { alg: this.root.alg, publicKey: this.root.publicKey },
    });
  }
}

export class RefundDevice {
  readonly flash: RamFlash;
  readonly clock = new VirtualClock({ start: 1000, wallTime: NOW });
  store!: TerminalStore;
  terminal!: Terminal;
  refundSetup: RefundSetup | undefined;
  screens: string[][] = [];

  constructor(readonly world: RefundWorld, readonly options: { refunds?: boolean; log?: Log; utcOffsetMinutes?: number } = {}) {
    this.flash = new RamFlash({ blocks: 12, blockLength: 2048, random: world.seeded });
  }

  boot(): void {
    this.flash.powerOn();
    this.store = new TerminalStore({ flash: this.flash, log: silentLog, riskOptions: { config: DEFAULT_RISK_CONFIG, settledAt: NOW - 60, utcOffsetMinutes: this.options.utcOffsetMinutes ?? 0 } });
    this.store.journal.open();
    this.store.loadCheckpoint();
    const verifier = new Verifier({ keyring: new Keyring([this.world.issuer.key]) });
    const w = this.world;
    this.terminal = new Terminal({
      mode: 'merchant', terminalId: 'T-REF', merchantId: 'M-shop', verifier, risk: this.store.risk, inDoubt: this.store.inDoubt,
      journal: this.store.journal, clock: this.clock, random: w.random, log: this.options.log ?? silentLog,
      saveState: () => void this.store.journal.checkpoint(),
      refunds: (this.refundSetup = this.options.refunds === false ? undefined : provisionedRefunds(
        {
          terminalId: 'T-REF', devicePrivateKey: toHex(w.device.secretKey), risk: DEFAULT_RISK_CONFIG,
          refunds: { certificate: toHex(w.certificate), pinSalt: toHex(w.pinSalt), pinHash: toHex(hashMerchantPin(w.pinSalt, MERCHANT_PIN)) },
        },
        { journal: this.store.journal, verifier, clock: this.clock, log: silentLog },
      )),
    });
    this.store.replay(this.terminal);
    this.terminal.start();
  }

  async keys(keys: string): Promise<Effect[]> {
    const out: Effect[] = [];
    for (const k of keys) out.push(...(await this.terminal.handle({ type: 'key', key: k as Key })));
    this.#screens(out);
    return out;
  }

  async tap(link: CardLink): Promise<Effect[]> {
    const out = await this.terminal.handle({ type: 'card', link });
    this.#screens(out);
    this.clock.advance(6000);
    out.push(...(await this.terminal.handle({ type: 'tick' })));
    return out;
  }

  async pay(link: CardLink, amount: number): Promise<Effect[]> {
    return [...(await this.keys(`${amount}#`)), ...(await this.tap(link))];
  }

  /** C, the merchant PIN, the payment (`seq`, '' for the newest), the amount ('' for all left), then the card. */
  async refund(link: CardLink | undefined, seq: string, amount: string, pin = MERCHANT_PIN): Promise<Effect[]> {
    const out = await this.keys('C');
    // key by key until the flow ends (a refusal stays on screen)
    for (const k of `${pin}#${seq}#${amount}#`) {
      if (this.terminal.state !== 'refund' || this.terminal.answersCard) break;
      out.push(...(await this.keys(k)));
    }
    if (link && this.terminal.answersCard) out.push(...(await this.tap(link)));
    return out;
  }

  /** The last screen shown, as text. */
  get shown(): string {
    return (this.screens[this.screens.length - 1] ?? []).join(' | ');
  }

  /** Refund records (and open intents) in the journal. */
  refunds(): { seq: number; amount: number; done: boolean }[] {
    const out = new Map<number, { seq: number; amount: number; done: boolean }>();
    this.store.journal.replay(0, (r) => {
      if (r.type !== RECORD_REFUND && r.type !== RECORD_REFUND_INTENT) return;
      const rec = decodeRefundRecord(r.payload);
      const done = r.type === RECORD_REFUND || out.get(rec.refundSeq)?.done === true;
      out.set(rec.refundSeq, { seq: rec.refundSeq, amount: decodeRefundRequest(rec.request).amount, done });
    });
    return [...out.values()];
  }

  #screens(effects: Effect[]): void {
    for (const e of effects) if (e.type === 'display') this.screens.push(screenLines(e.screen));
  }
}

/** A wallet whose REFUND answer is replaced by a bare status word (the wallet's other refusals). */
class RefusingLink implements CardLink {
  constructor(readonly wallet: WalletEmulator, readonly refundSw: number) {}
  async transceive(apdu: Uint8Array): Promise<Uint8Array> {
    if (decodeCommand(apdu).ins === INS_REFUND) return Uint8Array.of(this.refundSw >> 8, this.refundSw & 0xff);
    return this.wallet.answer(apdu);
  }
}

/** Records every APDU the terminal sends; can rewrite REFUND's data on the way (a relay). */
class Recorder implements CardLink {
  sent: Uint8Array[] = [];
  constructor(readonly wallet: WalletEmulator, readonly rewrite?: (data: Uint8Array) => Uint8Array) {}
  async transceive(apdu: Uint8Array): Promise<Uint8Array> {
    this.sent.push(apdu.slice());
    const c = decodeCommand(apdu);
    if (this.rewrite && c.ins === INS_REFUND) return this.wallet.answer(refundCommand(this.rewrite(c.data)));
    return this.wallet.answer(apdu);
  }
}

function sw(rapdu: Uint8Array): string {
  return decodeResponse(rapdu).sw.toString(16);
}

async function setup(alg: Alg, seed: string): Promise<{ world: RefundWorld; device: RefundDevice; wallet: WalletEmulator }> {
  const world = new RefundWorld(alg, seed);
  const device = new RefundDevice(world);
  device.boot();
  const wallet = world.wallet();
  await device.pay(wallet, 3000);
  wallet.removed();
  return { world, device, wallet };
}

export const REFUND_SCENARIOS: Record<string, { expect: string; run: (alg: Alg) => Promise<string> }> = {
  'a full refund': {
    expect: 'paid 97000; REFUNDED | 30.00 | balance 1000.00; balance 100000; records 1 of 3000; counter 2',
    async run(alg) {
      const { device, wallet } = await setup(alg, 'full');
      const paid = wallet.balance;
      const effects = await device.refund(wallet, '', '');
      const r = effects.find((e) => e.type === 'refunded');
      const records = device.refunds();
      return `paid ${paid}; ${device.screens.find((l) => l[0] === 'REFUNDED')?.join(' | ')}; balance ${wallet.balance}; records ${records.filter((x) => x.done).length} of ${r && r.type === 'refunded' ? r.amount : 0}; counter ${wallet.counter}`;
    },
  },
  'partial refunds, then one above what is left refused by the terminal': {
    expect: 'after 1000+1500: 99500; 600: NO REFUND | over the payment; rest 500: 100000; again: NO REFUND | over the payment; cards tapped for the refused: 0',
    async run(alg) {
      const { device, wallet } = await setup(alg, 'partial');
      await device.refund(wallet, '', '1000');
      wallet.removed();
      await device.refund(wallet, '', '1500');
      wallet.removed();
      const after = wallet.balance;
      const counter = wallet.counter;
      await device.refund(wallet, '', '600');
      const over = device.shown;
      const untouched = wallet.counter - counter;
      await device.refund(wallet, '', '');
      wallet.removed();
      const rest = wallet.balance;
      await device.refund(wallet, '', '');
      return `after 1000+1500: ${after}; 600: ${over}; rest 500: ${rest}; again: ${device.shown}; cards tapped for the refused: ${untouched}`;
    },
  },
  'a refund above the original refused by the wallet': {
    expect: 'wallet: NO REFUND | over the payment; balance 100000; records 1; released 1',
    async run(alg) {
      const { device, wallet } = await setup(alg, 'wallet-over');
      await device.refund(wallet, '', '');
      wallet.removed();
      // A terminal whose journal forgot the refund asks again: the wallet's own book refuses it.
      const desk = present(device.refundSetup, 'refunds').desk;
      const original = { ...present(desk.original(1), 'payment 1'), refunded: 0, inDoubt: [] };
      const r = await desk.refund(wallet, original, 3000, 999);
      const released = countType(device, 0x0a);
      return `wallet: NO REFUND | ${r.kind === 'refused' ? r.decline.text : 'refunded'}; balance ${wallet.balance}; records ${device.refunds().filter((x) => x.done).length}; released ${released}`;
    },
  },
  'a forged refund refused by the wallet': {
    expect: 'other root: 6a8e card refused terminal; expired: card refused terminal; tampered amount: card refused terminal; bad request signature: card refused terminal; balance 97000; records 0',
    async run(alg) {
      const { world, device, wallet } = await setup(alg, 'forged');
      const out: string[] = [];
      // A certificate not signed by the root the wallet trusts.
      wallet.answer(selectCommand());
      out.push(`other root: ${sw(wallet.answer(terminalCertificateCommand(world.certify(generateKeyPair(ALG_P256, world.random)))))}`);
      world.certificate = world.certify(generateKeyPair(ALG_P256, world.random));
      device.boot();
      await device.refund(wallet, '', '');
      out[0] += ` ${device.shown.split(' | ')[1]}`;
      wallet.removed();
      world.certificate = world.certify(world.root, NOW - 1);
      device.boot();
      await device.refund(wallet, '', '');
      out.push(`expired: ${device.shown.split(' | ')[1]}`);
      wallet.removed();
      world.certificate = world.certify(world.root);
      device.boot();
      // A relay raises the amount: the terminal's signature no longer covers the request.
      await device.refund(new Recorder(wallet, (d) => { const r = decodeRefundRequest(d); return encodeRefundRequest({ ...r, amount: r.amount + 1 }, r.signature); }), '', '1000');
      out.push(`tampered amount: ${device.shown.split(' | ')[1]}`);
      wallet.removed();
      await device.refund(new Recorder(wallet, (d) => { const x = d.slice(); x[x.length - 1] = (x[x.length - 1] ?? 0) ^ 0x01; return x; }), '', '1000');
      out.push(`bad request signature: ${device.shown.split(' | ')[1]}`);
      wallet.removed();
      return `${out.join('; ')}; balance ${wallet.balance}; records ${device.refunds().filter((x) => x.done).length}`;
    },
  },
  'a replayed refund refused by the wallet': {
    expect: 'replay of the first: 6a89; exact retry of the last: 9000 same answer true; balance 99000',
    async run(alg) {
      const { device, wallet } = await setup(alg, 'replay');
      const first = new Recorder(wallet);
      await device.refund(first, '', '1000');
      wallet.removed();
      const second = new Recorder(wallet);
      await device.refund(second, '', '1000');
      wallet.removed();
      const balance = wallet.balance;
      const refundApdu = (r: Recorder) => r.sent.find((a) => decodeCommand(a).ins === INS_REFUND)!;
      const certApdu = terminalCertificateCommand(device.world.certificate);
      wallet.answer(selectCommand());
      wallet.answer(certApdu);
      const replay = sw(wallet.answer(refundApdu(first)));
      const retry = wallet.answer(refundApdu(second));
      let lastAnswer = '';
      device.store.journal.replay(0, (r) => void (r.type === RECORD_REFUND && (lastAnswer = toHex(decodeRefundRecord(r.payload).response ?? new Uint8Array(0)))));
      const same = lastAnswer === toHex(retry.subarray(0, retry.length - 2));
      return `replay of the first: ${replay}; exact retry of the last: ${sw(retry)} same answer ${same}; balance ${wallet.balance === balance ? wallet.balance : `${wallet.balance} (was ${balance})`}`;
    },
  },
  'the wallet refusing a refund as replayed or for another reason, and a terminal with no refunds set up': {
    expect: 'other: NO REFUND | card refused refund; replayed: NO REFUND | refund replayed; balance 97000; not set up: NO REFUND | refunds not set up',
    async run(alg) {
      const { world, device, wallet } = await setup(alg, 'refusals');
      // a plain refusal releases the refund's intent; "replayed" keeps it in doubt, so it comes second
      await device.refund(new RefusingLink(wallet, 0x6f00), '', '');
      const out = [`other: ${device.shown}`];
      wallet.removed();
      await device.refund(new RefusingLink(wallet, 0x6a89), '', '');
      out.push(`replayed: ${device.shown}`, `balance ${wallet.balance}`);
      wallet.removed();
      const bare = new RefundDevice(world, { refunds: false });
      bare.boot();
      await bare.keys('C');
      out.push(`not set up: ${bare.shown}`);
      return out.join('; ');
    },
  },
  'another card, a wrong merchant PIN (bounded, across a reboot), an unknown payment': {
    expect: 'other card: NO REFUND | not the paying card; wrong PIN: refund: merchant PIN | wrong PIN: 2 left; third: NO REFUND | refunds locked; after reboot: NO REFUND | refunds locked; unknown: NO REFUND | no such payment',
    async run(alg) {
      const { world, device } = await setup(alg, 'pin');
      const other = world.wallet();
      await device.refund(other, '', '');
      const out = [`other card: ${device.shown}`];
      await device.keys('C1111#');
      out.push(`wrong PIN: ${device.shown}`);
      await device.keys('2222#3333#');
      out.push(`third: ${device.shown}`);
      device.boot();
      await device.keys('C');
      out.push(`after reboot: ${device.shown}`);
      const fresh = new RefundDevice(world);
      fresh.boot();
      await fresh.refund(undefined, '77', '');
      out.push(`unknown: ${fresh.shown}`);
      return out.join('; ');
    },
  },
  'what is left of a payment survives a reboot': {
    expect: 'after reboot, left: refund of #1 | left 20.00 | # = all left; then: 100000',
    async run(alg) {
      const { device, wallet } = await setup(alg, 'reboot');
      await device.refund(wallet, '1', '1000');
      wallet.removed();
      device.boot();
      await device.keys(`C${MERCHANT_PIN}#1#`);
      const left = device.shown;
      await device.keys('#');
      await device.tap(wallet);
      return `after reboot, left: ${left}; then: ${wallet.balance}`;
    },
  },
};

function countType(device: RefundDevice, type: number): number {
  let n = 0;
  device.store.journal.replay(0, (r) => void (r.type === type && n++));
  return n;
}

function present<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`${what} missing`);
  return v;
}

export interface RefundCampaignResult {
  cuts: number;
  /** Cuts after which a refund was in doubt at reboot (an intent with no record or release). */
  inDoubt: number;
  /** How the in-doubt ones ended at the wallet's next refund tap. */
  recovered: number;
  failures: string[];
}

type RefundCut = { flash: number } | { apdu: number } | undefined;

/**
 * Pay 3000, refund 1000 with power cut at `cut`, reboot, refund 500 more to the same wallet (which
 * settles a refund left in doubt first), then check: what the wallet was credited is exactly what the
 * journal's refund records say (no money made, no refund lost), no intent left open, numbers unique.
 */
async function refundRun(alg: Alg, cut: RefundCut, failures: string[]): Promise<{ flashSteps: number; apdus: number; doubted: boolean; recovered: boolean }> {
  const where = JSON.stringify(cut);
  const { device, wallet } = await setup(alg, 'refund cuts');
  const startSteps = device.flash.steps;
  if (cut && 'flash' in cut) device.flash.cutPowerAt(cut.flash);
  const link = new CutLink(wallet, device.flash, cut && 'apdu' in cut ? cut.apdu : -1);
  try {
    await device.refund(link, '', '1000');
  } catch (e) {
    if (!(e instanceof PowerLossError)) throw e;
  }
  wallet.removed();
  const flashSteps = device.flash.steps - startSteps;
  let doubted = false;
  let recovered = false;
  if (device.flash.dead) {
    device.boot();
    doubted = device.refunds().some((r) => !r.done);
  }
  const effects = await device.refund(wallet, '', '500');
  wallet.removed();
  const r = effects.find((e) => e.type === 'refunded');
  if (!r) failures.push(`${where}: the second refund was not made (${device.shown})`);
  if (doubted && device.screens.some((l) => l.some((x) => x.includes('in doubt')))) recovered = true;
  const records = device.refunds();
  const journaled = records.filter((x) => x.done).reduce((n, x) => n + x.amount, 0);
  const credited = wallet.balance - (BALANCE - 3000);
  if (journaled !== credited) failures.push(`${where}: wallet credited ${credited}, refund records ${journaled}`);
  const book = wallet.refundBook.find((e) => e.amount === 3000);
  if (!book || book.refunded !== credited) failures.push(`${where}: the wallet's book says ${book?.refunded} refunded, credited ${credited}`);
  if (credited > 3000) failures.push(`${where}: refunded ${credited}, more than the payment`);
  const seqs = records.map((x) => x.seq);
  if (new Set(seqs).size !== seqs.length || seqs.includes(1)) failures.push(`${where}: a refund number used twice: ${seqs.join(',')}`);
  if (records.some((x) => !x.done && !released(device, x.seq))) failures.push(`${where}: a refund left in doubt after the wallet came back`);
  // The day totals count each refund record once, live and after a reboot's replay.
  const done = records.filter((x) => x.done).length;
  for (const when of ['live', 'after a reboot']) {
    if (when !== 'live') device.boot();
    const t = device.store.risk.totals.today;
    if (t.payments !== 1 || t.paid !== 3000 || t.refunds !== done || t.refunded !== journaled) {
      failures.push(`${where}: day totals ${when} ${t.payments} paid ${t.paid}, ${t.refunds} refunded ${t.refunded}; the journal: 1 paid 3000, ${done} refunded ${journaled}`);
    }
  }
  return { flashSteps, apdus: link.boundaries, doubted, recovered };
}

function released(device: RefundDevice, seq: number): boolean {
  let found = false;
  device.store.journal.replay(0, (r) => void (r.type === 0x0a && r.payload.length === 4 && ((r.payload[0]! << 24) | (r.payload[1]! << 16) | (r.payload[2]! << 8) | r.payload[3]!) === seq && (found = true)));
  return found;
}

export async function runRefundCampaign(alg: Alg = ALG_P256): Promise<RefundCampaignResult> {
  const result: RefundCampaignResult = { cuts: 0, inDoubt: 0, recovered: 0, failures: [] };
  const clean = await refundRun(alg, undefined, result.failures);
  const cuts: RefundCut[] = [
    ...Array.from({ length: clean.flashSteps }, (_, i) => ({ flash: i })),
    ...Array.from({ length: clean.apdus }, (_, i) => ({ apdu: i })),
  ];
  for (const cut of cuts) {
    result.cuts++;
    const r = await refundRun(alg, cut, result.failures);
    if (r.doubted) result.inDoubt++;
    if (r.recovered) result.recovered++;
  }
  return result;
}

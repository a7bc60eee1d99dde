// The power-cut-in-a-tap campaign (Node: test/in-doubt.test.ts; XS: test/xs/in-doubt.guest.ts). A
// terminal on a NOR flash journal (the device's own TerminalStore) and a wallet; power is cut at every
// step of a tap: inside every flash write and erase, and at every APDU boundary (before the command
// reaches the wallet, after the wallet answered and before the terminal has the answer). Then the
// terminal reboots and the same wallet taps again (which recovers or releases the payment in doubt);
// where a payment stayed in doubt, power is cut again at every step of that second tap too. At the end
// every payment the wallet signed must have exactly one receipt, for that exact request, that verifies
// as settlement would verify it, and no terminal sequence may be used twice. With `bound`, the wallet
// pays from a purpose-bound purse at a grocery: a recovered receipt must also be, byte for byte, the one
// the uncut tap journals (its grant included), so settlement books it to the program. Platform-free.
import { toHex } from '../firmware/base/bytes';
import { Keyring } from '../firmware/core/crypto/keyring';
import { Verifier } from '../firmware/core/crypto/verifier';
import { ALG_P256, type Alg } from '../firmware/core/crypto/verify';
import { VirtualClock, silentLog } from '../firmware/base/platform';
import type { CardLink } from '../firmware/base/ports';
import { decodeCertificate, decodePayRequest } from '../firmware/core/protocol/messages';
import { decodeReceipt, RECORD_RECEIPT } from '../firmware/core/protocol/receipt';
import { verifyReceipt } from '../firmware/core/crypto/receipt';
import { DEFAULT_RISK_CONFIG } from '../firmware/core/risk/config';
import { Terminal, type Effect, type Key } from '../firmware/core/terminal/terminal';
import { RECORD_RISK_DELTA, TerminalStore } from '../firmware/app/state';
import { PowerLossError, RamFlash } from '../host/flash/ram-flash';
import { WalletEmulator } from '../host/wallet/emulator';
import { createIssuer, issueWallet, type Issuer } from '../host/wallet/issuer';
import { seededRandom } from '../host/wallet/random';
import { signGrant } from '../host/wallet/purses';
import { equalBytes } from '../firmware/base/bytes';
import type { MerchantPlace } from '../firmware/core/protocol/purpose';

const NOW = 1_790_000_000;
/** The bound purse's balance: more than the three taps together, so each is paid from it. */
const BOUND_BALANCE = 100_000;
/** The amount of the tap under test (the others are 1250 and 700, the priors under 100). */
const TAP_UNDER_TEST = 3000;
const YEAR = 365 * 86400;

/** Where power dies: inside the n-th mutating flash operation, or at the n-th APDU boundary. */
export type Cut = { flash: number } | { apdu: number } | undefined;

export interface CampaignOptions {
  alg?: Alg;
  /** Payments (and an acknowledgement) before the tap under test, so the tap crosses blocks and reclaims. */
  priors?: number[];
  /** Cut at every step of the second tap too, after a first cut that left a payment in doubt. */
  nested?: boolean;
  /** The wallet under test pays from a bound purse (a food subsidy) at a terminal placed as a grocery. */
  bound?: boolean;
  /**
   * Other riders the risk state remembers first (as a busy gate's): the state checkpoint then spans
   * several records, and the tap's periodic checkpoints are deltas of it (docs/JOURNAL.md).
   */
  crowd?: number;
}

/** Where the bound-purse campaign's terminal is, and what its grant allows. */
export const GROCERY: MerchantPlace = { category: 5411, region: 101 };
export const SUBSIDY_PROGRAM = 'FOOD-2026';

export interface CampaignResult {
  cuts: number;
  /** Cuts after which a payment was in doubt at reboot, and how each ended at the next tap. */
  inDoubt: number;
  outcomes: Record<string, number>;
  /** Payments the wallet signed with no receipt for them: must be 0. */
  lost: number;
  failures: string[];
  /** Runs that ended with a delta checkpoint in the journal (with `crowd`). */
  deltas: number;
}

export class Device {
  readonly flash: RamFlash;
  readonly clock = new VirtualClock({ start: 1000, wallTime: NOW });
  store!: TerminalStore;
  terminal!: Terminal;
  /** Receipts the service acknowledged (they left the journal): what settlement already holds. */
  readonly settled: Uint8Array[] = [];

  constructor(readonly world: World, readonly place?: MerchantPlace, blocks = 10) {
    this.flash = new RamFlash({ blocks, blockLength: 1024, random: world.seeded });
  }

  boot(): void {
    this.flash.powerOn();
    this.store = new TerminalStore({ flash: this.flash, log: silentLog, riskOptions: { config: DEFAULT_RISK_CONFIG, settledAt: NOW - 60 } });
    this.store.journal.open();
    this.store.loadCheckpoint();
    this.terminal = new Terminal({
      mode: 'merchant',
      terminalId: 'T-CUT',
      merchantId: 'M-cut',
      verifier: new Verifier({ keyring: new Keyring([this.world.issuer.key]) }),
      risk: this.store.risk,
      inDoubt: this.store.inDoubt,
      journal: this.store.journal,
      clock: this.clock,
      random: this.world.random,
      log: silentLog,
      ...(this.place ? { place: this.place } : {}),
      // as boot wires it: the periodic checkpoint in the result screen, where a cut may land too
      periodicCheckpoint: (records) => this.store.journal.checkpointAhead(records),
    });
    this.store.replay(this.terminal);
    this.terminal.start();
  }

  async pay(link: CardLink, amount: number): Promise<Effect[]> {
    const out: Effect[] = [];
    for (const key of `${amount}#`) out.push(...(await this.terminal.handle({ type: 'key', key: key as Key })));
    out.push(...(await this.terminal.handle({ type: 'card', link })));
    this.clock.advance(50);
    out.push(...(await this.terminal.handle({ type: 'tick' })));
    this.clock.advance(5000);
    out.push(...(await this.terminal.handle({ type: 'tick' })));
    return out;
  }

  /** The service takes every receipt and acknowledges them (as an upload does). */
  upload(): void {
    const j = this.store.journal;
    for (const r of j.unacknowledged(1000, 1 << 20)) this.settled.push(r.payload);
    if (j.lastAcknowledgeable > j.ackedUpTo) j.acknowledge(j.lastAcknowledgeable);
  }

  /** Every receipt settlement ends up with: those already acknowledged and those still in the journal. */
  receipts(): Uint8Array[] {
    const out = [...this.settled];
    this.store.journal.replay(this.store.journal.ackedUpTo, (r) => {
      if (r.type === RECORD_RECEIPT) out.push(r.payload.slice());
    });
    return out;
  }
}

export class World {
  readonly seeded: () => number;
  readonly random;
  readonly issuer: Issuer;
  constructor(readonly alg: Alg, seed: string) {
    this.random = seededRandom(seed);
    const bytes = this.random(4);
    let s = (bytes[0]! << 24) ^ (bytes[1]! << 16) ^ (bytes[2]! << 8) ^ bytes[3]!;
    this.seeded = () => ((s = (Math.imul(s, 1103515245) + 12345) | 0) >>> 0) / 2 ** 32;
    this.issuer = createIssuer(alg, this.random, { keyId: 1, notBefore: NOW - YEAR, notAfter: NOW + YEAR });
  }
  /** `bound`: the holder pays from purse 1, granted for groceries (free money 1,000,000 all the same). */
  wallet(bound = false): WalletEmulator {
    const issued = issueWallet(this.issuer, this.random, { alg: this.alg, walletClass: 2, notBefore: NOW - 86400, notAfter: NOW + YEAR });
    const purses = bound
      ? [{ grant: signGrant(this.issuer, { walletId: decodeCertificate(issued.certificate).walletId, purse: 1, program: SUBSIDY_PROGRAM, categories: [GROCERY.category], regions: [GROCERY.region], notAfter: NOW + YEAR }), balance: BOUND_BALANCE }]
      : undefined;
    return new WalletEmulator({ profile: 'phone', holderVerified: true, certificate: issued.certificate, secretKey: issued.keys.secretKey, balance: 1_000_000, ...(purses ? { purses, payWith: 1 } : {}) });
  }
}

/** The wallet behind a link that can lose power at an APDU boundary: 2k before command k, 2k+1 after. */
export class CutLink implements CardLink {
  boundaries = 0;
  constructor(readonly wallet: WalletEmulator, readonly flash: RamFlash, readonly cutAt = -1) {}
  async transceive(apdu: Uint8Array): Promise<Uint8Array> {
    this.#boundary();
    const answer = this.wallet.answer(apdu);
    this.#boundary();
    return answer;
  }
  #boundary(): void {
    if (this.boundaries++ === this.cutAt) {
      this.flash.cutPowerNow();
      throw new PowerLossError('power lost between APDUs');
    }
  }
}

interface Tally {
  /** The receipt the uncut tap under test journals: a recovered one must be this, byte for byte. */
  reference?: Uint8Array;
  cuts: number;
  inDoubt: number;
  outcomes: Record<string, number>;
  failures: string[];
  lost: number;
  /** Runs that ended with a delta checkpoint in the journal. */
  deltas?: number;
}

/**
 * One run: priors, then the tap under test (cut at `first`), reboot, the wallet taps again (cut at
 * `second`), reboot, a last tap, then the checks. Returns the number of cut points the tap under test
 * and the second tap had (from a run without cuts there), and whether a payment was in doubt.
 */
async function run(o: Required<CampaignOptions>, seed: string, first: Cut, second: Cut, tally: Tally): Promise<{ flashSteps: number[]; apdus: number[]; doubted: boolean }> {
  const world = new World(o.alg, seed);
  // a checkpoint of several records needs a partition whose quarter holds it (maxValueBytes)
  const device = new Device(world, o.bound ? GROCERY : undefined, o.crowd > 0 ? 24 : 10);
  device.boot();
  // riders of ten days ago: outside the day totals the check counts
  const risk = device.store.risk;
  for (let i = 0; i < o.crowd; i++) {
    risk.record({ walletId: crowdId(i), counter: 5, amount: 1, terminalSeq: 1, time: NOW - 10 * 86400, deferred: false, late: true, offline: false });
  }
  if (o.crowd > 0) device.store.journal.checkpoint();
  const other = world.wallet();
  for (const amount of o.priors) {
    await device.pay(other, amount);
    other.removed();
  }
  if (o.priors.length > 0) device.upload();
  const wallet = world.wallet(o.bound);
  const flashSteps: number[] = [];
  const apdus: number[] = [];
  let doubted = false;
  // The tap under test, then the wallet's next tap, then one more.
  const taps: [number, Cut][] = [[TAP_UNDER_TEST, first], [1250, second], [700, undefined]];
  for (const [i, [amount, cut]] of taps.entries()) {
    const startSteps = device.flash.steps;
    if (cut && 'flash' in cut) device.flash.cutPowerAt(cut.flash);
    const link = new CutLink(wallet, device.flash, cut && 'apdu' in cut ? cut.apdu : -1);
    try {
      const effects = await device.pay(link, amount);
      if (i === 1 && doubted && !device.flash.dead) {
        for (const e of effects) if (e.type === 'recovered') tally.outcomes[e.outcome] = (tally.outcomes[e.outcome] ?? 0) + 1;
      }
    } catch (e) {
      if (!(e instanceof PowerLossError)) throw e;
    }
    wallet.removed();
    flashSteps.push(device.flash.steps - startSteps);
    apdus.push(link.boundaries);
    if (device.flash.dead) {
      device.boot();
      if (i === 0 && device.store.inDoubt.open.length > 0) doubted = true;
    }
  }
  check(world, device, wallet, o.bound, tally, `${seed} first ${JSON.stringify(first)} second ${JSON.stringify(second)}`, o.crowd);
  tally.deltas ??= 0;
  if (device.store.journal.latest(RECORD_RISK_DELTA)) tally.deltas++;
  return { flashSteps, apdus, doubted };
}

/** A remembered rider of the crowd. */
function crowdId(i: number): string {
  return (0xc0de_0000 + i).toString(16).padStart(16, '0');
}

function check(world: World, device: Device, wallet: WalletEmulator, bound: boolean, tally: Tally, where: string, crowd: number): void {
  const stored = device.receipts();
  const receipts = stored.map((bytes) => decodeReceipt(bytes));
  const grant = wallet.purses.choice()?.grant;
  for (const [i, r] of receipts.entries()) {
    if (decodePayRequest(r.request).amount !== TAP_UNDER_TEST) continue;
    // The first run has no cut: its receipt of the tap under test is the reference.
    tally.reference ??= stored[i]!;
    if (!equalBytes(stored[i]!, tally.reference)) tally.failures.push(`${where}: the receipt of the tap under test differs from the uncut tap's`);
  }
  const mine = receipts.filter((r) => decodeCertificate(r.certificate).walletId === wallet.info.walletId);
  if (bound && mine.some((r) => !(r.grant && grant && equalBytes(r.grant, grant)))) {
    tally.failures.push(`${where}: a receipt of the bound purse without its grant`);
  }
  const seqs = new Set<number>();
  const byChallenge = new Map<string, number>();
  for (const r of receipts) {
    if (seqs.has(r.terminalSeq)) tally.failures.push(`${where}: terminal sequence ${r.terminalSeq} used twice`);
    seqs.add(r.terminalSeq);
    const v = verifyReceipt(r, [world.issuer.key], NOW);
    if (!v.ok) tally.failures.push(`${where}: receipt ${r.terminalSeq} does not verify: ${v.reason.code}`);
    const challenge = toHex(decodePayRequest(r.request).challenge);
    byChallenge.set(challenge, (byChallenge.get(challenge) ?? 0) + 1);
  }
  // Every payment the wallet signed (all held: its log is deeper than this run) has one receipt.
  let signedTotal = 0;
  if (wallet.signedLog.length !== wallet.counter) tally.failures.push(`${where}: the wallet's log is not complete`);
  for (const s of wallet.signedLog) {
    const n = byChallenge.get(toHex(s.challenge)) ?? 0;
    if (n === 0) tally.lost++;
    if (n > 1) tally.failures.push(`${where}: payment ${s.counter} has ${n} receipts`);
  }
  const debited = 1_000_000 - wallet.balance + (bound ? BOUND_BALANCE - wallet.purses.balances[0]!.balance : 0);
  for (const r of receipts) {
    const req = decodePayRequest(r.request);
    if (wallet.signedLog.some((s) => toHex(s.challenge) === toHex(req.challenge))) signedTotal += req.amount;
  }
  if (signedTotal !== debited) tally.failures.push(`${where}: wallet debited ${debited}, receipts for it ${signedTotal}`);
  if (device.store.inDoubt.open.some((i) => i.walletId === wallet.info.walletId)) tally.failures.push(`${where}: an intent of the wallet still open after its next taps`);
  // The day totals count each receipt once (a recovered one when it became a receipt), live and after a reboot.
  const paid = receipts.reduce((n, r) => n + decodePayRequest(r.request).amount, 0);
  for (const when of ['live', 'after a reboot']) {
    if (when !== 'live') device.boot();
    const t = device.store.risk.totals.today;
    if (t.payments !== receipts.length || t.paid !== paid) tally.failures.push(`${where}: day totals ${when} ${t.payments} paid ${t.paid}, receipts ${receipts.length} of ${paid}`);
    // the crowd came back through the full checkpoint and its deltas, the wallet's counter through the newest
    for (let i = 0; i < crowd; i++) if (device.store.risk.counterOf(crowdId(i)) !== 5) tally.failures.push(`${where}: rider ${i} of the crowd forgotten ${when}`);
    if (device.store.risk.counterOf(wallet.info.walletId) !== wallet.counter) tally.failures.push(`${where}: the wallet's counter ${when} ${device.store.risk.counterOf(wallet.info.walletId)}, its own ${wallet.counter}`);
  }
}

/** Cut points of a tap, from a run without cuts: each flash step and each APDU boundary. */
function cutsOf(flashSteps: number, apdus: number): Cut[] {
  return [...Array.from({ length: flashSteps }, (_, i) => ({ flash: i })), ...Array.from({ length: apdus }, (_, i) => ({ apdu: i }))];
}

export async function runCampaign(options: CampaignOptions = {}): Promise<CampaignResult> {
  const o: Required<CampaignOptions> = { alg: options.alg ?? ALG_P256, priors: options.priors ?? [], nested: options.nested ?? true, bound: options.bound ?? false, crowd: options.crowd ?? 0 };
  const tally: Tally = { cuts: 0, inDoubt: 0, outcomes: {}, failures: [], lost: 0 };
  const seed = `in-doubt ${o.priors.join(',')}${o.bound ? ' bound' : ''}${o.crowd ? ` crowd ${o.crowd}` : ''}`;
  const clean = await run(o, seed, undefined, undefined, tally);
  if (!tally.reference) tally.failures.push('the uncut tap under test journaled no receipt');
  for (const first of cutsOf(clean.flashSteps[0]!, clean.apdus[0]!)) {
    tally.cuts++;
    const r = await run(o, seed, first, undefined, tally);
    if (!r.doubted) continue;
    tally.inDoubt++;
    if (!o.nested) continue;
    // The next tap recovers the payment: cut at every step of that one as well.
    for (const second of cutsOf(r.flashSteps[1]!, r.apdus[1]!)) {
      tally.cuts++;
      await run(o, seed, first, second, tally);
    }
  }
  return { ...tally, deltas: tally.deltas ?? 0 };
}

/**
 * For the bench: a terminal whose last payment by `wallet` lost its PAY answer after the wallet signed
 * (in doubt), or (`inDoubt` false) a terminal that saw the same payment approved. The next tap is measured.
 * `bound`: the wallet pays from its purpose-bound purse at a grocery.
 */
export async function recoveryWorld(alg: Alg, inDoubt: boolean, bound = false): Promise<{ next: () => Promise<string> }> {
  const world = new World(alg, 'recovery bench');
  const device = new Device(world, bound ? GROCERY : undefined);
  device.boot();
  const wallet = world.wallet(bound);
  const lossy: CardLink = {
    transceive: async (apdu) => {
      const answer = wallet.answer(apdu);
      if (inDoubt && apdu[1] === 0x30) throw new PowerLossError('answer lost');
      return answer;
    },
  };
  await device.pay(lossy, 3000);
  wallet.removed();
  return {
    next: async () => {
      const effects = await device.pay(wallet, 1250);
      wallet.removed();
      const recovered = effects.find((e) => e.type === 'recovered');
      return recovered?.type === 'recovered' ? recovered.outcome : 'none';
    },
  };
}

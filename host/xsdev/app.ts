// The device app as the device-sized host runs it (host/xsdev/device-host.ts): what firmware/app/main.ts
// does on the ESP32, over the host's stand-ins for the Moddable parts (flash partitions, ticks, no
// reader: the wallet's answers arrive recorded). It takes everything firmware from the device bundle it
// is given, never from source, so on XS it runs the exact build/device/tapline.js the manifests flash.
// Platform-free: on Node (with the bundle's sources) it records the wallet exchanges that XS replays.
import type * as Bundle from '../../firmware/app/bundle';
import type { PartitionFlash } from '../../firmware/app/device-storage';
import type { Booted } from '../../firmware/app/boot';
import type { NativePrimitives } from '../../firmware/app/native';
import type { CardLink } from '../../firmware/base/ports';
import type { Alg } from '../../firmware/core/crypto/verify';
import { Profile } from './profile';

export type Tapline = typeof Bundle;

export interface DeviceAppEnv {
  tapline: Tapline;
  /** An erased partition of `size` bytes in 4 KB blocks (the host's flash, outside the XS heap). */
  partition(size: number): PartitionFlash;
  /** Bytes programmed, erased (and, where the host counts them, read) so far on a partition made by `partition`. */
  flashCounters(partition: PartitionFlash): { programmed: number; erased: number; read?: number };
  native?: NativePrimitives;
  /** Where a tap's APDUs go when no recorded exchange is given (Node: the wallet emulator). */
  wallet?: CardLink;
  /** Computrons so far (xsdevMeter): with it, a boot may ask for the probes of `profileTap`. */
  meter?: () => number;
  /** Host milliseconds (for the boot's stamps). */
  now?: () => number;
}

export interface BootArgs {
  provisioning: string;
  journalBytes: number;
  native: boolean;
  wallTime: number;
  /** Transit: check signatures before the gate opens (default: boot's choice). */
  verifyBeforeOpen?: boolean;
  /** Put probes on the parts of a tap, for profileTap (they cost a little, so measured runs go without). */
  profile?: boolean;
  /** Boot on the journal partition of the previous boot (a reboot), not on an erased one. */
  reuseJournal?: boolean;
}

export interface BootReply {
  logs: string[];
  selfTest: Booted['selfTest'];
  /** With a meter: the computrons spent up to each log line, so boot's steps can be told apart. */
  stamps?: number[];
  /** The host milliseconds up to each log line. */
  stampsMs?: number[];
  /**
   * With a meter: each turn of the event loop boot took (it ends where boot sets a timer, where the
   * device returns to the event loop and feeds the watchdog), in computrons and host milliseconds.
   */
  turns?: Array<{ computrons: number; hostMs: number }>;
}

export interface TapProfile {
  outcome: string;
  total: number;
  parts: Array<{ part: string; computrons: number; calls: number }>;
}

export interface TapReply {
  outcome: string;
  deferred: boolean | undefined;
  journalBytesProgrammed: number;
  /** What the wallet answered, by command (hex), when the tap went to a live wallet. */
  recorded?: Record<string, string>;
}

export interface HashInput {
  hex: string;
  /** Ascending offsets where the input is cut into parts for SHA-256. */
  cuts: number[];
  /** The CRC-32's range. */
  start: number;
  end: number;
}

export interface HashOutput {
  sha256: string;
  sha256Js: string;
  crc32: number;
  crc32Js: number;
  /** The input as a journal block header: [valid (1/0), epoch, first sequence], native and by the reference. */
  header: number[];
  headerJs: number[];
}

function asHeader(port: { blockHeader?(bytes: Uint8Array, out: Uint32Array): boolean }, bytes: Uint8Array): number[] {
  const out = new Uint32Array(2);
  return port.blockHeader!(bytes, out) ? [1, out[0]!, out[1]!] : [0, 0, 0];
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A random source that repeats exactly, so Node's recording and XS's replay send the same APDUs. */
function repeatableRandom(seed: number): (length: number) => Uint8Array {
  let state = seed >>> 0;
  return (length) => {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      out[i] = state >>> 24;
    }
    return out;
  };
}

export class DeviceApp {
  readonly #env: DeviceAppEnv;
  #ticks = 1000;
  #boots = 0;
  #booted: Booted | undefined;
  #clock: InstanceType<Tapline['TicksClock']> | undefined;
  #online: InstanceType<Tapline['Online']> | undefined;
  #journal: PartitionFlash | undefined;
  /** The recorded wallet answers, as bytes, by command: set before the taps so a tap only looks them up. */
  #exchange: Array<[Uint8Array, Uint8Array]> | undefined;
  #profile: Profile | undefined;
  readonly logs: string[] = [];

  constructor(env: DeviceAppEnv) {
    this.#env = env;
  }

  async boot(a: BootArgs): Promise<BootReply> {
    const t = this.#env.tapline;
    const meter = this.#env.meter;
    const now = this.#env.now;
    const turnEnds: Array<[number, number]> = [];
    const clock = new t.TicksClock({
      ticks: () => this.#ticks,
      setTimer: (callback, ms) => {
        if (meter && now) turnEnds.push([meter(), now()]);
        this.#ticks += ms;
        void Promise.resolve().then(callback);
      },
    });
    clock.setWallTime(a.wallTime);
    this.#clock = clock;
    if (!(a.reuseJournal && this.#journal)) this.#journal = this.#env.partition(a.journalBytes);
    const provision = this.#env.partition(64 * 1024);
    provision.write(t.utf8Encode(a.provisioning), 0);
    const journalFlash = new t.PartitionAdapter(this.#journal);
    t.checkJournalPartition(journalFlash);
    this.logs.length = 0;
    const stamps: number[] = [];
    const stampsMs: number[] = [];
    const started = meter?.() ?? 0;
    const startedMs = now?.() ?? 0;
    const profile = (this.#profile = a.profile && meter ? new Profile(meter) : undefined);
    let verify = a.native && this.#env.native ? t.nativeVerify(this.#env.native) : undefined;
    let hashes = a.native && this.#env.native ? t.nativeHashes(this.#env.native) : undefined;
    if (profile && verify) verify = profile.probe('verify', verify);
    if (profile && hashes) hashes = { sha256: profile.probe('sha256', hashes.sha256), crc32: profile.probe('crc32', hashes.crc32) };
    this.#booted = await t.boot({
      clock,
      // Another seed each boot, as a device's random source is: a reboot does not repeat its challenges.
      random: repeatableRandom(0x7a91 + this.#boots++),
      log: (level, tag, message) => {
        if (meter) stamps.push(meter() - started);
        if (now) stampsMs.push(now() - startedMs);
        this.logs.push(`[${level}] ${tag}: ${message}`);
      },
      provisioningText: () => t.readProvisioningText(new t.PartitionAdapter(provision)),
      journalFlash,
      verify,
      hashes,
      openReader: () => {
        throw new Error('the wallet exchange is replayed, no reader');
      },
      readerAttempts: 1,
      verifyBeforeOpen: a.verifyBeforeOpen,
      show: () => {},
    });
    this.#booted.terminal.start();
    if (profile) {
      const b = this.#booted;
      profile.probeMethods('journal', b.journal, ['append', 'canAppend']);
      profile.probeMethods('risk', b.risk, ['assess', 'checkResponse', 'record', 'counterOf', 'observeTime']);
      profile.probeMethods('certificate cache', b.verifier, ['precheck', 'isVerified', 'verifySignature', 'checkPayment']);
    }
    let turns: BootReply['turns'];
    if (meter && now) {
      turnEnds.push([meter(), now()]);
      let [c0, m0] = [started, startedMs];
      turns = turnEnds.filter(([c]) => c >= started).map(([c, m]) => {
        const turn = { computrons: c - c0, hostMs: m - m0 };
        [c0, m0] = [c, m];
        return turn;
      });
    }
    return { logs: this.logs.slice(), selfTest: this.#booted.selfTest, stamps: meter ? stamps : undefined, stampsMs: now ? stampsMs : undefined, turns };
  }

  /**
   * Power off: the RAM state goes (the terminal, its journal object), the flash stays; the next boot
   * (reboot) starts from the flash alone, as the device does, not beside the old state.
   */
  powerOff(): void {
    this.#booted = undefined;
    this.#online = undefined;
    this.#profile = undefined;
  }

  /**
   * The online side as firmware/app/main.ts starts it after boot: its update store loads what the
   * journal keeps (the deny list among it) and hands it to the terminal. Its transport never connects.
   * With `denySnapshot` (hex), that applied deny list is journaled first, as an applied update leaves it.
   */
  online(a: { denySnapshot?: string }): { deniedWallets: number; denyListVersion: number } {
    const t = this.#env.tapline;
    const booted = this.#booted;
    if (!booted || !this.#clock) throw new Error('not booted');
    if (a.denySnapshot) booted.journal.appendSync(t.RECORD_DENY_LIST, t.fromHex(a.denySnapshot));
    this.#online = new t.Online({
      booted,
      transport: { post: () => Promise.reject(new Error('no network on this host')) },
      clock: this.#clock,
      random: repeatableRandom(0x51),
      log: (level, tag, message) => void this.logs.push(`[${level}] ${tag}: ${message}`),
    });
    return { deniedWallets: booted.risk.deniedWallets, denyListVersion: this.#online.store.versions.denyListVersion };
  }

  /** Bytes read from the journal partition so far (where the host counts them). */
  journalBytesRead(): number {
    return this.#journal ? (this.#env.flashCounters(this.#journal).read ?? 0) : 0;
  }

  /**
   * Fills the journal with copies of its first receipt, as a terminal that took payments offline until
   * the journal refused more (the periodic checkpoints included, as the journal writes them). With
   * `replayAtMost` (the terminal's checkpoint cadence), it then takes receipts until the next one would
   * first write a checkpoint: the most a boot replays, its worst case (leave free blocks for them).
   * With `wallets`, the risk state first remembers that many more wallets (one payment of 1 each, as
   * from other riders), so that every checkpoint the fill writes carries them (a many-part checkpoint).
   * With `changedWallets`, before the last records that many riders pay again, half of them new (the
   * table forgets as many): the checkpoint before those records is then a delta of that many wallets.
   */
  fill(o: { leaveFreeBlocks?: number; replayAtMost?: number; wallets?: number; changedWallets?: number } = {}): { records: number; usedBlocks: number; blocks: number; afterCheckpoint: number } {
    const journal = this.#booted?.journal;
    if (!journal) throw new Error('not booted');
    const receipt = journal.unacknowledged(1, 4096)[0];
    if (!receipt) throw new Error('no receipt to copy: tap first');
    const risk = this.#booted!.risk;
    for (let i = 0; i < (o.wallets ?? 0); i++) {
      const walletId = (0xf000_0000 + i).toString(16).padStart(16, '0');
      risk.record({ walletId, counter: 1, amount: 1, terminalSeq: 1, time: risk.lastKnownTime, deferred: false, late: true, offline: false });
    }
    let records = 0;
    // With leaveFreeBlocks: stop while that many blocks are still free (room for a few more payments).
    while (journal.canAppend(receipt.payload.length) && journal.usage.freeBlocks > (o.leaveFreeBlocks ?? 0)) {
      journal.appendSync(receipt.type, receipt.payload);
      records++;
    }
    for (let i = 0; i < (o.changedWallets ?? 0); i++) {
      const walletId = (i % 2 === 0 ? 0xf000_0000 + 500 + i : 0xf100_0000 + i).toString(16).padStart(16, '0');
      risk.record({ walletId, counter: 2, amount: 1, terminalSeq: 1, time: risk.lastKnownTime, deferred: false, late: true, offline: false });
    }
    // no record says those payments (the fill's receipts are copies): a checkpoint does, as after a tap's
    if (o.changedWallets) journal.checkpoint();
    const afterCheckpoint = () => journal.lastSeq - journal.lastCheckpointSeq;
    while (o.replayAtMost !== undefined && afterCheckpoint() < o.replayAtMost) {
      if (!journal.canAppend(receipt.payload.length)) throw new Error(`the journal filled ${afterCheckpoint()} records after its checkpoint: leave more blocks free`);
      journal.appendSync(receipt.type, receipt.payload);
      records++;
    }
    return { records, ...journal.usage, afterCheckpoint: afterCheckpoint() };
  }

  async keys(text: string): Promise<void> {
    for (const key of text) await this.#terminal().handle({ type: 'key', key: key as never });
  }

  /** One card event: the terminal's whole handling of the tap, its journal append included. */
  /** The wallet's recorded answers for the taps that follow (decoded here, outside the taps' figures). */
  replay(exchange: Record<string, string>): void {
    const t = this.#env.tapline;
    this.#exchange = Object.entries(exchange).map(([command, answer]) => [t.fromHex(command), t.fromHex(answer)]);
  }

  /** A tap (as `tap`) with the probes boot put on: its computrons by part. */
  async profileTap(): Promise<TapProfile> {
    const profile = this.#profile;
    if (!profile) throw new Error('boot without profile: true');
    const r = await profile.run('terminal, TLV codecs, in-doubt', () => this.tap());
    return { outcome: r.value.outcome, total: r.total, parts: r.parts };
  }

  async tap(): Promise<TapReply> {
    const t = this.#env.tapline;
    const before = this.#env.flashCounters(this.#journal!).programmed;
    let link: CardLink;
    let recorded: Record<string, string> | undefined;
    const replay = this.#exchange;
    if (replay) {
      link = {
        transceive: async (apdu) => {
          for (const [command, answer] of replay) if (sameBytes(command, apdu)) return answer;
          throw new Error(`no recorded answer to ${t.toHex(apdu)}`);
        },
      };
    } else {
      const wallet = this.#env.wallet;
      if (!wallet) throw new Error('no wallet and no recorded exchange');
      const answers: Record<string, string> = {};
      recorded = answers;
      link = {
        transceive: async (apdu) => {
          const answer = await wallet.transceive(apdu);
          answers[t.toHex(apdu)] = t.toHex(answer);
          return answer;
        },
      };
    }
    if (this.#profile) link = { transceive: this.#profile.probe('APDU replay', link.transceive) };
    const effects = await this.#terminal().handle({ type: 'card', link });
    let outcome = 'none';
    let deferred: boolean | undefined;
    for (const e of effects) {
      if (e.type !== 'outcome') continue;
      outcome = e.approved ? 'approved' : e.decline.code;
      deferred = e.approved ? e.deferred : undefined;
    }
    return { outcome, deferred, journalBytesProgrammed: this.#env.flashCounters(this.#journal!).programmed - before, recorded };
  }

  /** Lets `ms` pass with the card gone: the result screen ends, deferred checks run in idle time. */
  async idle(ms: number): Promise<{ verified: number; failed: number }> {
    const terminal = this.#terminal();
    await terminal.handle({ type: 'card-removed' });
    this.#ticks += ms;
    let verified = 0;
    let failed = 0;
    for (let i = 0; i < 4; i++) {
      for (const e of await terminal.handle({ type: 'tick' })) {
        if (e.type === 'verified') e.ok ? verified++ : failed++;
      }
    }
    return { verified, failed };
  }

  /** Each case through noble and the native verifier: [reference, native]. */
  verify(cases: Array<{ alg: Alg; publicKey: string; message: string; signature: string }>): Array<[boolean, boolean]> {
    const t = this.#env.tapline;
    const native = t.nativeVerify(this.#nativePrimitives());
    return cases.map((c) => {
      const args = [c.alg, t.fromHex(c.publicKey), t.fromHex(c.message), t.fromHex(c.signature)] as const;
      return [t.verifySignature(...args), native(...args)];
    });
  }

  /**
   * SHA-256 (of the input cut into parts at `cuts`), CRC-32 (of bytes[start..end)) and the block
   * header check of each input, native and by the JavaScript reference, both in XS: compared on the
   * host with node:crypto and zlib.
   */
  hashes(inputs: HashInput[]): HashOutput[] {
    const t = this.#env.tapline;
    const native = t.nativeHashes(this.#nativePrimitives());
    const reference = t.referenceHashes();
    return inputs.map((c) => {
      const bytes = t.fromHex(c.hex);
      const parts: Uint8Array[] = [];
      let from = 0;
      for (const cut of [...c.cuts, bytes.length]) {
        parts.push(bytes.subarray(from, cut));
        from = cut;
      }
      return {
        sha256: t.toHex(native.sha256(parts)),
        sha256Js: t.toHex(reference.sha256(parts)),
        crc32: native.crc32(bytes, c.start, c.end),
        crc32Js: reference.crc32(bytes, c.start, c.end),
        header: asHeader(native, bytes),
        headerJs: asHeader(reference, bytes),
      };
    });
  }

  #nativePrimitives(): NativePrimitives {
    if (!this.#env.native) throw new Error('no native primitives on this host');
    return this.#env.native;
  }

  #terminal(): Booted['terminal'] {
    if (!this.#booted) throw new Error('not booted');
    return this.#booted.terminal;
  }
}

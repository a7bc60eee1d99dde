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

export type Tapline = typeof Bundle;

export interface DeviceAppEnv {
  tapline: Tapline;
  /** An erased partition of `size` bytes in 4 KB blocks (the host's flash, outside the XS heap). */
  partition(size: number): PartitionFlash;
  /** Bytes programmed and erased so far on a partition made by `partition`. */
  flashCounters(partition: PartitionFlash): { programmed: number; erased: number };
  native?: NativePrimitives;
  /** Where a tap's APDUs go when no recorded exchange is given (Node: the wallet emulator). */
  wallet?: CardLink;
}

export interface BootArgs {
  provisioning: string;
  journalBytes: number;
  native: boolean;
  wallTime: number;
  /** Transit: check signatures before the gate opens (default: boot's choice). */
  verifyBeforeOpen?: boolean;
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
  #booted: Booted | undefined;
  #journal: PartitionFlash | undefined;
  readonly logs: string[] = [];

  constructor(env: DeviceAppEnv) {
    this.#env = env;
  }

  async boot(a: BootArgs): Promise<{ logs: string[]; selfTest: Booted['selfTest'] }> {
    const t = this.#env.tapline;
    const clock = new t.TicksClock({
      ticks: () => this.#ticks,
      setTimer: (callback, ms) => {
        this.#ticks += ms;
        void Promise.resolve().then(callback);
      },
    });
    clock.setWallTime(a.wallTime);
    this.#journal = this.#env.partition(a.journalBytes);
    const provision = this.#env.partition(64 * 1024);
    provision.write(t.utf8Encode(a.provisioning), 0);
    const journalFlash = new t.PartitionAdapter(this.#journal);
    t.checkJournalPartition(journalFlash);
    this.logs.length = 0;
    this.#booted = await t.boot({
      clock,
      random: repeatableRandom(0x7a91),
      log: (level, tag, message) => void this.logs.push(`[${level}] ${tag}: ${message}`),
      provisioningText: () => t.readProvisioningText(new t.PartitionAdapter(provision)),
      journalFlash,
      verify: a.native && this.#env.native ? t.nativeVerify(this.#env.native) : undefined,
      hashes: a.native && this.#env.native ? t.nativeHashes(this.#env.native) : undefined,
      openReader: () => {
        throw new Error('the wallet exchange is replayed, no reader');
      },
      readerAttempts: 1,
      verifyBeforeOpen: a.verifyBeforeOpen,
      show: () => {},
    });
    this.#booted.terminal.start();
    return { logs: this.logs.slice(), selfTest: this.#booted.selfTest };
  }

  async keys(text: string): Promise<void> {
    for (const key of text) await this.#terminal().handle({ type: 'key', key: key as never });
  }

  /** One card event: the terminal's whole handling of the tap, its journal append included. */
  async tap(exchange?: Record<string, string>): Promise<TapReply> {
    const t = this.#env.tapline;
    const before = this.#env.flashCounters(this.#journal!).programmed;
    let link: CardLink;
    let recorded: Record<string, string> | undefined;
    if (exchange) {
      link = {
        transceive: async (apdu) => {
          const answer = exchange[t.toHex(apdu)];
          if (answer === undefined) throw new Error(`no recorded answer to ${t.toHex(apdu)}`);
          return t.fromHex(answer);
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
   * SHA-256 (of the input cut into parts at `cuts`) and CRC-32 (of bytes[start..end)) of each input,
   * native and by the JavaScript reference, both in XS: compared on the host with node:crypto and zlib.
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

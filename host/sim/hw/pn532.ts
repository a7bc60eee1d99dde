// A PN532 at the bus level: it takes the bytes the real chip takes on I2C, SPI or HSU, parses the
// host's frames with the driver's own codec, answers ACK then the response, and hosts emulated ISO/IEC
// 14443-4 targets. Platform-free, so it runs beside the driver in XS. Misbehaviour is switched on
// through `faults`.
import { concatBytes, toHex, xorByte } from '../../../firmware/base/bytes';
import type { Clock, Log } from '../../../firmware/base/platform';
import { silentLog } from '../../../firmware/base/platform';
import { ACK_FRAME, encodeFrame, ERROR_FRAME, FrameParser, HOST_TO_PN532, MAX_FRAME_DATA_BYTES, PN532_TO_HOST } from '../../../drivers/pn532/frame';
import { prng } from './prng';
import { reverseBits, SPI_DATA_READ, SPI_DATA_WRITE, SPI_STATUS_READ } from '../../../drivers/pn532/transport';

/** Anything that answers APDUs like a card: the wallet emulator, a test card. */
export interface ApduTarget {
  transceive(apdu: Uint8Array): Promise<Uint8Array> | Uint8Array;
  /** A reader has activated it (anticollision, select, RATS). */
  activated?(): void;
  /** The reader let it go: deselected or released it, cut the field, or it left the field. */
  released?(): void;
}

/** What the target says when it is activated (ISO/IEC 14443-3 and the ATS of 14443-4). */
export interface TargetIdentity {
  uid: Uint8Array;
  sensRes: number;
  selRes: number;
  ats: Uint8Array;
}

export const DEFAULT_IDENTITY: TargetIdentity = {
  uid: Uint8Array.of(0x08, 0x12, 0x34, 0x56),
  sensRes: 0x0004,
  selRes: 0x20,
  ats: Uint8Array.of(0x05, 0x78, 0x80, 0x70, 0x02),
};

export interface Faults {
  /** Takes bytes and never answers (firmware hung). */
  silent: boolean;
  /** Extra milliseconds before every response. */
  delayMs: number;
  /** The next n response frames (resends included) go out with a byte flipped. */
  corruptResponses: number;
  /** The next n frames out (ACK or response) lose a byte in the middle. */
  dropBytes: number;
  /** The next n commands get no ACK (as if the command was lost on the line). */
  loseCommands: number;
  /** Bytes put on the bus ahead of the next frame. */
  garbage: Uint8Array | undefined;
  /** The next n commands are answered with the error frame after the ACK. */
  errorFrames: number;
  /** The card leaves the field when the n-th next InDataExchange reaches it (1 = the next one). */
  removeCardOnExchange: number;
  /** A noisy line: the chance that a frame, in either direction, has a byte flipped or lost. */
  noise: number;
  /** Milliseconds a target takes to activate (anticollision, select and RATS): a slow card, a phone. */
  activationMs: number;
  /**
   * Milliseconds the chip takes to act on the host's abort: an answer ready within this time still goes
   * out, after the abort (a real chip's late response).
   */
  abortLagMs: number;
  /** The status InDataExchange answers once the card has left: 0x01 (RF timeout) or 0x27 (no target). */
  removalStatus: number;
}

export interface SimPN532Options {
  clock: Clock;
  log?: Log;
  /** Milliseconds from a command to its response (the card's own time comes on top). */
  responseMs?: number;
  /** Largest DataIn the chip returns in one frame before chaining with MI (262 at most). */
  maxDataInBytes?: number;
  /** Milliseconds an unanswered InDataExchange waits before status 0x01 (the RTO). */
  rfTimeoutMs?: number;
  /** Seed of the line noise (faults.noise). */
  seed?: number;
}

interface Output {
  bytes: Uint8Array;
  readyAt: number;
  /** Bytes already clocked out (SPI reads a frame in pieces). */
  at: number;
  /** The answer to a command the host has aborted, already on its way (faults.abortLagMs). */
  late?: boolean;
}

type Power = 'asleep' | 'waking' | 'on';

export class SimPN532 {
  readonly faults: Faults = {
    silent: false,
    delayMs: 0,
    corruptResponses: 0,
    dropBytes: 0,
    loseCommands: 0,
    garbage: undefined,
    errorFrames: 0,
    removeCardOnExchange: 0,
    noise: 0,
    activationMs: 0,
    abortLagMs: 0,
    removalStatus: 0x01,
  };
  /** Every command the chip accepted, as `code params` hex, for tests to read. */
  readonly commands: string[] = [];
  /** ACK frames from the host: the commands it aborted (a search cancelled, say). */
  aborts = 0;
  private readonly clock: Clock;
  private readonly log: Log;
  private readonly responseMs: number;
  private readonly maxDataInBytes: number;
  private readonly rfTimeoutMs: number;
  private readonly parser = new FrameParser(MAX_FRAME_DATA_BYTES * 2 + 32);
  private readonly random: () => number;
  private readonly output: Output[] = [];
  private lastResponse: Uint8Array | undefined;
  private generation = 0;
  /** An aborted command whose answer may still go out until `lateUntil` (faults.abortLagMs). */
  private lateGeneration = -1;
  private lateUntil = 0;
  private power: Power = 'on';
  private wakeBytes = 0;
  private needsSam = false;
  private autoRats = true;
  private field = false;
  private passiveRetries = 0xff;
  private card: { target: ApduTarget; identity: TargetIdentity } | undefined;
  private activeTg = 0;
  /**
   * The card's ISO/IEC 14443-3 state: `halt` after a deselect or release, when REQA no longer wakes it
   * (this is how libnfc enumerates several cards); only a field reset or a new entry makes it idle.
   */
  private cardState: 'idle' | 'active' | 'halt' = 'idle';
  /** The chip's registers that the host may read and write (CIU and the SFRs libnfc touches). */
  private readonly registers = new Map<number, number>(REGISTER_RESET);
  private cardWaiter: (() => void) | undefined;
  private chainedOut: Uint8Array[] = [];
  private pendingIn: Uint8Array | undefined;
  private uartOut: number[] = [];
  /** The reader whose field this chip's antenna is in (card emulation). */
  private reader: SimPN532 | undefined;
  /** SetParameters fISO14443-4_PICC: the chip itself speaks ISO-DEP as a card. */
  private piccParam = false;
  /** Card emulation in progress (TgInitAsTarget was called and the reader has not released the card yet). */
  private picc: Picc | undefined;
  /** Time the running command spends in the field on top of responseMs (a slow activation). */
  private answerDelayMs = 0;

  constructor(options: SimPN532Options) {
    this.clock = options.clock;
    this.log = options.log ?? silentLog;
    this.responseMs = options.responseMs ?? 2;
    this.maxDataInBytes = Math.min(options.maxDataInBytes ?? 252, MAX_FRAME_DATA_BYTES - 3);
    this.rfTimeoutMs = options.rfTimeoutMs ?? 50;
    this.random = prng(options.seed ?? 1);
  }

  // ---- the card side ----

  /** Puts a target in the field. */
  placeCard(target: ApduTarget, identity: Partial<TargetIdentity> = {}): void {
    this.card = { target, identity: { ...DEFAULT_IDENTITY, ...identity } };
    this.activeTg = 0;
    this.cardState = 'idle';
    const waiter = this.cardWaiter;
    this.cardWaiter = undefined;
    waiter?.();
  }

  removeCard(): void {
    const card = this.card;
    this.card = undefined;
    this.activeTg = 0;
    card?.target.released?.();
  }

  /**
   * Puts this chip's antenna in `reader`'s field: once its host calls TgInitAsTarget, it is a card
   * `reader` can find (card emulation, UM0701-02 7.3.14).
   */
  holdTo(reader: SimPN532): void {
    this.reader = reader;
  }

  get cardPresent(): boolean {
    return this.card !== undefined;
  }

  /** The power-up state of the HSU interface: asleep until woken with 0x55 and set up with SAMConfiguration. */
  powerUpAsleep(): void {
    this.power = 'asleep';
    this.needsSam = true;
  }

  // ---- the host interfaces ----

  /** An I2C write transaction addressed to the chip. */
  i2cWrite(bytes: Uint8Array): void {
    if (this.power !== 'on') this.power = 'on';
    this.fromHost(bytes);
  }

  /** An I2C read transaction: status byte, then (if ready) the frame; reading past the status takes the frame. */
  i2cRead(count: number): Uint8Array {
    const out = new Uint8Array(count);
    const frame = this.readyOutput();
    if (!frame || count === 0) return out;
    out[0] = 0x01;
    if (count > 1) {
      out.set(frame.bytes.subarray(0, count - 1), 1);
      this.output.shift();
    }
    return out;
  }

  /** One SPI transaction as the wire carries it (bytes bit-reversed for the chip's LSB-first port). */
  spiTransfer(wire: Uint8Array): Uint8Array {
    const miso = new Uint8Array(wire.length);
    if (wire.length === 0) return miso;
    const prefix = reverseBits(wire[0]!);
    if (prefix === SPI_DATA_WRITE) {
      const bytes = new Uint8Array(wire.length - 1);
      for (let i = 0; i < bytes.length; i++) bytes[i] = reverseBits(wire[i + 1]!);
      if (this.power !== 'on') this.power = 'on';
      this.fromHost(bytes);
    } else if (prefix === SPI_STATUS_READ) {
      if (wire.length > 1) miso[1] = reverseBits(this.readyOutput() ? 0x01 : 0x00);
    } else if (prefix === SPI_DATA_READ) {
      const frame = this.readyOutput();
      for (let i = 1; i < wire.length && frame; i++) {
        miso[i] = reverseBits(frame.bytes[frame.at++] ?? 0);
        if (frame.at >= frame.bytes.length) {
          this.output.shift();
          break;
        }
      }
    } else {
      this.log('debug', 'sim-pn532', `spi: unknown prefix 0x${prefix.toString(16)} (bit order?)`);
    }
    return miso;
  }

  /** Bytes the host sends on the HSU line. */
  uartWrite(bytes: Uint8Array): void {
    let start = 0;
    while (this.power !== 'on' && start < bytes.length) {
      const byte = bytes[start++]!;
      if (this.power === 'waking') {
        // the oscillator needs about a millisecond: what arrives meanwhile is lost
        if (++this.wakeBytes >= 12) this.power = 'on';
      } else if (byte === 0x55) {
        this.power = 'waking';
        this.wakeBytes = 0;
      }
    }
    if (start < bytes.length) this.fromHost(bytes.subarray(start));
  }

  /** Bytes the chip has put on the HSU line so far. */
  uartRead(): Uint8Array | undefined {
    for (let frame = this.readyOutput(); frame; frame = this.readyOutput()) {
      for (let i = frame.at; i < frame.bytes.length; i++) this.uartOut.push(frame.bytes[i]!);
      this.output.shift();
    }
    if (this.uartOut.length === 0) return undefined;
    const out = Uint8Array.from(this.uartOut);
    this.uartOut = [];
    return out;
  }

  // ---- the chip ----

  private readyOutput(): Output | undefined {
    if (this.faults.silent) return undefined;
    const first = this.output[0];
    return first && this.clock.now() >= first.readyAt ? first : undefined;
  }

  /** Queues a frame out; line faults hit responses and their resends alike. */
  private send(frame: Uint8Array, delayMs: number, kind: 'ack' | 'response' | 'resend'): void {
    let bytes = frame;
    if (kind === 'response') this.lastResponse = frame;
    if (kind !== 'ack' && this.faults.corruptResponses > 0) {
      this.faults.corruptResponses--;
      bytes = frame.slice();
      xorByte(bytes, bytes.length - 3, 0x5a);
    }
    if (this.faults.dropBytes > 0) {
      this.faults.dropBytes--;
      const cut = bytes.length >> 1;
      const shorter = new Uint8Array(bytes.length - 1);
      shorter.set(bytes.subarray(0, cut));
      shorter.set(bytes.subarray(cut + 1), cut);
      bytes = shorter;
    }
    bytes = this.disturb(bytes);
    if (this.faults.garbage) {
      const noisy = new Uint8Array(this.faults.garbage.length + bytes.length);
      noisy.set(this.faults.garbage);
      noisy.set(bytes, this.faults.garbage.length);
      this.faults.garbage = undefined;
      bytes = noisy;
    }
    this.output.push({ bytes, readyAt: this.clock.now() + delayMs, at: 0 });
  }

  /** Line noise: maybe flips or loses one byte. */
  private disturb(bytes: Uint8Array): Uint8Array {
    if (this.faults.noise <= 0 || this.random() >= this.faults.noise || bytes.length === 0) return bytes;
    const at = Math.floor(this.random() * bytes.length);
    if (this.random() < 0.5) {
      const out = bytes.slice();
      xorByte(out, at, 1 << Math.floor(this.random() * 8));
      return out;
    }
    const out = new Uint8Array(bytes.length - 1);
    out.set(bytes.subarray(0, at));
    out.set(bytes.subarray(at + 1), at);
    return out;
  }

  private fromHost(bytes: Uint8Array): void {
    if (this.faults.silent) return;
    this.parser.push(this.disturb(bytes));
    for (let frame = this.parser.next(); frame; frame = this.parser.next()) {
      if (frame.kind === 'ack') {
        // the host aborts whatever runs
        this.aborts++;
        const lateUntil = this.clock.now() + this.faults.abortLagMs;
        this.lateGeneration = this.faults.abortLagMs > 0 ? this.generation : -1;
        this.lateUntil = lateUntil;
        this.generation++;
        const late = this.output.filter((o) => o.readyAt <= lateUntil && this.faults.abortLagMs > 0);
        this.output.length = 0;
        for (const o of late) this.output.push({ ...o, late: true });
        this.cardWaiter = undefined;
        if (this.picc && !this.picc.active) this.endPicc();
      } else if (frame.kind === 'nack') {
        if (this.lastResponse) this.send(this.lastResponse, 0, 'resend');
      } else if (frame.kind === 'info' && frame.tfi === HOST_TO_PN532 && frame.data.length > 0) {
        this.accept(frame.data);
      } else {
        this.log('debug', 'sim-pn532', `ignored a ${frame.kind} frame from the host`);
      }
    }
  }

  private accept(data: Uint8Array): void {
    if (this.faults.loseCommands > 0) {
      this.faults.loseCommands--;
      return;
    }
    const code = data[0]!;
    // HSU after power-up: the chip only listens to SAMConfiguration
    if (this.needsSam && code !== 0x14) return;
    const generation = ++this.generation;
    // a new command ends the last one's output, except what is already on the wire
    const late = this.output.filter((o) => o.late);
    this.output.length = 0;
    this.output.push(...late);
    this.send(ACK_FRAME, 0, 'ack');
    this.commands.push(toHex(data));
    if (this.faults.errorFrames > 0) {
      this.faults.errorFrames--;
      this.send(ERROR_FRAME, this.responseMs, 'response');
      return;
    }
    const started = this.clock.now();
    this.answerDelayMs = 0;
    Promise.resolve(this.execute(code, data.subarray(1)))
      .catch((error) => {
        this.log('warn', 'sim-pn532', `command 0x${code.toString(16)} failed: ${String(error)}`);
        return undefined;
      })
      .then((answer) => {
        const late = generation === this.lateGeneration && this.clock.now() <= this.lateUntil;
        if (generation !== this.generation && !late) return;
        if (answer === undefined) {
          this.send(ERROR_FRAME, this.responseMs, 'response');
          return;
        }
        const elapsed = this.clock.now() - started;
        const frame = encodeFrame(PN532_TO_HOST, concatBytes(Uint8Array.of(code + 1), answer));
        this.send(frame, Math.max(0, this.responseMs + this.faults.delayMs + this.answerDelayMs - elapsed), 'response');
        if (late) this.output[this.output.length - 1]!.late = true;
      });
  }

  /** Resolves with the response data after the response code, or undefined for a syntax error. */
  private async execute(code: number, p: Uint8Array): Promise<Uint8Array | undefined> {
    switch (code) {
      case 0x02:
        return p.length === 0 ? Uint8Array.of(0x32, 0x01, 0x06, 0x07) : undefined;
      case 0x14:
        if (p.length < 1 || p.length > 3 || p[0]! < 1 || p[0]! > 4) return undefined;
        this.needsSam = false;
        return new Uint8Array(0);
      case 0x12:
        if (p.length !== 1) return undefined;
        this.autoRats = (p[0]! & 0x10) !== 0;
        this.piccParam = (p[0]! & 0x20) !== 0;
        return new Uint8Array(0);
      case 0x32:
        return this.rfConfiguration(p);
      case 0x4a:
        return this.inListPassiveTarget(p);
      case 0x40:
        return this.inDataExchange(p);
      case 0x44:
      case 0x52:
        if (p.length !== 1) return undefined;
        if (p[0] !== 0 && p[0] !== this.activeTg) return Uint8Array.of(0x27);
        // S(DESELECT) to an ISO-DEP card (HLTA to a 14443-3 one): it halts until the field resets
        if (this.activeTg && this.card) {
          this.cardState = 'halt';
          this.card.target.released?.();
        }
        this.activeTg = 0;
        this.pendingIn = undefined;
        return Uint8Array.of(0x00);
      case 0x16:
        if (p.length < 1 || p.length > 2) return undefined;
        // sleeps once the response is out
        Promise.resolve().then(() => (this.power = 'asleep'));
        return Uint8Array.of(0x00);
      case 0x00:
        return this.diagnose(p);
      case 0x06:
        return this.readRegisters(p);
      case 0x08:
        return this.writeRegisters(p);
      case 0x42:
        return this.inCommunicateThru(p);
      case 0x60:
        return this.inAutoPoll(p);
      case 0x8c:
        return this.tgInitAsTarget(p);
      case 0x86:
        return p.length === 0 ? this.tgGetData() : undefined;
      case 0x8e:
      case 0x94:
        return this.tgSetData(p, code === 0x94);
      default:
        return undefined;
    }
  }

  /** Diagnose (UM0701-02 7.2.1): the communication line test echoes its data; test 6 checks the target. */
  private diagnose(p: Uint8Array): Uint8Array | undefined {
    if (p.length < 1) return undefined;
    if (p[0] === 0x00) return p.slice();
    if (p[0] === 0x06 && p.length === 1) return Uint8Array.of(this.card && this.activeTg ? 0x00 : 0x01);
    return undefined;
  }

  /** ReadRegister: ADRH ADRL pairs, answered with one value each (the PN532 puts no status first). */
  private readRegisters(p: Uint8Array): Uint8Array | undefined {
    if (p.length < 2 || p.length % 2 !== 0) return undefined;
    const out = new Uint8Array(p.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = this.registers.get((p[2 * i]! << 8) | p[2 * i + 1]!) ?? 0x00;
    return out;
  }

  /** WriteRegister: ADRH ADRL VAL triples. */
  private writeRegisters(p: Uint8Array): Uint8Array | undefined {
    if (p.length < 3 || p.length % 3 !== 0) return undefined;
    for (let i = 0; i < p.length; i += 3) this.registers.set((p[i]! << 8) | p[i + 1]!, p[i + 2]!);
    return new Uint8Array(0);
  }

  /**
   * InCommunicateThru: raw bytes to the target, no ISO-DEP framing by the chip. The emulated card answers
   * an R(NAK) with an R(ACK) (libnfc's presence check); anything else (MIFARE, NTAG and barcode probes)
   * gets no answer, and the chip reports an RF timeout after the RTO.
   */
  private async inCommunicateThru(p: Uint8Array): Promise<Uint8Array | undefined> {
    // no DataOut at all is legal: libnfc listens that way for an NFC Barcode tag, which talks first
    if (this.card && this.activeTg && p.length >= 1 && (p[0]! & 0xf6) === 0xb2 && p.length <= 2) return Uint8Array.of(0x00, 0xa2 | (p[0]! & 0x01));
    this.answerDelayMs += this.rfTimeoutMs;
    return Uint8Array.of(0x01);
  }

  /**
   * InAutoPoll (UM0701-02 7.3.13): PollNr rounds (0xFF forever) of Period × 150 ms over the target types
   * listed. Only 106 kbps type A targets are emulated: 0x00 and 0x20 (ISO/IEC 14443-4A, with the ATS
   * when automatic RATS is on) and 0x10 (a MIFARE-style answer without RATS).
   */
  private async inAutoPoll(p: Uint8Array): Promise<Uint8Array | undefined> {
    if (p.length < 3 || p.length > 17 || p[1] === 0) return undefined;
    const types = Array.from(p.subarray(2));
    const type = types.find((t) => t === 0x00 || t === 0x20 || t === 0x10);
    const found = () => type !== undefined && this.card !== undefined && this.cardState !== 'halt';
    this.field = true;
    if (!found()) {
      const generation = this.generation;
      if (p[0] === 0xff) {
        while (!found()) {
          await new Promise<void>((resolve) => (this.cardWaiter = resolve));
          if (generation !== this.generation) return Uint8Array.of(0x00);
        }
      } else {
        // the rounds run on the chip's time: the answer comes when they are over
        this.answerDelayMs += p[0]! * p[1]! * 150 * types.length;
        return Uint8Array.of(0x00);
      }
    }
    const data = this.activate(type === 0x10 ? false : this.autoRats)!;
    return concatBytes(Uint8Array.of(0x01, type!, data.length), data);
  }

  // ---- card emulation ----

  /**
   * TgInitAsTarget `Mode MIFARE(6) FeliCa(18) NFCID3t(10) LEN_Gt Gt LEN_Tk Tk`: waits until the reader
   * activates the card, then answers `Mode InitiatorCommand` (Mode 0x08: 106 kbps, ISO-DEP; the RATS).
   */
  private async tgInitAsTarget(p: Uint8Array): Promise<Uint8Array | undefined> {
    if (p.length < 36) return undefined;
    const gt = p[35]!;
    if (p.length < 37 + gt || p.length !== 37 + gt + p[36 + gt]!) return undefined;
    const historical = p.subarray(37 + gt);
    const selRes = p[6]!;
    // only the ISO/IEC 14443-4 PICC is emulated (not DEP, FeliCa or a MIFARE Classic)
    if ((p[0]! & 0x04) === 0 || (selRes & 0x20) === 0 || !this.piccParam) return Uint8Array.of(0x00, 0x00);
    const identity: TargetIdentity = {
      uid: Uint8Array.of(0x08, p[3]!, p[4]!, p[5]!),
      sensRes: p[1]! | (p[2]! << 8),
      selRes,
      // TL, T0 (FSCI 8: 256 bytes; TA TB TC follow), TA, TB, TC as this firmware sends them
      ats: concatBytes(Uint8Array.of(5 + historical.length, 0x78, 0x80, 0x70, 0x02), historical),
    };
    this.endPicc();
    const picc: Picc = { active: false, commands: [], waiting: undefined, answer: undefined, metaData: [], onActivated: () => {}, target: undefined! };
    picc.target = {
      transceive: (apdu) => this.fromInitiator(picc, apdu),
      activated: () => {
        picc.active = true;
        picc.onActivated();
      },
      released: () => {
        if (this.picc === picc) this.endPicc();
      },
    };
    this.picc = picc;
    const activation = new Promise<void>((resolve) => (picc.onActivated = resolve));
    this.reader?.placeCard(picc.target, identity);
    await activation;
    if (this.picc !== picc) return undefined;
    return Uint8Array.of(0x08, 0xe0, 0x80);
  }

  /** A C-APDU from the reader: handed to the host's TgGetData; resolves with its TgSetData. */
  private fromInitiator(picc: Picc, apdu: Uint8Array): Promise<Uint8Array> {
    if (this.picc !== picc || !picc.active) return Promise.reject(new Error('card emulation is not running'));
    return new Promise<Uint8Array>((resolve, reject) => {
      picc.answer = { resolve, reject };
      picc.commands.push(apdu.slice());
      const waiting = picc.waiting;
      picc.waiting = undefined;
      waiting?.();
    });
  }

  /** TgGetData: the reader's next command (status 0x29 once it has released the card). */
  private async tgGetData(): Promise<Uint8Array> {
    const picc = this.picc;
    if (!picc || !picc.active) return Uint8Array.of(0x29);
    const generation = this.generation;
    while (picc.commands.length === 0) {
      await new Promise<void>((resolve) => (picc.waiting = resolve));
      if (this.picc !== picc) return Uint8Array.of(0x29);
      if (generation !== this.generation) return Uint8Array.of(0x01);
    }
    const apdu = picc.commands[0]!;
    const part = apdu.subarray(0, this.maxDataInBytes);
    if (apdu.length > this.maxDataInBytes) picc.commands[0] = apdu.subarray(this.maxDataInBytes);
    else picc.commands.shift();
    return concatBytes(Uint8Array.of(apdu.length > this.maxDataInBytes ? 0x40 : 0x00), part);
  }

  /** TgSetData (the R-APDU, or its last part) and TgSetMetaData (a part with more to follow). */
  private tgSetData(p: Uint8Array, more: boolean): Uint8Array | undefined {
    if (p.length > 262) return undefined;
    const picc = this.picc;
    if (!picc || !picc.active || !picc.answer) return Uint8Array.of(0x29);
    picc.metaData.push(p.slice());
    if (more) return Uint8Array.of(0x00);
    const answer = picc.answer;
    picc.answer = undefined;
    answer.resolve(concatBytes(...picc.metaData));
    picc.metaData = [];
    return Uint8Array.of(0x00);
  }

  /** Card emulation ends: the host's waits answer "released", the reader's card leaves its field. */
  private endPicc(): void {
    const picc = this.picc;
    if (!picc) return;
    this.picc = undefined;
    picc.answer?.reject(new Error('card emulation ended'));
    picc.onActivated();
    picc.waiting?.();
    if (this.reader && this.reader.card?.target === picc.target) this.reader.removeCard();
  }

  private rfConfiguration(p: Uint8Array): Uint8Array | undefined {
    const lengths: Record<number, number> = { 0x01: 1, 0x02: 3, 0x04: 1, 0x05: 3, 0x0a: 11, 0x0b: 8, 0x0c: 3, 0x0d: 9 };
    if (p.length < 1 || lengths[p[0]!] !== p.length - 1) return undefined;
    if (p[0] === 0x01) {
      this.field = (p[1]! & 0x01) !== 0;
      // without the field the card loses power: it comes back idle
      if (!this.field && this.card) {
        if (this.activeTg) this.card.target.released?.();
        this.cardState = 'idle';
        this.activeTg = 0;
        this.pendingIn = undefined;
      }
    }
    if (p[0] === 0x05) this.passiveRetries = p[3]!;
    return new Uint8Array(0);
  }

  private async inListPassiveTarget(p: Uint8Array): Promise<Uint8Array | undefined> {
    if (p.length < 2 || p[0]! < 1 || p[0]! > 2) return undefined;
    if (p[1] !== 0x00) return Uint8Array.of(0x00); // only 106 kbps type A targets are emulated
    this.field = true;
    const found = () => this.card !== undefined && this.cardState !== 'halt';
    if (!found()) {
      if (this.passiveRetries !== 0xff) {
        await this.clock.sleep(Math.min(this.passiveRetries + 1, 64) * 5);
        if (!found()) return Uint8Array.of(0x00);
      } else {
        const generation = this.generation;
        while (!found()) {
          await new Promise<void>((resolve) => (this.cardWaiter = resolve));
          if (generation !== this.generation) return Uint8Array.of(0x00);
        }
      }
    }
    // the activation runs on the chip's time, not the host's: its answer is simply later
    this.answerDelayMs += this.faults.activationMs;
    return concatBytes(Uint8Array.of(0x01), this.activate(this.autoRats));
  }

  /** Anticollision, select and (when asked) RATS: the target data `Tg SENS_RES SEL_RES NFCIDLen NFCID [ATS]`. */
  private activate(rats: boolean): Uint8Array {
    const { uid, sensRes, selRes, ats } = this.card!.identity;
    this.activeTg = 1;
    this.cardState = 'active';
    this.chainedOut = [];
    this.pendingIn = undefined;
    this.card!.target.activated?.();
    const withAts = (selRes & 0x20) !== 0 && rats;
    return concatBytes(Uint8Array.of(0x01, sensRes >> 8, sensRes & 0xff, selRes, uid.length), uid, withAts ? ats : new Uint8Array(0));
  }

  private async inDataExchange(p: Uint8Array): Promise<Uint8Array | undefined> {
    if (p.length < 1) return undefined;
    const tg = p[0]! & 0x3f;
    const more = (p[0]! & 0x40) !== 0;
    if (tg !== this.activeTg || tg === 0) return Uint8Array.of(0x27);
    const data = p.subarray(1);
    if (data.length > 262) return Uint8Array.of(0x07);
    if (data.length === 0 && !more && this.pendingIn) return this.nextIn();
    this.pendingIn = undefined;
    if (this.faults.removeCardOnExchange > 0 && --this.faults.removeCardOnExchange === 0) this.removeCard();
    if (!this.card) {
      if (this.faults.removalStatus !== 0x01) return Uint8Array.of(this.faults.removalStatus);
      await this.clock.sleep(this.rfTimeoutMs);
      return Uint8Array.of(0x01);
    }
    this.chainedOut.push(data.slice());
    if (more) return Uint8Array.of(0x00);
    const apdu = concatBytes(...this.chainedOut);
    this.chainedOut = [];
    const target = this.card.target;
    let answer: Uint8Array;
    try {
      answer = await target.transceive(apdu);
    } catch (error) {
      this.log('info', 'sim-pn532', `target did not answer: ${String(error)}`);
      await this.clock.sleep(this.rfTimeoutMs);
      return Uint8Array.of(0x01);
    }
    if (!this.card || this.card.target !== target) return Uint8Array.of(0x01);
    this.pendingIn = answer;
    return this.nextIn();
  }

  private nextIn(): Uint8Array {
    const rest = this.pendingIn!;
    const part = rest.subarray(0, this.maxDataInBytes);
    this.pendingIn = rest.length > this.maxDataInBytes ? rest.subarray(this.maxDataInBytes) : undefined;
    return concatBytes(Uint8Array.of(this.pendingIn ? 0x40 : 0x00), part);
  }
}

/**
 * Power-on values of the registers the host may read back (PN532 data sheet, CIU at 0x6301-0x633F, and
 * the port SFRs); the rest read 0x00.
 */
const REGISTER_RESET: [number, number][] = [
  [0x6301, 0x3b], // Mode
  [0x6302, 0x00], // TxMode
  [0x6303, 0x00], // RxMode
  [0x6304, 0x80], // TxControl
  [0x6305, 0x00], // TxAuto
  [0x6306, 0x10], // TxSel
  [0x6307, 0x84], // RxSel
  [0x6308, 0x84], // RxThreshold
  [0x6309, 0x4d], // Demod
  [0x630d, 0x00], // ManualRCV
  [0x6316, 0x48], // RFCfg
  [0x6317, 0x88], // GsNOn
  [0x6318, 0x20], // CWGsP
  [0x6319, 0x20], // ModGsP
  [0x631a, 0x00], // TMode
  [0x631b, 0x00], // TPrescaler
  [0x631c, 0x00], // TReloadVal_hi
  [0x631d, 0x00], // TReloadVal_lo
  [0x6331, 0x20], // Command
  [0x6338, 0x00], // Status2
  [0x633a, 0x00], // FIFOLevel
  [0x633b, 0x08], // WaterLevel
  [0x633c, 0x10], // Control
  [0x633d, 0x00], // BitFraming
  [0x633e, 0x80], // Coll
  [0xffb0, 0xff], // P3
  [0xfff4, 0xff], // P7
];

/** A card emulation session on the chip (TgInitAsTarget until the reader lets the card go). */
interface Picc {
  active: boolean;
  /** C-APDUs from the reader the host has not fetched yet. */
  commands: Uint8Array[];
  /** The host's TgGetData waiting for a command. */
  waiting: (() => void) | undefined;
  /** The reader's InDataExchange waiting for the host's TgSetData. */
  answer: { resolve: (r: Uint8Array) => void; reject: (e: Error) => void } | undefined;
  /** TgSetMetaData parts ahead of the last. */
  metaData: Uint8Array[];
  onActivated: () => void;
  /** What the reader sees in its field. */
  target: ApduTarget;
}

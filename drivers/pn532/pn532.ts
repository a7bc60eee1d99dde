// The PN532 command layer (UM0701-02 chapter 7): one command at a time, ACK then response, with
// NACK on a bad checksum, resend when the ACK does not come, and abort (ACK from the host) on timeout.
import { TaplineError } from '../../firmware/base/errors';
import type { Clock, Log } from '../../firmware/base/platform';
import { silentLog } from '../../firmware/base/platform';
import { concatBytes } from '../../firmware/base/bytes';
import { ACK_FRAME, NACK_FRAME, encodeFrame, FrameParser, HOST_TO_PN532, MAX_FRAME_DATA_BYTES, PN532_TO_HOST, type Frame } from './frame';
import type { PN532Transport } from './transport';
import { checkRange, closed } from '../io';

export const PN532Command = {
  Diagnose: 0x00,
  GetFirmwareVersion: 0x02,
  SetParameters: 0x12,
  SAMConfiguration: 0x14,
  PowerDown: 0x16,
  RFConfiguration: 0x32,
  InDataExchange: 0x40,
  InDeselect: 0x44,
  InListPassiveTarget: 0x4a,
  InRelease: 0x52,
  TgGetData: 0x86,
  TgInitAsTarget: 0x8c,
  TgSetData: 0x8e,
  TgSetMetaData: 0x94,
} as const;

/**
 * What a status error code (UM0701-02 table 7-1) says about the target. rfLink: the RF exchange broke
 * (timeout, CRC, parity, bit count, framing, collision, RF timeout, RF protocol, bad frame) or the target
 * was released, the codes libnfc reports as an RF transmission error or a released target. wrongState
 * (0x27, "not acceptable in this state"): the chip has already dropped the target, typically because it
 * saw the card leave during an earlier exchange or a presence check. Any other code: refused.
 */
export type StatusKind = 'rfLink' | 'wrongState' | 'refused';

export const STATUS_KINDS: Readonly<Record<number, StatusKind>> = {
  0x01: 'rfLink',
  0x02: 'rfLink',
  0x03: 'rfLink',
  0x04: 'rfLink',
  0x05: 'rfLink',
  0x06: 'rfLink',
  0x0a: 'rfLink',
  0x0b: 'rfLink',
  0x13: 'rfLink',
  0x29: 'rfLink',
  0x2b: 'rfLink',
  0x27: 'wrongState',
};

/** The chip refused a command, answered out of protocol, or reported an error status. */
export class PN532Error extends TaplineError {
  override readonly name: string = 'PN532Error';
  /** What the status says about the target (undefined: the chip reported no status). */
  readonly statusKind: StatusKind | undefined;
  constructor(
    message: string,
    /** The status byte's error code (bits 0-5) when the chip reported one. */
    readonly status?: number,
  ) {
    super(message);
    this.statusKind = status === undefined ? undefined : (STATUS_KINDS[status] ?? 'refused');
  }
}

/** The chip did not acknowledge (phase 'ack') or did not answer (phase 'response') in time. */
export class PN532TimeoutError extends PN532Error {
  override readonly name: string = 'PN532TimeoutError';
  constructor(
    message: string,
    readonly phase: 'ack' | 'response',
  ) {
    super(message);
  }
}

export interface FirmwareVersion {
  ic: number;
  version: number;
  revision: number;
  support: number;
}

/** A target found by InListPassiveTarget (106 kbps type A). */
export interface TargetInfo {
  tg: number;
  sensRes: number;
  selRes: number;
  uid: Uint8Array;
  /** The answer to select, when the target speaks ISO/IEC 14443-4 and automatic RATS is on. */
  ats?: Uint8Array;
}

export interface PN532Options {
  transport: PN532Transport;
  clock: Clock;
  log?: Log;
  /** How long the ACK may take; hosts use 15-100 ms. */
  ackTimeoutMs?: number;
  /** Default time for a response after the ACK. */
  timeoutMs?: number;
  pollMs?: number;
  /** Times a command is sent again when its ACK does not come. */
  retries?: number;
  /** NACKs sent for one response before giving up on a line that keeps corrupting it. */
  maxNacks?: number;
  /** Largest DataOut / DataIn carried in one frame; more is chained (MI). */
  chunkBytes?: number;
}

export interface CommandOptions {
  timeoutMs?: number;
  /** Longest response data the command can return: bounds an I2C read. */
  maxResponseBytes?: number;
  /**
   * Whether the command may be sent again when its ACK does not come (default true). Not for commands
   * that reach a card: the ACK may be lost while the chip runs the command, and a card must never get
   * a payment twice; those wait for the response instead.
   */
  resend?: boolean;
}

/**
 * An InListPassiveTarget the chip has acknowledged and runs on its own: the host looks for the answer
 * with `poll()`, which never waits, so a main loop keeps scanning its keys meanwhile. The driver runs
 * no other command until the search is done or cancelled.
 */
export interface TargetSearch {
  /** One look at the chip's ready status; true once the search is over (see `target`). */
  poll(): Promise<boolean>;
  /**
   * Ends the search: an answer already waiting is taken (a card that came with the key press is not
   * lost), otherwise the search is aborted with an ACK and the line drained.
   */
  cancel(): Promise<void>;
  /** The target found; undefined while searching, when the chip's retries ran out, or when cancelled. */
  readonly target: TargetInfo | undefined;
  /** Cancelled before the chip answered. */
  readonly cancelled: boolean;
}

/** InListPassiveTarget for one target at 106 kbps type A; its answer carries at most 64 bytes. */
const LIST_ONE_TYPE_A = Uint8Array.of(0x01, 0x00);
const LIST_MAX_RESPONSE = 64;

/** How a frame is being read: when bytes last came, and how many came since the read began. */
interface LineState {
  progress: number;
  bytes: number;
}

/**
 * The driver's state. A PN532 keeps it in one private field and hands it to the functions below: XS
 * reads a private field about seven times slower than a plain property (68 against 9 computrons), and
 * the receive loop reads this state for every poll of the line.
 */
interface Chip {
  readonly transport: PN532Transport;
  readonly clock: Clock;
  readonly log: Log;
  readonly ackTimeoutMs: number;
  readonly timeoutMs: number;
  readonly pollMs: number;
  readonly retries: number;
  readonly maxNacks: number;
  readonly chunkBytes: number;
  readonly parser: FrameParser;
  asleep: boolean;
  busy: boolean;
  closed: boolean;
}

export class PN532 {
  readonly #chip: Chip;

  constructor(options: PN532Options) {
    this.#chip = {
      ackTimeoutMs: checkRange('PN532 ackTimeoutMs', options.ackTimeoutMs ?? 30, 1, 1000),
      timeoutMs: checkRange('PN532 timeoutMs', options.timeoutMs ?? 1000, 1, 600_000),
      pollMs: checkRange('PN532 pollMs', options.pollMs ?? 1, 1, 100),
      retries: checkRange('PN532 retries', options.retries ?? 2, 0, 10),
      maxNacks: checkRange('PN532 maxNacks', options.maxNacks ?? 3, 0, 10),
      chunkBytes: checkRange('PN532 chunkBytes', options.chunkBytes ?? 252, 1, MAX_FRAME_DATA_BYTES - 3),
      transport: options.transport,
      clock: options.clock,
      log: options.log ?? silentLog,
      parser: new FrameParser(MAX_FRAME_DATA_BYTES * 2 + 32),
      // HSU starts in low-battery mode and needs the wake-up preamble; I2C and SPI listen at once.
      asleep: options.transport.name === 'uart',
      busy: false,
      closed: false,
    };
  }

  get transport(): PN532Transport {
    return this.#chip.transport;
  }

  get clock(): Clock {
    return this.#chip.clock;
  }

  /** Largest DataOut / DataIn carried in one frame. */
  get chunkBytes(): number {
    return this.#chip.chunkBytes;
  }

  /** How often a wait looks at the line. */
  get pollMs(): number {
    return this.#chip.pollMs;
  }

  /** Sends command `code` and resolves with the response data after the response code. */
  async command(code: number, params: Uint8Array = new Uint8Array(0), options: CommandOptions = {}): Promise<Uint8Array> {
    const chip = this.#chip;
    claim(chip);
    try {
      const name = `command 0x${hex(code)}`;
      const most = frameSize((options.maxResponseBytes ?? MAX_FRAME_DATA_BYTES - 1) + 1);
      const timeoutMs = options.timeoutMs ?? chip.timeoutMs;
      let early = await issue(chip, code, params, options.resend ?? true, name);
      let nacks = 0;
      const deadline = chip.clock.now() + timeoutMs;
      for (;;) {
        const answer = early ?? (await receive(chip, deadline - chip.clock.now(), most));
        early = undefined;
        if (!answer) {
          await abort(chip).catch((error) => chip.log('debug', 'pn532', `abort failed: ${describe(error)}`));
          throw new PN532TimeoutError(`${name}: no response within ${timeoutMs} ms`, 'response');
        }
        if (answer.kind === 'corrupt') nacks++;
        const data = responseData(chip, answer, code, name, nacks);
        if (data === 'nack') await send(chip, NACK_FRAME, `${name}: NACK`);
        else if (data) return data;
      }
    } finally {
      chip.busy = false;
    }
  }

  /**
   * Starts a search for one 106 kbps type A target and resolves once the chip has acknowledged it (a few
   * milliseconds); see TargetSearch. With the reader's retries at 0xFF the chip searches until a card
   * comes or the host cancels.
   */
  async startTargetSearch(): Promise<TargetSearch> {
    const chip = this.#chip;
    const code = PN532Command.InListPassiveTarget;
    const name = `command 0x${hex(code)}`;
    claim(chip);
    let early: Frame | undefined;
    try {
      early = await issue(chip, code, LIST_ONE_TYPE_A, true, name);
    } catch (error) {
      chip.busy = false;
      throw error;
    }
    const most = frameSize(LIST_MAX_RESPONSE + 1);
    const line: LineState = { progress: chip.clock.now(), bytes: 0 };
    let nacks = 0;
    let done = false;
    let cancelled = false;
    let target: TargetInfo | undefined;
    const finish = (found: TargetInfo | undefined, aborted: boolean): void => {
      done = true;
      target = found;
      cancelled = aborted;
      chip.busy = false;
    };
    const poll = async (): Promise<boolean> => {
      if (done) return true;
      try {
        const answer = early ?? look(chip, most, line);
        early = undefined;
        if (!answer) return false;
        if (answer.kind === 'corrupt') nacks++;
        const data = responseData(chip, answer, code, name, nacks);
        if (data === 'nack') await send(chip, NACK_FRAME, `${name}: NACK`);
        if (!data || data === 'nack') return false;
        finish(parseTargets(data)[0], false);
        return true;
      } catch (error) {
        if (!done) finish(undefined, false);
        throw error;
      }
    };
    const cancel = async (): Promise<void> => {
      if (await poll()) return;
      try {
        await abort(chip);
      } finally {
        finish(undefined, true);
      }
    };
    return {
      poll,
      cancel,
      get target() {
        return target;
      },
      get cancelled() {
        return cancelled;
      },
    };
  }

  /**
   * Aborts the running command (an ACK from the host), e.g. a target search nobody answers. The chip
   * may have begun its answer before the abort reached it: the line is drained until it has been quiet
   * for `ackTimeoutMs`, so that late answer is not taken for the next command's.
   */
  abort(): Promise<void> {
    return abort(this.#chip);
  }

  async getFirmwareVersion(): Promise<FirmwareVersion> {
    const r = await this.command(PN532Command.GetFirmwareVersion, undefined, { maxResponseBytes: 5 });
    if (r.length !== 4) throw new PN532Error(`firmware version: ${r.length} bytes, expected 4`);
    return { ic: r[0]!, version: r[1]!, revision: r[2]!, support: r[3]! };
  }

  /** Mode 1 = normal (no SAM). */
  async samConfiguration(mode = 0x01): Promise<void> {
    await this.command(PN532Command.SAMConfiguration, Uint8Array.of(mode), { maxResponseBytes: 1 });
  }

  /** Flags: 0x10 automatic RATS, 0x04 automatic ATR_RES, 0x02 use IRQ, 0x01 NAD used, 0x20 ISO 14443-4 picc emulation. */
  async setParameters(flags: number): Promise<void> {
    await this.command(PN532Command.SetParameters, Uint8Array.of(flags), { maxResponseBytes: 1 });
  }

  async rfConfiguration(item: number, data: Uint8Array): Promise<void> {
    const params = new Uint8Array(data.length + 1);
    params[0] = item;
    params.set(data, 1);
    await this.command(PN532Command.RFConfiguration, params, { maxResponseBytes: 1 });
  }

  async setField(on: boolean): Promise<void> {
    await this.rfConfiguration(0x01, Uint8Array.of(on ? 0x01 : 0x00));
  }

  /** Timeouts as exponents: 100 µs × 2^(n-1) (0x0B ≈ 102 ms). */
  async setTimeouts(atr: number, rto: number): Promise<void> {
    await this.rfConfiguration(0x02, Uint8Array.of(0x00, atr, rto));
  }

  /** Retry counts; 0xFF = forever. */
  async setRetries(atr: number, psl: number, passive: number): Promise<void> {
    await this.rfConfiguration(0x05, Uint8Array.of(atr, psl, passive));
  }

  /**
   * Looks for one 106 kbps type A target. Resolves undefined when none came within `timeoutMs`
   * (the search is aborted) or the chip's own retries ran out.
   */
  async inListPassiveTarget(timeoutMs = this.#chip.timeoutMs): Promise<TargetInfo | undefined> {
    const search = await this.startTargetSearch();
    await awaitSearch(search, this.#chip.clock, timeoutMs, this.#chip.pollMs);
    return search.target;
  }

  /** Exchanges data with target `tg`, chaining (MI) in both directions past `chunkBytes`. */
  async inDataExchange(tg: number, data: Uint8Array, timeoutMs = this.#chip.timeoutMs): Promise<Uint8Array> {
    const chunkBytes = this.#chip.chunkBytes;
    // the chip, not the host, decides how much DataIn one frame carries (up to 262 bytes)
    const maxResponseBytes = MAX_FRAME_DATA_BYTES - 1;
    for (let offset = 0; ; offset += chunkBytes) {
      const last = offset + chunkBytes >= data.length;
      const part = data.subarray(offset, Math.min(data.length, offset + chunkBytes));
      const params = new Uint8Array(part.length + 1);
      params[0] = last ? tg : tg | 0x40;
      params.set(part, 1);
      const r = await this.command(PN532Command.InDataExchange, params, { timeoutMs, maxResponseBytes, resend: false });
      const status = checkStatus(r, 'InDataExchange');
      if (!last) {
        if (r.length !== 1) throw new PN532Error(`InDataExchange: ${r.length - 1} bytes answered a chained part`);
        continue;
      }
      const parts: Uint8Array[] = [r.subarray(1)];
      let more = (status & 0x40) !== 0;
      let total = parts[0]!.length;
      while (more) {
        const next = await this.command(PN532Command.InDataExchange, Uint8Array.of(tg), { timeoutMs, maxResponseBytes, resend: false });
        more = (checkStatus(next, 'InDataExchange') & 0x40) !== 0;
        parts.push(next.subarray(1));
        total += next.length - 1;
        if (total > 65538) throw new PN532Error('InDataExchange: chained response longer than 64 KB');
      }
      return concatBytes(...parts);
    }
  }

  async inDeselect(tg: number): Promise<void> {
    checkStatus(await this.command(PN532Command.InDeselect, Uint8Array.of(tg), { maxResponseBytes: 2 }), 'InDeselect');
  }

  /** Releases target `tg` (0 = all). */
  async inRelease(tg = 0): Promise<void> {
    checkStatus(await this.command(PN532Command.InRelease, Uint8Array.of(tg), { maxResponseBytes: 2 }), 'InRelease');
  }

  /**
   * Diagnose test 6: is the ISO/IEC 14443-4 target still in the field? The answer is a status byte
   * (0x00 present, 0x01 timeout). Some cards make PN532s answer it badly, so a tap never depends on it:
   * a lost card shows as CardLostError on the next APDU.
   */
  async targetPresent(): Promise<boolean> {
    const r = await this.command(PN532Command.Diagnose, Uint8Array.of(0x06), { maxResponseBytes: 2 });
    return r.length === 1 && r[0] === 0x00;
  }

  /** Puts the chip to sleep; the next command wakes it (0xB0: I2C, SPI and HSU may wake it). */
  async powerDown(wakeUpEnable = 0xb0): Promise<void> {
    checkStatus(await this.command(PN532Command.PowerDown, Uint8Array.of(wakeUpEnable), { maxResponseBytes: 2 }), 'PowerDown');
    this.#chip.asleep = true;
  }

  /** Closes the transport and its bus; a second call does nothing, and any command after it throws. */
  close(): void {
    this.#chip.closed = true;
    this.#chip.transport.close();
  }
}

/**
 * Polls a search every `pollMs` until it is over, and cancels it once `timeoutMs` has passed: the one
 * way a caller that may block waits for a card (PN532.inListPassiveTarget, NfcReader.waitForCard).
 */
export async function awaitSearch(search: Pick<TargetSearch, 'poll' | 'cancel'>, clock: Clock, timeoutMs: number, pollMs: number): Promise<void> {
  const deadline = clock.now() + timeoutMs;
  while (!(await search.poll())) {
    if (clock.now() >= deadline) return search.cancel();
    await clock.sleep(pollMs);
  }
}

/** Claims the chip for one command (or a search); it must be open and idle. */
function claim(chip: Chip): void {
  if (chip.closed) closed('PN532');
  if (chip.busy) throw new PN532Error('a command is already running');
  chip.busy = true;
}

/**
 * Sends the command frame and waits for its ACK, sending it again (when `resend`) if the ACK does not
 * come. Resolves with the response when it came in place of the ACK (the ACK lost on the way).
 */
async function issue(chip: Chip, code: number, params: Uint8Array, resend: boolean, name: string): Promise<Frame | undefined> {
  const { transport, clock, log, ackTimeoutMs, retries } = chip;
  if (chip.asleep) {
    await send(chip, new Uint8Array(0), `${name}: wake-up`, true);
    chip.asleep = false;
  }
  const payload = new Uint8Array(params.length + 1);
  payload[0] = code;
  payload.set(params, 1);
  const frame = encodeFrame(HOST_TO_PN532, payload);
  let lastError = '';
  let sent = false;
  for (let attempt = 0; attempt <= retries; attempt++) {
    if (sent && !resend) return undefined;
    // whatever is on the line now answers an earlier command (libnfc flushes the same way)
    flush(chip);
    try {
      await transport.write(frame);
    } catch (error) {
      // the chip refused the bytes, so it cannot run the command: safe to send again
      lastError = `: ${describe(error)}`;
      await clock.sleep(ackTimeoutMs);
      continue;
    }
    sent = true;
    const ackDeadline = clock.now() + ackTimeoutMs;
    for (;;) {
      const answer = await receive(chip, ackDeadline - clock.now(), ACK_FRAME.length);
      if (answer?.kind === 'ack') return undefined;
      if (answer?.kind === 'error') throw new PN532Error(`${name}: the chip reports a syntax error`);
      // the ACK was lost on the way but the answer came
      if (answer?.kind === 'info' && isResponse(answer, code)) return answer;
      if (answer?.kind === 'info' || answer?.kind === 'nack') {
        // a frame for someone else (a late answer to an aborted command): not this command's ACK
        log('debug', 'pn532', `${name}: ignored a stray frame while waiting for the ACK`);
        continue;
      }
      log('debug', 'pn532', `${name}: no ACK (attempt ${attempt + 1})${lastError}`);
      break;
    }
  }
  // an unresendable command that was sent waits for its response: its ACK may just have been lost
  if (sent && !resend) return undefined;
  throw new PN532TimeoutError(`${name}: no ACK after ${retries + 1} tries${lastError}`, 'ack');
}

/**
 * What one frame read after the ACK means for command `code`: its response data, 'nack' for a corrupt
 * one (the `nacks`-th) the caller must NACK, or undefined to read on past a stray frame.
 */
function responseData(chip: Chip, answer: Frame, code: number, name: string, nacks: number): Uint8Array | 'nack' | undefined {
  if (answer.kind === 'corrupt') {
    if (nacks > chip.maxNacks) throw new PN532Error(`${name}: response checksum wrong ${nacks} times`);
    chip.log('debug', 'pn532', `${name}: bad checksum, NACK`);
    return 'nack';
  }
  if (answer.kind === 'error') throw new PN532Error(`${name}: the chip reports a syntax error`);
  if (answer.kind !== 'info') return undefined;
  if (!isResponse(answer, code)) {
    chip.log('warn', 'pn532', `${name}: ignored a stray frame (TFI 0x${hex(answer.tfi)})`);
    return undefined;
  }
  return answer.data.subarray(1);
}

async function abort(chip: Chip): Promise<void> {
  const { clock, ackTimeoutMs } = chip;
  chip.parser.reset();
  await send(chip, ACK_FRAME, 'abort');
  const start = clock.now();
  let quietSince = start;
  while (clock.now() - quietSince < ackTimeoutMs && clock.now() - start < 4 * ackTimeoutMs) {
    if (flush(chip) > 0) quietSince = clock.now();
    await clock.sleep(chip.pollMs);
  }
  chip.parser.reset();
}

/** Drops what the chip has sent and nobody asked for; returns how many bytes that was. */
function flush(chip: Chip): number {
  let dropped = 0;
  for (let reads = 0; reads < 16; reads++) {
    let bytes: Uint8Array | undefined;
    try {
      bytes = chip.transport.read(frameSize(MAX_FRAME_DATA_BYTES), frameSize(MAX_FRAME_DATA_BYTES));
    } catch {
      break;
    }
    if (!bytes || bytes.length === 0) break;
    dropped += bytes.length;
  }
  if (dropped > 0) chip.log('debug', 'pn532', `flushed ${dropped} stale bytes`);
  chip.parser.reset();
  return dropped;
}

/** Writes a control frame (or the wake-up); a bus error becomes a PN532Error. */
async function send(chip: Chip, frame: Uint8Array, what: string, wake = false): Promise<void> {
  try {
    await (wake ? chip.transport.wake() : chip.transport.write(frame));
  } catch (error) {
    throw new PN532Error(`${what}: ${describe(error)}`);
  }
}

function isResponse(frame: { tfi: number; data: Uint8Array }, code: number): boolean {
  return frame.tfi === PN532_TO_HOST && frame.data.length >= 1 && frame.data[0] === code + 1;
}

/**
 * One look at the line, without waiting: a whole frame, or undefined. While the chip has bytes ready
 * they are read on (SPI reads a frame in pieces). A frame that starts but stops short (bytes lost on
 * the line) comes back as 'corrupt' once nothing more arrived for `ackTimeoutMs`, so the caller can
 * NACK it.
 */
function look(chip: Chip, most: number, line: LineState): Frame | undefined {
  const { parser, clock } = chip;
  for (let reads = 0; reads < 8; reads++) {
    const frame = parser.next();
    if (frame) return frame;
    let bytes: Uint8Array | undefined;
    try {
      bytes = chip.transport.read(parser.needed(), most);
    } catch (error) {
      chip.log('debug', 'pn532', `read failed: ${describe(error)}`);
    }
    if (!bytes || bytes.length === 0) break;
    parser.push(bytes);
    line.bytes += bytes.length;
    line.progress = clock.now();
  }
  const frame = parser.next();
  if (frame) return frame;
  if (parser.pending() && clock.now() - line.progress >= chip.ackTimeoutMs) {
    parser.reset();
    return { kind: 'corrupt' };
  }
  return undefined;
}

/** Polls the line for the next frame until `timeoutMs` (the loop of look, inlined: it runs for every poll). */
async function receive(chip: Chip, timeoutMs: number, most: number): Promise<Frame | undefined> {
  const { parser, clock, transport } = chip;
  const deadline = clock.now() + timeoutMs;
  let progress = clock.now();
  let junk = 0;
  for (;;) {
    const frame = parser.next();
    if (frame) return frame;
    // a floating or shorted line can deliver bytes without end, and time may not move meanwhile
    if (junk > 4 * (MAX_FRAME_DATA_BYTES + 10)) throw new PN532Error(`${junk} bytes on the line without a frame`);
    let bytes: Uint8Array | undefined;
    try {
      bytes = transport.read(parser.needed(), most);
    } catch (error) {
      chip.log('debug', 'pn532', `read failed: ${describe(error)}`);
    }
    const now = clock.now();
    if (bytes && bytes.length > 0) {
      parser.push(bytes);
      junk += bytes.length;
      progress = now;
      if (now >= deadline && !parser.pending()) return undefined;
      continue;
    }
    if (parser.pending() && now - progress >= chip.ackTimeoutMs) {
      parser.reset();
      return { kind: 'corrupt' };
    }
    if (now >= deadline) return undefined;
    await clock.sleep(chip.pollMs);
  }
}

/** Reads the status byte of a command's answer; a non-zero error code throws PN532Error with it. */
export function checkStatus(r: Uint8Array, what: string): number {
  if (r.length < 1) throw new PN532Error(`${what}: no status byte`);
  const status = r[0]!;
  const code = status & 0x3f;
  if (code !== 0) throw new PN532Error(`${what}: status 0x${hex(code)}${STATUS_KINDS[code] === 'rfLink' ? ' (target lost)' : ''}`, code);
  return status;
}

/** Parses InListPassiveTarget's answer (106 kbps type A); throws PN532Error on a malformed one. */
export function parseTargets(r: Uint8Array): TargetInfo[] {
  if (r.length < 1) throw new PN532Error('InListPassiveTarget: empty answer');
  const count = r[0]!;
  if (count > 2) throw new PN532Error(`InListPassiveTarget: ${count} targets, at most 2`);
  const targets: TargetInfo[] = [];
  let at = 1;
  for (let n = 0; n < count; n++) {
    if (at + 5 > r.length) throw new PN532Error('InListPassiveTarget: target data cut short');
    const tg = r[at]!;
    const sensRes = (r[at + 1]! << 8) | r[at + 2]!;
    const selRes = r[at + 3]!;
    const uidBytes = r[at + 4]!;
    at += 5;
    if (uidBytes !== 4 && uidBytes !== 7 && uidBytes !== 10) throw new PN532Error(`InListPassiveTarget: NFCID length ${uidBytes}`);
    if (at + uidBytes > r.length) throw new PN532Error('InListPassiveTarget: NFCID cut short');
    const target: TargetInfo = { tg, sensRes, selRes, uid: r.slice(at, at + uidBytes) };
    at += uidBytes;
    if ((selRes & 0x20) !== 0 && at < r.length) {
      const tl = r[at]!;
      if (tl < 1 || at + tl > r.length) throw new PN532Error(`InListPassiveTarget: ATS length ${tl} does not fit`);
      target.ats = r.slice(at, at + tl);
      at += tl;
    }
    targets.push(target);
  }
  if (at !== r.length) throw new PN532Error(`InListPassiveTarget: ${r.length - at} bytes after the targets`);
  return targets;
}

/** Bytes on the wire for a frame carrying `len` bytes of TFI + data. */
function frameSize(len: number): number {
  return len > 255 ? len + 10 : len + 7;
}

function hex(n: number): string {
  return (n < 16 ? '0' : '') + n.toString(16);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

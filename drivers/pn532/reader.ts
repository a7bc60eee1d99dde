// The terminal's view of the NFC reader: bring the chip up, look for a card, hand out a CardLink.
import type { Log } from '../../firmware/base/platform';
import { silentLog } from '../../firmware/base/platform';
import { equalBytes, toHex } from '../../firmware/base/bytes';
import { checkRange, closed } from '../io';
import { IsoDep } from './isodep';
import { awaitSearch, PN532, PN532Error, type FirmwareVersion, type TargetInfo, type TargetSearch } from './pn532';

export interface Activation {
  target: TargetInfo;
  link: IsoDep;
}

/**
 * A search for a card that a main loop polls without waiting (PN532.startTargetSearch). Once `poll()`
 * says it is over, `tap` holds the ISO/IEC 14443-4 card found, if any; `cancelled` says the search was
 * cancelled before the chip answered.
 */
export interface CardSearch {
  poll(): Promise<boolean>;
  cancel(): Promise<void>;
  readonly tap: Activation | undefined;
  readonly cancelled: boolean;
  /** Milliseconds since the search began. */
  elapsedMs(): number;
}

/**
 * Whether a card found now may be the one handled before. ISO/IEC 14443-3 marks a random UID (single
 * size, first byte 0x08: phone wallets and many bank cards) which a card draws anew at each power-up,
 * so it tells nothing: two random UIDs count as the same card. A fixed UID tells a card swapped in for
 * the old one (the next rider's at a gate), and a fixed and a random UID are never the same card.
 */
export function maybeSameCard(handled: TargetInfo, found: TargetInfo): boolean {
  const random = isRandomUid(handled.uid);
  if (random !== isRandomUid(found.uid)) return false;
  return random || equalBytes(handled.uid, found.uid);
}

function isRandomUid(uid: Uint8Array): boolean {
  return uid.length === 4 && uid[0] === 0x08;
}

/** Field-off time that resets every card in it (ISO/IEC 14443-2 asks for at least 5 ms). */
const FIELD_RESET_MS = 6;

export interface NfcReaderOptions {
  pn532: PN532;
  log?: Log;
  /** Time for one APDU exchange. */
  exchangeTimeoutMs?: number;
}

/** The reader's state, in one private field (XS reads a private field several times slower than a property). */
interface ReaderState {
  readonly pn532: PN532;
  readonly log: Log;
  readonly exchangeTimeoutMs: number | undefined;
  firmware: FirmwareVersion | undefined;
  /** A target was released since the last search: it sits halted and must be reset by the field. */
  halted: boolean;
  /** Targets activated so far: a link's session names the activation it belongs to. */
  activations: number;
  closed: boolean;
}

export class NfcReader {
  readonly #s: ReaderState;

  constructor(options: NfcReaderOptions) {
    this.#s = {
      pn532: options.pn532,
      log: options.log ?? silentLog,
      exchangeTimeoutMs: options.exchangeTimeoutMs === undefined ? undefined : checkRange('NfcReader exchangeTimeoutMs', options.exchangeTimeoutMs, 1, 600_000),
      firmware: undefined,
      halted: false,
      activations: 0,
      closed: false,
    };
  }

  get pn532(): PN532 {
    return this.#s.pn532;
  }

  /** The chip's firmware, once begin() has checked it. */
  get firmware(): FirmwareVersion | undefined {
    return this.#s.firmware;
  }

  /**
   * SAMConfiguration first (HSU needs it), then checks the chip and sets automatic RATS and retries.
   * A chip that does not answer, or is not a PN532, closes the reader and its bus before the error is
   * thrown, so the pins can be opened again.
   */
  async begin(): Promise<FirmwareVersion> {
    const s = this.#s;
    if (s.closed) closed('NfcReader');
    const pn532 = s.pn532;
    try {
      await pn532.samConfiguration(0x01);
      const firmware = await pn532.getFirmwareVersion();
      if (firmware.ic !== 0x32) throw new PN532Error(`not a PN532: IC 0x${firmware.ic.toString(16)}`);
      s.firmware = firmware;
      await pn532.setParameters(0x10);
      // search until the host aborts; a passive activation that fails is retried once
      await pn532.setRetries(0xff, 0x01, 0xff);
      s.log('info', 'pn532', `PN532 firmware ${firmware.version}.${firmware.revision} ready on ${pn532.transport.name}`);
      return firmware;
    } catch (error) {
      this.close();
      throw error;
    }
  }

  /**
   * Resolves with the card once an ISO/IEC 14443-4 target is in the field, or undefined after `timeoutMs`
   * (the search is cancelled): startSearch, polled until it is over, for a caller that may block.
   */
  async waitForCard(timeoutMs: number): Promise<Activation | undefined> {
    const search = await this.startSearch();
    await awaitSearch(search, this.#s.pn532.clock, timeoutMs, this.#s.pn532.pollMs);
    return search.tap;
  }

  /** Starts looking for a card and returns at once; see CardSearch. */
  async startSearch(): Promise<CardSearch> {
    const s = this.#s;
    await resetHalted(s);
    const clock = s.pn532.clock;
    const started = clock.now();
    const search: TargetSearch = await s.pn532.startTargetSearch();
    let tap: Activation | undefined;
    let over = false;
    const done = async (): Promise<boolean> => {
      if (over) return true;
      over = true;
      if (search.target) tap = await accept(s, search.target);
      return true;
    };
    return {
      poll: async () => (await search.poll()) && done(),
      cancel: async () => {
        await search.cancel();
        await done();
      },
      get tap() {
        return tap;
      },
      get cancelled() {
        return search.cancelled;
      },
      elapsedMs: () => clock.now() - started,
    };
  }

  async release(tap: Pick<Activation, 'target'>): Promise<void> {
    await release(this.#s, tap.target);
  }

  /** Closes the chip's transport and its bus; a second call does nothing. */
  close(): void {
    this.#s.closed = true;
    this.#s.pn532.close();
  }
}

async function release(s: ReaderState, target: TargetInfo): Promise<void> {
  s.halted = true;
  await s.pn532.inRelease(target.tg);
}

/**
 * A released card is halted and answers no search (ISO/IEC 14443-3 HALT state) until it loses power:
 * cycle the field, so a card still in it is found again (that is how its removal shows).
 */
async function resetHalted(s: ReaderState): Promise<void> {
  if (s.closed) closed('NfcReader');
  if (!s.halted) return;
  s.halted = false;
  await s.pn532.setField(false);
  await s.pn532.clock.sleep(FIELD_RESET_MS);
  await s.pn532.setField(true);
}

/** The card for a target found: only an ISO/IEC 14443-4 one can run the payment protocol. */
async function accept(s: ReaderState, target: TargetInfo): Promise<Activation | undefined> {
  if ((target.selRes & 0x20) === 0) {
    s.log('info', 'pn532', 'target does not speak ISO/IEC 14443-4; released');
    await release(s, target);
    return undefined;
  }
  const activation = ++s.activations;
  const link = new IsoDep({
    pn532: s.pn532,
    tg: target.tg,
    timeoutMs: s.exchangeTimeoutMs,
    uid: toHex(target.uid),
    activation,
    currentActivation: () => s.activations,
  });
  return { target, link };
}

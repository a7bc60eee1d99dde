// The terminal's view of the NFC reader: bring the chip up, wait for a card, hand out a CardLink.
import type { Log } from '../../firmware/base/platform';
import { silentLog } from '../../firmware/base/platform';
import { toHex } from '../../firmware/base/bytes';
import { IsoDep } from './isodep';
import { PN532, PN532Error, type FirmwareVersion, type TargetInfo } from './pn532';

export interface Activation {
  target: TargetInfo;
  link: IsoDep;
}

/** Field-off time that resets every card in it (ISO/IEC 14443-2 asks for at least 5 ms). */
const FIELD_RESET_MS = 6;

export interface NfcReaderOptions {
  pn532: PN532;
  log?: Log;
  /** Time for one APDU exchange. */
  exchangeTimeoutMs?: number;
}

export class NfcReader {
  readonly pn532: PN532;
  private readonly log: Log;
  private readonly exchangeTimeoutMs: number | undefined;
  firmware: FirmwareVersion | undefined;
  /** A target was released since the last search: it sits halted and must be reset by the field. */
  private halted = false;
  /** Targets activated so far: a link's session names the activation it belongs to. */
  activations = 0;

  constructor(options: NfcReaderOptions) {
    this.pn532 = options.pn532;
    this.log = options.log ?? silentLog;
    this.exchangeTimeoutMs = options.exchangeTimeoutMs;
  }

  /** SAMConfiguration first (HSU needs it), then checks the chip and sets automatic RATS and retries. */
  async begin(): Promise<FirmwareVersion> {
    await this.pn532.samConfiguration(0x01);
    const firmware = await this.pn532.getFirmwareVersion();
    if (firmware.ic !== 0x32) throw new PN532Error(`not a PN532: IC 0x${firmware.ic.toString(16)}`);
    this.firmware = firmware;
    await this.pn532.setParameters(0x10);
    // search until the host aborts; a passive activation that fails is retried once
    await this.pn532.setRetries(0xff, 0x01, 0xff);
    this.log('info', 'pn532', `PN532 firmware ${firmware.version}.${firmware.revision} ready on ${this.pn532.transport.name}`);
    return firmware;
  }

  /** Resolves with the card once an ISO/IEC 14443-4 target is in the field, or undefined after `timeoutMs`. */
  async waitForCard(timeoutMs: number): Promise<Activation | undefined> {
    if (this.halted) {
      // A released card is halted and answers no search (ISO/IEC 14443-3 HALT state) until it loses
      // power: cycle the field, so a card still in it is found again (that is how its removal shows).
      this.halted = false;
      await this.pn532.setField(false);
      await this.pn532.clock.sleep(FIELD_RESET_MS);
      await this.pn532.setField(true);
    }
    const target = await this.pn532.inListPassiveTarget(timeoutMs);
    if (!target) return undefined;
    if ((target.selRes & 0x20) === 0) {
      this.log('info', 'pn532', 'target does not speak ISO/IEC 14443-4; released');
      await this.release({ target });
      return undefined;
    }
    const activation = ++this.activations;
    const link = new IsoDep({
      pn532: this.pn532,
      tg: target.tg,
      timeoutMs: this.exchangeTimeoutMs,
      uid: toHex(target.uid),
      activation,
      currentActivation: () => this.activations,
    });
    return { target, link };
  }

  async release(tap: Pick<Activation, 'target'>): Promise<void> {
    this.halted = true;
    await this.pn532.inRelease(tap.target.tg);
  }

  close(): void {
    this.pn532.close();
  }
}

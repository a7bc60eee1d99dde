// The PN532 as a card (UM0701-02 7.3.14-7.3.21): TgInitAsTarget makes it an ISO/IEC 14443-4 PICC at
// 106 kbps; the chip answers anticollision, select and RATS itself, and the host gets each C-APDU with
// TgGetData and sends its R-APDU with TgSetData. This turns a second PN532 into a wallet card at the
// bench: an ApduCard (the wallet emulator) answers what the terminal's reader asks.
import { concatBytes } from '../../firmware/base/bytes';
import { checkStatus, PN532Command, PN532, PN532Error, PN532TimeoutError } from './pn532';

/** SetParameters bit: the chip handles ISO/IEC 14443-4 (ISO-DEP) blocks in card emulation. */
const PARAM_ISO14443_4_PICC = 0x20;
/** TgInitAsTarget mode: passive only, and only as an ISO/IEC 14443-4 PICC (no DEP, no FeliCa). */
const MODE_PASSIVE_PICC = 0x01 | 0x04;
/** Largest DataIn/DataOut one TgGetData/TgSetData frame carries. */
const MAX_PART_BYTES = 262;
/** TgGetData statuses that mean the reader has released or deselected this card: the session is over. */
const SESSION_OVER = [0x29, 0x25, 0x31, 0x0a, 0x01];

/** What answers the APDUs: the wallet emulator, a test card. */
export interface ApduCard {
  transceive(apdu: Uint8Array): Promise<Uint8Array> | Uint8Array;
}

export interface CardIdentity {
  /** SENS_RES (ATQA) as a 16-bit number, e.g. 0x0004. */
  sensRes: number;
  /** The three UID bytes after the 0x08 the chip puts first (a random-UID single-size card). */
  nfcid1: Uint8Array;
  /** SEL_RES (SAK); bit 0x20 says ISO/IEC 14443-4. */
  selRes: number;
  /** Historical bytes of the ATS. */
  historical: Uint8Array;
}

export const DEFAULT_CARD_IDENTITY: CardIdentity = {
  sensRes: 0x0004,
  nfcid1: Uint8Array.of(0x54, 0x4c, 0x4e),
  selRes: 0x20,
  historical: new Uint8Array(0),
};

/** The reader deselected or released the emulated card, or took its field away: the session is over. */
export class TargetReleasedError extends PN532Error {
  override readonly name: string = 'TargetReleasedError';
}

/** One activation by a reader: what its RATS said, and the exchanges that followed. */
export interface Session {
  /** The Mode byte of TgInitAsTarget's answer (baud rate, ISO-DEP, framing). */
  mode: number;
  /** The reader's first command as the chip reports it (the RATS for an ISO-DEP activation). */
  initiatorCommand: Uint8Array;
}

export class PN532Card {
  readonly pn532: PN532;
  private readonly identity: CardIdentity;

  constructor(options: { pn532: PN532; identity?: Partial<CardIdentity> }) {
    this.pn532 = options.pn532;
    this.identity = { ...DEFAULT_CARD_IDENTITY, ...options.identity };
    if (this.identity.nfcid1.length !== 3) throw new RangeError('nfcid1: 3 bytes (the chip puts 0x08 first)');
    if (this.identity.historical.length > 48) throw new RangeError('at most 48 historical bytes');
  }

  /** SAMConfiguration (HSU needs it first), checks the chip, turns on ISO-DEP card emulation. */
  async begin(): Promise<void> {
    await this.pn532.samConfiguration(0x01);
    const firmware = await this.pn532.getFirmwareVersion();
    if (firmware.ic !== 0x32) throw new PN532Error(`not a PN532: IC 0x${firmware.ic.toString(16)}`);
    await this.pn532.setParameters(PARAM_ISO14443_4_PICC);
  }

  /** TgInitAsTarget: resolves once a reader has activated the card, or undefined after `timeoutMs`. */
  async waitForReader(timeoutMs: number): Promise<Session | undefined> {
    const { sensRes, nfcid1, selRes, historical } = this.identity;
    const params = concatBytes(
      Uint8Array.of(MODE_PASSIVE_PICC),
      // MIFARE params: SENS_RES low byte first, NFCID1t, SEL_RES
      Uint8Array.of(sensRes & 0xff, sensRes >> 8),
      nfcid1,
      Uint8Array.of(selRes),
      new Uint8Array(18), // FeliCa params: not emulated
      new Uint8Array(10), // NFCID3t: no DEP
      Uint8Array.of(0), // no general bytes
      Uint8Array.of(historical.length),
      historical,
    );
    let r: Uint8Array;
    try {
      r = await this.pn532.command(PN532Command.TgInitAsTarget, params, { timeoutMs, resend: false });
    } catch (error) {
      if (error instanceof PN532TimeoutError && error.phase === 'response') return undefined;
      throw error;
    }
    if (r.length < 1) throw new PN532Error('TgInitAsTarget: empty answer');
    return { mode: r[0]!, initiatorCommand: r.slice(1) };
  }

  /** The next C-APDU from the reader (TgGetData, gathering MI parts). Throws TargetReleasedError when it has gone. */
  async receive(timeoutMs: number): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    for (let more = true; more; ) {
      const r = await this.pn532.command(PN532Command.TgGetData, undefined, { timeoutMs, resend: false });
      let status: number;
      try {
        status = checkStatus(r, 'TgGetData');
      } catch (error) {
        const code = (error as PN532Error).status;
        if (code !== undefined && SESSION_OVER.includes(code)) throw new TargetReleasedError(`reader released the card (status 0x${code.toString(16)})`, code);
        throw error;
      }
      parts.push(r.subarray(1));
      more = (status & 0x40) !== 0;
      if (parts.length > 256) throw new PN532Error('TgGetData: chained command longer than 64 KB');
    }
    return concatBytes(...parts);
  }

  /** Sends the R-APDU (TgSetMetaData for all but the last part of a long one, then TgSetData). */
  async send(response: Uint8Array): Promise<void> {
    for (let at = 0; ; at += MAX_PART_BYTES) {
      const last = at + MAX_PART_BYTES >= response.length;
      const part = response.subarray(at, Math.min(response.length, at + MAX_PART_BYTES));
      const r = await this.pn532.command(last ? PN532Command.TgSetData : PN532Command.TgSetMetaData, part, { maxResponseBytes: 2, resend: false });
      try {
        checkStatus(r, last ? 'TgSetData' : 'TgSetMetaData');
      } catch (error) {
        const code = (error as PN532Error).status;
        if (code !== undefined && SESSION_OVER.includes(code)) throw new TargetReleasedError(`reader released the card (status 0x${code.toString(16)})`, code);
        throw error;
      }
      if (last) return;
    }
  }

  /**
   * Serves one activation: every C-APDU to `card`, its R-APDU back, until the reader releases the card.
   * Resolves with the number of APDUs answered.
   */
  async serve(card: ApduCard, timeoutMs: number): Promise<number> {
    let answered = 0;
    for (;;) {
      let apdu: Uint8Array;
      try {
        apdu = await this.receive(timeoutMs);
      } catch (error) {
        if (error instanceof TargetReleasedError) return answered;
        throw error;
      }
      const response = await card.transceive(apdu);
      try {
        await this.send(response);
      } catch (error) {
        if (error instanceof TargetReleasedError) return answered;
        throw error;
      }
      answered++;
    }
  }

  close(): void {
    this.pn532.close();
  }
}

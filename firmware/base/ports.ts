// The seams between the terminal's logic and the parts around it. The payment core (firmware/core)
// depends only on these; drivers/ and the journal implement them; tests and the simulator plug in
// their own. Keep them small: each is what the core truly needs, not what a part happens to offer.
import { TaplineError } from './errors';

/** An activated ISO/IEC 14443-4 target (a card or a phone wallet), exchanging ISO 7816-4 APDUs. */
export interface CardLink {
  /** Sends a C-APDU and resolves with the whole R-APDU (data + SW1 SW2). Throws CardLostError. */
  transceive(apdu: Uint8Array): Promise<Uint8Array>;
  /**
   * Which card answers and in which activation of the field: its UID and the reader's activation
   * number, e.g. "04a1b2c3/17". A tap refuses a link whose session changes between READ CERTIFICATE
   * and PAY (a card swapped in). A link that cannot tell leaves it out.
   */
  session?(): string;
}

/** The card left the field (or stopped answering) in the middle of an exchange. */
export class CardLostError extends TaplineError {
  override readonly name: string = 'CardLostError';
  constructor(message = 'card removed') {
    super(message);
  }
}

/** Where records that are money go: resolves only once the record is durable (it survives a power cut). */
export interface DurableLog {
  /** Appends one record of `type`; resolves with its journal sequence number. Throws JournalFullError. */
  append(type: number, payload: Uint8Array): Promise<number>;
  /** True while an append of `bytes` would fit without overwriting anything unacknowledged. */
  canAppend(bytes: number): boolean;
}

export class JournalFullError extends TaplineError {
  override readonly name: string = 'JournalFullError';
  constructor(message = 'journal full: connect to upload') {
    super(message);
  }
}

/**
 * What the device keeps across a restart (NVS on the device, a plain object on a host): how often it
 * booted, how often a bug restarted it, and the last bug's cause. Written before the restart it counts.
 */
export interface BootRecord {
  boots: number;
  bugRestarts: number;
  /** Bug restarts in a row that came before boot finished: a bug that boot hits every time. */
  bootBugStreak: number;
  /** The last bug, `Name: message`, empty before the first. */
  lastCause: string;
}

export interface BootRecordStore {
  /** The record last saved; undefined on a device that never saved one. */
  load(): BootRecord | undefined;
  save(record: BootRecord): void;
}

/** Restarts the device at once (esp_restart on the ESP32); on a host, whatever models a restart there. */
export type Restart = (cause: string) => void;

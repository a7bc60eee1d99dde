// The payer's secure element on the host: keys, certificate, balance, monotonic counter, PIN with a
// retry limit, and the APDUs of the wallet application. It is itself a CardLink, so a terminal can tap
// it directly or through the simulated PN532. Platform-free: it runs on XS too.
import type { CardLink } from '../../firmware/base/ports';
import {
  ApduError,
  CLA_ISO,
  CLA_PROPRIETARY,
  decodeCommand,
  encodeResponse,
  INS_PAY,
  BALANCE_BYTES,
  INS_READ_BALANCE,
  INS_READ_CERTIFICATE,
  INS_READ_TRANSIT_LOG,
  INS_RECALL,
  INS_READ_PURSE,
  INS_REFUND,
  INS_TERMINAL_CERTIFICATE,
  INS_SELECT,
  INS_VERIFY_PIN,
  isSelectOf,
  SW,
} from '../../firmware/core/protocol/apdu';
import {
  decodeCertificate,
  decodePayRequest,
  decodePayResponse,
  encodePayResponse,
  encodePayResponseBody,
  paymentSignedPayload,
  MAX_CHALLENGE_BYTES,
  MIN_CHALLENGE_BYTES,
  type Certificate,
} from '../../firmware/core/protocol/messages';
import { TlvError } from '../../firmware/core/protocol/tlv';
import { encodeRecallResponse } from '../../firmware/core/protocol/intent';
import { concatBytes, equalBytes } from '../../firmware/base/bytes';
import { sign } from './issuer';
import { OfflineSpend, type OfflineSpent } from './offline-caps';
import { Purses, type BoundBalance } from './purses';
import { encodePurseResponse } from '../../firmware/core/protocol/purpose';
import type { TransitEntry } from '../../firmware/core/protocol/transit-log';
import { WalletTransitLog } from './transit-log';
import { encodeWalletSync, type SignedExchange } from './sync';
import { RefundBook, type BookEntry, type RefundRoot } from './refunds';

export type WalletProfile = 'card' | 'phone';

export interface WalletOptions {
  /** "card": holder verified only by a PIN keyed on the terminal; "phone": by the phone itself. */
  profile: WalletProfile;
  certificate: Uint8Array;
  secretKey: Uint8Array;
  balance: number;
  /** Counter before the first payment (default 0). */
  counter?: number;
  /** Card profile: the PIN the terminal may present with VERIFY. */
  pin?: string;
  /** Wrong PINs before the PIN blocks (default 3). */
  pinTries?: number;
  /** Tries left when loaded (default: all of them); a secure element keeps this across power-off. */
  pinTriesLeft?: number;
  /** Phone profile: the holder unlocked the wallet (biometric or passcode) before tapping. */
  holderVerified?: boolean;
  /** Signs with the wallet's key in place of the pure-JS signer (a benchmark making many receipts). */
  sign?: (message: Uint8Array) => Uint8Array;
  /** Signed PAY responses kept for RECALL, newest last (default 8). */
  logSize?: number;
  /** The signed exchanges kept across power-off, oldest first, and the counter the log is whole from. */
  signedLog?: SignedExchange[];
  heldFrom?: number;
  /** Spent offline since the last sync with the issuer, against the certificate's caps (default none). */
  offlineSpent?: OfflineSpent;
  /** Bound balances with their issuer-signed grants (purpose-bound funds), and the one the holder chose. */
  purses?: BoundBalance[];
  payWith?: number;
  /** The transit log as kept across power-off (default: empty). */
  transitLog?: TransitEntry[];
  /** Offline refunds: the root key terminal certificates are signed with (absent: the wallet takes none). */
  refundRoot?: RefundRoot;
  /** The payments it may be refunded for, as kept across power-off (default: none). */
  refundBook?: BookEntry[];
}

interface Signed {
  challenge: Uint8Array;
  /** The request as received: with it the exchange verifies on its own, at the service (a sync). */
  request: Uint8Array;
  counter: number;
  /** The whole R-APDU as sent, so a repeated PAY or a RECALL gets the same bytes. */
  rapdu: Uint8Array;
}

const MAX_COUNTER = 0xffffffff;

export class WalletEmulator implements CardLink {
  readonly profile: WalletProfile;
  readonly certificate: Uint8Array;
  readonly info: Certificate;
  #balance: number;
  #counter: number;
  #pin: string | undefined;
  #pinTries: number;
  #triesLeft: number;
  #phoneVerified: boolean;
  #sign: (message: Uint8Array) => Uint8Array;
  #selected = false;
  #pinVerified = false;
  #log: Signed[] = [];
  #logSize: number;
  /** Every response signed with a counter at or above this one is in the log. */
  #heldFrom: number;
  readonly #offline: OfflineSpend;
  /** The bound balances; `balance` is the free money. */
  readonly purses: Purses;
  readonly #transit: WalletTransitLog;
  readonly #refunds: RefundBook;

  constructor(options: WalletOptions) {
    this.profile = options.profile;
    this.certificate = options.certificate;
    this.info = decodeCertificate(options.certificate);
    this.#balance = options.balance;
    this.#counter = options.counter ?? 0;
    this.#pin = options.pin;
    this.#pinTries = options.pinTries ?? 3;
    this.#triesLeft = options.pinTriesLeft ?? this.#pinTries;
    if (!Number.isInteger(this.#triesLeft) || this.#triesLeft < 0 || this.#triesLeft > this.#pinTries) {
      throw new RangeError(`PIN tries left ${this.#triesLeft} outside 0..${this.#pinTries}`);
    }
    this.#phoneVerified = options.holderVerified ?? false;
    this.#sign = options.sign ?? ((m) => sign({ alg: this.info.alg, secretKey: options.secretKey }, m));
    this.#logSize = options.logSize ?? 8;
    this.#heldFrom = options.heldFrom ?? this.#counter + 1;
    for (const e of options.signedLog ?? []) {
      const response = decodePayResponse(e.response);
      this.#log.push({ challenge: decodePayRequest(e.request).challenge, request: e.request, counter: response.counter, rapdu: concatBytes(e.response, Uint8Array.of(0x90, 0x00)) });
    }
    this.#offline = new OfflineSpend(this.info, options.offlineSpent);
    this.purses = new Purses(this.info.walletId, options.purses);
    this.purses.choose(options.payWith);
    this.#transit = new WalletTransitLog(options.transitLog);
    this.#refunds = new RefundBook(options.refundRoot, options.refundBook);
  }

  /** The payments it may be refunded for, with what each was refunded (kept across power-off). */
  get refundBook(): BookEntry[] {
    return this.#refunds.entries;
  }

  /** Spent offline since the last sync (what the wallet's caps count). */
  get offlineSpent(): OfflineSpent {
    return this.#offline.spent;
  }

  /** The wallet synced with its issuer: its offline caps count from zero again. */
  synced(): void {
    this.#offline.synced();
  }

  /** The transit log's entries, oldest first (kept across power-off with the balance). */
  get transitLog(): TransitEntry[] {
    return this.#transit.entries;
  }

  /** The payments this wallet signed and still holds, oldest first (what it would report to its issuer). */
  get signedLog(): { challenge: Uint8Array; counter: number; request: Uint8Array; response: Uint8Array }[] {
    return this.#log.map((e) => ({ challenge: e.challenge, counter: e.counter, request: e.request, response: e.rapdu.subarray(0, e.rapdu.length - 2) }));
  }

  /** Every exchange signed at or above this counter is in the log. */
  get heldFrom(): number {
    return this.#heldFrom;
  }

  /**
   * The wallet's sync with its service (host/wallet/sync.ts): what it holds, signed with its own key over
   * the service's fresh nonce.
   */
  syncMessage(nonce: Uint8Array): Uint8Array {
    return encodeWalletSync(
      { certificate: this.certificate, nonce, counter: this.#counter, heldFrom: this.#heldFrom, entries: this.#log.map((e) => ({ request: e.request, response: e.rapdu.subarray(0, e.rapdu.length - 2) })) },
      this.#sign,
    );
  }

  get balance(): number {
    return this.#balance;
  }

  get counter(): number {
    return this.#counter;
  }

  get pinTriesLeft(): number {
    return this.#triesLeft;
  }

  /** Phone profile: the holder unlocks (or locks) the wallet. */
  setHolderVerified(verified: boolean): void {
    this.#phoneVerified = verified;
  }

  /** The wallet left the field: the session (selection, verified PIN) ends. */
  removed(): void {
    this.#selected = false;
    this.#pinVerified = false;
    this.#refunds.endSession();
  }

  async transceive(apdu: Uint8Array): Promise<Uint8Array> {
    return this.answer(apdu);
  }

  /** Synchronous form of transceive, for callers that meter one exchange. */
  answer(apdu: Uint8Array): Uint8Array {
    let command;
    try {
      command = decodeCommand(apdu);
    } catch (e) {
      if (e instanceof ApduError) return status(SW.wrongLength);
      throw e;
    }
    if (command.cla === CLA_ISO && command.ins === INS_SELECT) {
      this.#selected = isSelectOf(command);
      this.#pinVerified = false;
      this.#refunds.endSession();
      return this.#selected ? status(SW.ok) : status(SW.fileNotFound);
    }
    if (command.cla !== CLA_ISO && command.cla !== CLA_PROPRIETARY) return status(SW.claNotSupported);
    if (!this.#selected) return status(SW.conditionsNotSatisfied);
    if (command.cla === CLA_ISO && command.ins === INS_VERIFY_PIN) return this.#verifyPin(command.data);
    if (command.cla === CLA_PROPRIETARY && command.ins === INS_READ_CERTIFICATE) return encodeResponse(this.certificate, SW.ok);
    if (command.cla === CLA_PROPRIETARY && command.ins === INS_PAY) return this.#pay(command.data);
    if (command.cla === CLA_PROPRIETARY && command.ins === INS_READ_BALANCE) return encodeResponse(balanceBytes(this.#balance), SW.ok);
    if (command.cla === CLA_PROPRIETARY && command.ins === INS_RECALL) return this.#recall(command.data);
    if (command.cla === CLA_PROPRIETARY && command.ins === INS_READ_PURSE) return encodeResponse(encodePurseResponse(this.purses.choice()), SW.ok);
    if (command.cla === CLA_PROPRIETARY && command.ins === INS_READ_TRANSIT_LOG) return encodeResponse(this.#transit.read(this.#counter), SW.ok);
    if (command.cla === CLA_PROPRIETARY && command.ins === INS_TERMINAL_CERTIFICATE) return status(this.#refunds.present(command.data));
    if (command.cla === CLA_PROPRIETARY && command.ins === INS_REFUND) return this.#refunds.refund(command.data, this.#refundWallet());
    return status(SW.insNotSupported);
  }

  #refundWallet() {
    return {
      info: this.info,
      certificate: this.certificate,
      exhausted: () => this.#counter >= MAX_COUNTER,
      sign: this.#sign,
      credit: (purse: number | undefined, amount: number) => {
        this.#counter++;
        const balanceAfter = purse === undefined ? (this.#balance += amount) : this.purses.credit(purse, amount);
        this.#offline.credited(amount);
        return { counter: this.#counter, balanceAfter };
      },
    };
  }

  #verifyPin(data: Uint8Array): Uint8Array {
    if (this.profile !== 'card' || this.#pin === undefined) return status(SW.insNotSupported);
    if (this.#triesLeft === 0) return status(SW.pinBlocked);
    let pin = '';
    for (const b of data) pin += String.fromCharCode(b);
    if (pin === this.#pin) {
      this.#triesLeft = this.#pinTries;
      this.#pinVerified = true;
      return status(SW.ok);
    }
    this.#triesLeft--;
    this.#pinVerified = false;
    return status(this.#triesLeft === 0 ? SW.pinBlocked : SW.pinWrongBase + this.#triesLeft);
  }

  #pay(data: Uint8Array): Uint8Array {
    let request;
    try {
      request = decodePayRequest(data);
    } catch (e) {
      if (e instanceof TlvError) return status(SW.wrongData);
      throw e;
    }
    // The same request again (its answer was lost): the same answer, not a second debit.
    const done = this.#find(request.challenge);
    if (done) return done.rapdu;
    const bound = request.bound;
    const refused = bound ? this.purses.refusal(request) : request.amount > this.#balance ? SW.insufficientBalance : undefined;
    if (refused !== undefined) return status(refused);
    if (request.amount > this.info.singleLimit) return status(SW.overWalletLimit);
    const capped = this.#offline.refusal(request.amount);
    if (capped !== undefined) return status(capped);
    if (this.#counter >= MAX_COUNTER) return status(SW.conditionsNotSatisfied);
    const holderVerified = this.profile === 'phone' ? this.#phoneVerified : this.#pinVerified;
    if (request.cvmRequired && !holderVerified) return status(SW.securityNotSatisfied);
    if (request.transit && this.#transit.refusal(request.transit, this.#counter) !== undefined) return status(SW.transitLogMismatch);
    // Counter, balance and transit log move before the signature leaves: a torn exchange never yields a reusable one.
    this.#counter++;
    let balanceAfter: number;
    if (bound) balanceAfter = this.purses.debit(bound.purse, request.amount);
    else balanceAfter = this.#balance -= request.amount;
    this.#offline.paid(request.amount);
    if (request.transit) {
      // a tap-off's refund goes back to the free money
      this.#balance += request.transit.refund;
      if (!bound) balanceAfter = this.#balance;
      this.#transit.add(request.transit, request.amount, request.terminalTime, this.#counter);
    }
    this.#pinVerified = false;
    const body = { counter: this.#counter, balanceAfter, holderVerified };
    const payload = paymentSignedPayload(this.info.alg, this.certificate, data, encodePayResponseBody(body));
    const rapdu = encodeResponse(encodePayResponse(body, this.#sign(payload)), SW.ok);
    this.#log.push({ challenge: request.challenge, request: data.slice(), counter: this.#counter, rapdu });
    const signature = rapdu.subarray(rapdu.length - 2 - 64, rapdu.length - 2);
    this.#refunds.paid({ counter: this.#counter, terminalId: request.terminalId, terminalSeq: request.terminalSeq, amount: request.amount, signature: signature.slice(), ...(bound ? { purse: bound.purse } : {}) });
    if (this.#log.length > this.#logSize) this.#heldFrom = this.#log.shift()!.counter + 1;
    return rapdu;
  }

  #find(challenge: Uint8Array): Signed | undefined {
    return this.#log.find((e) => equalBytes(e.challenge, challenge));
  }

  #recall(challenge: Uint8Array): Uint8Array {
    if (challenge.length < MIN_CHALLENGE_BYTES || challenge.length > MAX_CHALLENGE_BYTES) return status(SW.wrongData);
    const done = this.#find(challenge);
    const response = done?.rapdu.subarray(0, done.rapdu.length - 2);
    return encodeResponse(encodeRecallResponse(response ? { heldFrom: this.#heldFrom, response } : { heldFrom: this.#heldFrom }), SW.ok);
  }
}

function status(sw: number): Uint8Array {
  return Uint8Array.from([sw >> 8, sw & 0xff]);
}

function balanceBytes(balance: number): Uint8Array {
  const out = new Uint8Array(BALANCE_BYTES);
  let n = balance;
  for (let i = BALANCE_BYTES - 1; i >= 0; i--) {
    out[i] = n % 256;
    n = Math.floor(n / 256);
  }
  return out;
}

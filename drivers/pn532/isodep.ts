// ISO/IEC 7816-4 APDUs to an activated ISO/IEC 14443-4 target through the PN532. The chip does the
// ISO-DEP block protocol; this layer adds what ISO 7816-4 asks of the terminal: GET RESPONSE on 61xx,
// a resend with the right Le on 6Cxx, and turning a lost RF link into CardLostError.
import { TaplineError } from '../../firmware/base/errors';
import { CardLostError, type CardLink } from '../../firmware/base/ports';
import { checkRange } from '../io';
import { PN532, PN532Error } from './pn532';

export class IsoDepError extends TaplineError {
  override readonly name: string = 'IsoDepError';
}

export interface IsoDepOptions {
  pn532: PN532;
  /** The target number InListPassiveTarget gave. */
  tg: number;
  timeoutMs?: number;
  /** Bound on GET RESPONSE rounds for one command. */
  maxGetResponse?: number;
  /** The card's UID (hex) and the activation that found it, with the reader's current activation. */
  uid?: string;
  activation?: number;
  currentActivation?: () => number;
}

/** The link's settings, in one private field (XS reads a private field several times slower than a property). */
interface Link {
  readonly pn532: PN532;
  readonly tg: number;
  readonly timeoutMs: number | undefined;
  readonly maxGetResponse: number;
  readonly uid: string;
  readonly activation: number;
  readonly currentActivation: (() => number) | undefined;
}

export class IsoDep implements CardLink {
  readonly #link: Link;

  constructor(options: IsoDepOptions) {
    this.#link = {
      pn532: options.pn532,
      tg: checkRange('IsoDep tg', options.tg, 1, 2),
      timeoutMs: options.timeoutMs === undefined ? undefined : checkRange('IsoDep timeoutMs', options.timeoutMs, 1, 600_000),
      maxGetResponse: checkRange('IsoDep maxGetResponse', options.maxGetResponse ?? 32, 1, 255),
      uid: options.uid ?? '',
      activation: options.activation ?? 0,
      currentActivation: options.currentActivation,
    };
  }

  /** The target number InListPassiveTarget gave. */
  get tg(): number {
    return this.#link.tg;
  }

  /** "UID/activation"; once the reader has activated another target since, this link's session is over. */
  session(): string {
    const { uid, activation, currentActivation } = this.#link;
    const over = currentActivation !== undefined && currentActivation() !== activation;
    return `${uid}/${activation}${over ? ' (ended)' : ''}`;
  }

  async transceive(apdu: Uint8Array): Promise<Uint8Array> {
    const link = this.#link;
    if (apdu.length < 4) throw new IsoDepError(`C-APDU of ${apdu.length} bytes: at least CLA INS P1 P2`);
    let response = await exchange(link, apdu);
    if (response[response.length - 2] === 0x6c && hasShortLe(apdu)) {
      // wrong Le: the card says how many bytes it has
      const again = apdu.slice();
      again[again.length - 1] = response[response.length - 1]!;
      response = await exchange(link, again);
    }
    const parts: Uint8Array[] = [];
    let total = 0;
    for (let round = 0; response[response.length - 2] === 0x61; round++) {
      if (round >= link.maxGetResponse) throw new IsoDepError(`more than ${link.maxGetResponse} GET RESPONSE rounds`);
      parts.push(response.subarray(0, response.length - 2));
      total += response.length - 2;
      // GET RESPONSE on the command's logical channel
      response = await exchange(link, Uint8Array.of(apdu[0]! & 0x03, 0xc0, 0x00, 0x00, response[response.length - 1]!));
    }
    if (parts.length === 0) return response;
    const out = new Uint8Array(total + response.length);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    out.set(response, at);
    return out;
  }
}

async function exchange(link: Link, apdu: Uint8Array): Promise<Uint8Array> {
  let response: Uint8Array;
  try {
    response = await link.pn532.inDataExchange(link.tg, apdu, link.timeoutMs);
  } catch (error) {
    // the chip's status says the target is gone (see STATUS_KINDS); a timeout carries no status
    if (error instanceof PN532Error && (error.statusKind === 'rfLink' || error.statusKind === 'wrongState'))
      throw new CardLostError(`card lost: ${error.message}`);
    throw error;
  }
  if (response.length < 2) throw new IsoDepError(`R-APDU of ${response.length} bytes: no status word`);
  return response;
}

/** True for a short C-APDU that ends with Le (case 2 or case 4), whose Le a 6Cxx answer corrects. */
function hasShortLe(apdu: Uint8Array): boolean {
  if (apdu.length === 5) return true;
  return apdu.length > 5 && apdu[4] !== 0 && apdu.length === 5 + apdu[4]! + 1;
}

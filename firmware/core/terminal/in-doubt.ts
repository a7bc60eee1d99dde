// The terminal's open intents: payments whose PAY was (or may have been) sent and whose outcome is not
// yet journaled (docs/PROTOCOL.md, "A power cut after PAY"). Rebuilt at boot from the state checkpoint
// plus the intent, receipt and release records after it; carried in every checkpoint, so a reclaim
// never drops one. Also the highest terminal sequence ever handed out, so none is used twice.
import { decodeFields, required, decodeTlv, decodeUint, encodeTlv, encodeUint, TlvError, type FieldRule } from '../protocol/tlv';
import { decodeIntent, decodeRelease, encodeIntent, RECORD_INTENT, RECORD_RELEASE, MAX_INTENT_BYTES, type Intent } from '../protocol/intent';
import { receiptSeq, RECORD_RECEIPT } from '../protocol/receipt';

/** Open intents kept at most: beyond it the terminal declines until an upload hands them over. */
export const MAX_OPEN_INTENTS = 16;

const S = { lastSeq: 0x80, intents: 0x81 } as const;
const RULES: Record<number, FieldRule> = {
  [S.lastSeq]: { min: 4, max: 4 },
  [S.intents]: { min: 0, max: MAX_OPEN_INTENTS * (MAX_INTENT_BYTES + 3) },
};

export class InDoubt {
  /** Highest terminal sequence number handed to an intent or a receipt. */
  lastSeq = 0;
  readonly #open = new Map<number, Intent>();

  get open(): Intent[] {
    return [...this.#open.values()];
  }

  get full(): boolean {
    return this.#open.size >= MAX_OPEN_INTENTS;
  }

  openFor(walletId: string): Intent[] {
    return this.open.filter((i) => i.walletId === walletId);
  }

  opened(i: Intent): void {
    this.#open.set(i.terminalSeq, i);
    this.lastSeq = Math.max(this.lastSeq, i.terminalSeq);
  }

  /** The receipt or the release for `terminalSeq` is journaled. */
  closed(terminalSeq: number): void {
    this.#open.delete(terminalSeq);
    this.lastSeq = Math.max(this.lastSeq, terminalSeq);
  }

  /** Boot: one journal record after the checkpoint. Throws TlvError for one that does not parse. */
  replay(type: number, payload: Uint8Array): void {
    if (type === RECORD_INTENT) this.opened(decodeIntent(payload));
    else if (type === RECORD_RELEASE) this.closed(decodeRelease(payload));
    else if (type === RECORD_RECEIPT) this.closed(receiptSeq(payload));
  }

  encode(): Uint8Array {
    return encodeTlv([
      { tag: S.lastSeq, value: encodeUint(this.lastSeq, 4) },
      { tag: S.intents, value: encodeTlv(this.open.map((i) => ({ tag: 0x82, value: encodeIntent(i) }))) },
    ]);
  }

  static decode(bytes: Uint8Array): InDoubt {
    const f = decodeFields(bytes, RULES, 16 + MAX_OPEN_INTENTS * (MAX_INTENT_BYTES + 3));
    const d = new InDoubt();
    const list = decodeTlv(required(f, S.intents), { maxBytes: MAX_OPEN_INTENTS * (MAX_INTENT_BYTES + 3), maxFields: MAX_OPEN_INTENTS });
    for (const { tag, value } of list) {
      if (tag !== 0x82) throw new TlvError(`unexpected tag ${tag.toString(16)} in the intent list`);
      d.opened(decodeIntent(value));
    }
    d.lastSeq = Math.max(d.lastSeq, decodeUint(required(f, S.lastSeq)));
    return d;
  }
}

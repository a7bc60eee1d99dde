// Re-verifying a stored receipt offline: what the settlement service does for every receipt and the
// terminal for a deferred one. It lives beside the checks it composes, above the receipt's codec.
import { DeclineError, type Decline, decline } from '../../base/reasons';
import { decodeReceipt, openReceipt, type Receipt, type ReceiptContent } from '../protocol/receipt';
import { TlvError } from '../protocol/tlv';
import { issuerKeyFor, checkDates, checkCertificateSignature, checkPaymentSignature, type KeyLookup } from './certificate';
import type { IssuerKey } from './keyring';
import { checkGrantSignature } from './grant';
import { verifySignature, type VerifyFn } from './verify';

export type ReceiptCheck = ({ ok: true } & ReceiptContent) | { ok: false; reason: Decline };

/**
 * Re-verifies a receipt offline: the envelope and messages parse, the certificate is signed by a known,
 * unrevoked issuer key, issuer key and certificate were valid at the payment's time (the terminal's time
 * if it knew it, else `now`, unix seconds), and the wallet signed this exact exchange. `verify` is the
 * signature primitive: a server may pass a native one with the same contract.
 */
export function verifyReceipt(
  receipt: Receipt | Uint8Array,
  issuerKeys: IssuerKey[] | KeyLookup,
  now: number,
  verify: VerifyFn = verifySignature,
): ReceiptCheck {
  const keys: KeyLookup = Array.isArray(issuerKeys) ? new Map(issuerKeys.map((k) => [k.keyId, k])) : issuerKeys;
  try {
    const r = receipt instanceof Uint8Array ? decodeReceipt(receipt) : receipt;
    const content = openReceipt(r);
    const key = issuerKeyFor(content.certificate, keys);
    checkDates(content.certificate, key, content.request.terminalTime || now);
    checkCertificateSignature(content.certificate, key, verify);
    checkPaymentSignature(content.certificate, r.request, content.response, verify);
    // Where a bound payment may be spent is the service's check (it knows the terminal's place).
    if (content.grant) checkGrantSignature(content.grant, content.certificate, keys, verify);
    return { ok: true, ...content };
  } catch (e) {
    if (e instanceof DeclineError) return { ok: false, reason: e.decline };
    if (e instanceof TlvError) return { ok: false, reason: decline('protocol', e.message) };
    throw e;
  }
}

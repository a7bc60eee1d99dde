// Which of the wallet's balances pays: the terminal asks for the bound balance the holder chose (READ
// PURSE) and, before the wallet signs, declines one that may not be spent here (its grant's categories,
// regions, expiry) or whose grant is not its issuer's. A wallet without bound balances pays with its
// free money. The wallet checks the same grant itself: the terminal's check is so that the holder is
// told why, and so that a terminal never journals a bound payment its own rules forbid.
import { type ResponseApdu, SW } from '../protocol/apdu';
import type { Certificate, PayRequest } from '../protocol/messages';
import { decodeGrant, decodePurseResponse, type Grant, type MerchantPlace } from '../protocol/purpose';
import { checkGrant } from '../crypto/grant';
import type { Verifier } from '../crypto/verifier';
import { DeclineError } from '../../base/reasons';

/** The grant of the balance that pays, checked, or undefined for free money. Throws DeclineError or TlvError. */
export function boundBalance(r: ResponseApdu, cert: Certificate, verifier: Verifier, place: MerchantPlace, time: number | undefined, amount: number): Grant | undefined {
  if (r.sw === SW.insNotSupported) return undefined;
  if (r.sw !== SW.ok) throw new DeclineError('cardError', `READ PURSE answered ${r.sw.toString(16)}`);
  const choice = decodePurseResponse(r.data);
  if (!choice) return undefined;
  const grant = decodeGrant(choice.grant);
  checkGrant(grant, cert, verifier.keyring, place, time, verifier.verify);
  if (amount > choice.balance) throw new DeclineError('insufficientBalance', `purse ${grant.purse} (${grant.program}) holds ${choice.balance}`);
  return grant;
}

/** The request's fields naming the bound balance and where it is spent. */
export function boundFields(grant: Grant | undefined, place: MerchantPlace): Pick<PayRequest, 'bound'> {
  return grant ? { bound: { purse: grant.purse, merchantCategory: place.category, region: place.region } } : {};
}

// The checks a bound balance's grant must pass before it pays, shared by the terminal (at the tap) and
// the settlement service (re-verifying the receipt): it belongs to the wallet in the field, its issuer
// key is known and usable, the issuer signed it, and it allows this merchant, region and time.
import { DeclineError } from '../../base/reasons';
import type { Certificate } from '../protocol/messages';
import { grantRefusal, grantSignedPayload, type Grant, type MerchantPlace } from '../protocol/purpose';
import type { KeyLookup } from './certificate';
import { verifySignature, type VerifyFn } from './verify';

/** The grant is its issuer's, for this wallet. Throws DeclineError (badCertificate). */
export function checkGrantSignature(grant: Grant, cert: Certificate, keys: KeyLookup, verify: VerifyFn = verifySignature): void {
  if (grant.walletId !== cert.walletId) throw new DeclineError('badCertificate', `grant of purse ${grant.purse} is for wallet ${grant.walletId}`);
  const key = keys.get(grant.issuerKeyId);
  if (!key || key.alg !== grant.issuerAlg || key.revoked) throw new DeclineError('badCertificate', `grant of purse ${grant.purse}: issuer key ${grant.issuerKeyId} unknown, of another algorithm or revoked`);
  if (!verify(key.alg, key.publicKey, grantSignedPayload(grant.tbs), grant.signature)) {
    throw new DeclineError('badCertificate', `grant of purse ${grant.purse}: issuer signature does not verify`);
  }
}

/** Throws DeclineError: badCertificate for a grant that is not the issuer's for this wallet, purposeMismatch or purposeExpired. */
export function checkGrant(grant: Grant, cert: Certificate, keys: KeyLookup, place: MerchantPlace, time: number | undefined, verify: VerifyFn = verifySignature): void {
  checkGrantSignature(grant, cert, keys, verify);
  const refusal = grantRefusal(grant, place, time);
  if (refusal) {
    const where = `category ${place.category}, region ${place.region}${time === undefined ? ', time unknown' : ''}`;
    throw new DeclineError(refusal, `purse ${grant.purse} (${grant.program}) at ${where}`);
  }
}

// Purpose-bound funds at settlement: a bound payment is paid by its program (the account
// `program:<id>`), not by the wallet's owner, and only where its grant allows. The service checks the
// grant against where the terminal is registered (its merchant category and region) and against the
// place the request names: a bound payment that should not have happened is a finding, not credited.
import { present } from '../../firmware/base/assert';
import { grantRefusal, type Grant } from '../../firmware/core/protocol/purpose';
import type { PayRequest } from '../../firmware/core/protocol/messages';

export interface RegisteredPlace {
  merchant_category: number | null;
  region: number | null;
}

export function programAccount(grant: Grant): string {
  return `program:${grant.program}`;
}

/** Why this bound payment should not have happened, or undefined when its grant allows it. */
export function purposeViolation(grant: Grant, request: PayRequest, terminal: RegisteredPlace): string | undefined {
  const named = present(request.bound, 'a bound request');
  if (terminal.merchant_category === null || terminal.region === null) {
    return `the terminal has no registered merchant category and region, yet took purse ${grant.purse} (${grant.program})`;
  }
  const place = { category: Number(terminal.merchant_category), region: Number(terminal.region) };
  if (named.merchantCategory !== place.category || named.region !== place.region) {
    return `the request names category ${named.merchantCategory}, region ${named.region}; the terminal is registered at ${place.category}, ${place.region}`;
  }
  const refusal = grantRefusal(grant, place, request.terminalTime || undefined);
  if (refusal === 'purposeMismatch') return `${grant.program} may not be spent at category ${place.category}, region ${place.region}`;
  if (refusal === 'purposeExpired') return `${grant.program} expired at ${grant.notAfter}; paid at ${request.terminalTime || 'an unknown time'}`;
  return undefined;
}

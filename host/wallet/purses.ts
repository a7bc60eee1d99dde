// The wallet's bound balances (purpose-bound funds): money its issuer granted for a purpose, each with
// an issuer-signed grant (firmware/core/protocol/purpose.ts) naming the merchant categories, and
// optionally the regions and the expiry, where it may be spent. The secure element refuses PAY from a
// bound balance anywhere else (6A8C) or after its expiry (6A8D), whatever the terminal says.
import { present } from '../../firmware/base/assert';
import {
  SW,
} from '../../firmware/core/protocol/apdu';
import type { PayRequest } from '../../firmware/core/protocol/messages';
import {
  decodeGrant,
  encodeGrant,
  encodeGrantBody,
  grantRefusal,
  grantSignedPayload,
  type Grant,
  type GrantBody,
  type PurseChoice,
} from '../../firmware/core/protocol/purpose';
import { sign, type Issuer } from './issuer';

/** The issuer grants a bound balance: signs where it may be spent. */
export function signGrant(issuer: Issuer, body: Omit<GrantBody, 'issuerKeyId' | 'issuerAlg'>): Uint8Array {
  const full: GrantBody = { ...body, issuerKeyId: issuer.key.keyId, issuerAlg: issuer.key.alg };
  return encodeGrant(full, sign({ alg: issuer.key.alg, secretKey: issuer.secretKey }, grantSignedPayload(encodeGrantBody(full))));
}

export interface BoundBalance {
  grant: Uint8Array;
  balance: number;
}

interface Purse {
  grant: Grant;
  balance: number;
}

export class Purses {
  #purses = new Map<number, Purse>();
  #chosen: number | undefined;

  constructor(walletId: string, balances: BoundBalance[] = []) {
    for (const b of balances) {
      const grant = decodeGrant(b.grant);
      if (grant.walletId !== walletId) throw new RangeError(`grant for wallet ${grant.walletId}, not ${walletId}`);
      if (this.#purses.has(grant.purse)) throw new RangeError(`two grants for purse ${grant.purse}`);
      if (!Number.isSafeInteger(b.balance) || b.balance < 0) throw new RangeError(`purse ${grant.purse}: balance ${b.balance}`);
      this.#purses.set(grant.purse, { grant, balance: b.balance });
    }
  }

  /** The bound balances, by purse. */
  get balances(): { purse: number; program: string; balance: number }[] {
    return [...this.#purses.values()].map((p) => ({ purse: p.grant.purse, program: p.grant.program, balance: p.balance }));
  }

  /** The holder picks the balance the next payments use (undefined: the free money). */
  choose(purse: number | undefined): void {
    if (purse !== undefined && !this.#purses.has(purse)) throw new RangeError(`no purse ${purse}`);
    this.#chosen = purse;
  }

  /** READ PURSE: the chosen bound balance and its grant, or undefined for the free money. */
  choice(): PurseChoice | undefined {
    const p = this.#chosen === undefined ? undefined : this.#purses.get(this.#chosen);
    return p && { balance: p.balance, grant: p.grant.bytes };
  }

  /** The status word refusing a PAY from a bound balance, or undefined when it may pay. */
  refusal(request: PayRequest): number | undefined {
    const bound = present(request.bound, 'a bound request');
    const p = this.#purses.get(bound.purse);
    if (!p) return SW.wrongData;
    const why = grantRefusal(p.grant, { category: bound.merchantCategory, region: bound.region }, request.terminalTime || undefined);
    if (why === 'purposeMismatch') return SW.purposeMismatch;
    if (why === 'purposeExpired') return SW.purposeExpired;
    if (request.amount > p.balance) return SW.insufficientBalance;
    return undefined;
  }

  /** Debits a purse `refusal` allowed; returns its balance after. */
  debit(purse: number, amount: number): number {
    const p = present(this.#purses.get(purse), `purse ${purse}`);
    p.balance -= amount;
    return p.balance;
  }

  /** Credits a purse back (an offline refund of a bound payment); returns its balance after. */
  credit(purse: number, amount: number): number {
    const p = this.#purses.get(purse);
    if (!p) throw new RangeError(`no purse ${purse}`);
    p.balance += amount;
    return p.balance;
  }
}

// Transit fare rules as the device takes them: from the provisioning file (a signed fare-rules update,
// verified against the root key at boot) and from later signed updates (firmware/app/online.ts). The
// rules are for the terminal's operator (its merchant id) or refused, and priced at its station.
import { fromHex } from '../base/bytes';
import type { Log } from '../base/platform';
import { parseFareRules } from '../core/fares/rules';
import { algId, type Provisioning } from '../core/provisioning';
import type { TransitFares } from '../core/terminal/fare-tap';
import { UPDATE_FARE_RULES, UpdateError, verifyUpdate } from '../core/uplink/updates';
import type { VerifyFn } from '../core/crypto/verify';

/** Fares of a rules object (from a verified update of `version`) at this terminal's station. Throws FareRulesError. */
export function faresAt(p: Provisioning, rules: Record<string, unknown>, version: number): TransitFares {
  return { rules: parseFareRules(rules), station: p.station ?? 0, version };
}

/**
 * The provisioned fare rules, verified (with `verify`: boot's signature primitive, native where it passed
 * the self-test; noble's P-256 in XS is ~3 million computrons, seconds on the device); undefined (and
 * logged) when there are none or they are refused.
 */
export function provisionedFares(p: Provisioning, log: Log, verify?: VerifyFn): { fares: TransitFares; version: number } | undefined {
  if (p.fareRules === undefined) return undefined;
  try {
    const update = verifyUpdate(fromHex(p.fareRules), algId(p.rootPublicKey.alg), fromHex(p.rootPublicKey.publicKey), verify);
    if (update.kind !== UPDATE_FARE_RULES) throw new UpdateError(`a signed update of kind ${update.kind}, not fare rules`);
    if (update.operatorId !== p.merchantId) throw new UpdateError(`fare rules for operator ${update.operatorId}, not ${p.merchantId}`);
    const fares = faresAt(p, update.rules, update.version);
    log('info', 'fares', `fare rules version ${update.version}: ${fares.rules.fare.kind} fare at station ${fares.station}`);
    return { fares, version: update.version };
  } catch (e) {
    log('error', 'fares', `provisioned fare rules refused (${e instanceof Error ? e.message : String(e)}): every tap pays the fixed fare`);
    return undefined;
  }
}

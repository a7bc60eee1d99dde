// The decline an operating error of a card exchange means (a tap, a refund); a programmer error is
// rethrown (it restarts the device).
import { CardLostError } from '../../base/ports';
import { errorText, rethrowIfProgrammerError } from '../../base/errors';
import { decline, DeclineError, type Decline } from '../../base/reasons';
import { ApduError } from './apdu';
import { TlvError } from './tlv';

export function toDecline(e: unknown): Decline {
  rethrowIfProgrammerError(e);
  if (e instanceof DeclineError) return e.decline;
  if (e instanceof CardLostError) return decline('cardLost', e.message);
  if (e instanceof TlvError || e instanceof ApduError) return decline('protocol', e.message);
  return decline('cardError', errorText(e));
}

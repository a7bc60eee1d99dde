// Offline refunds at boot: the refund desk and the merchant PIN from the provisioning file, the PIN's
// wrong tries read back from the journal (firmware/core/refund/flow.ts).
import { fromHex } from '../base/bytes';
import type { Clock, Log } from '../base/platform';
import type { Provisioning } from '../core/provisioning';
import type { Verifier } from '../core/crypto/verifier';
import type { Journal } from '../core/journal/journal';
import { RefundDesk } from '../core/refund/desk';
import { RECORD_REFUND_PIN, type RefundSetup } from '../core/refund/flow';
import { signMessage } from '../core/uplink/sign';
import { ALG_P256 } from '../core/crypto/verify';

export function provisionedRefunds(p: Pick<Provisioning, 'terminalId' | 'devicePrivateKey' | 'risk' | 'refunds'>, o: { journal: Journal; verifier: Verifier; clock: Clock; log: Log }): RefundSetup | undefined {
  if (!p.refunds) return undefined;
  const deviceKey = fromHex(p.devicePrivateKey);
  const desk = new RefundDesk({
    terminalId: p.terminalId,
    currency: p.risk.currency,
    journal: o.journal,
    verifier: o.verifier,
    clock: o.clock,
    log: o.log,
    certificate: fromHex(p.refunds.certificate),
    sign: (m) => signMessage(ALG_P256, deviceKey, m),
  });
  const saved = o.journal.latest(RECORD_REFUND_PIN)?.payload;
  return {
    desk,
    pin: { salt: fromHex(p.refunds.pinSalt), hash: fromHex(p.refunds.pinHash) },
    pinFailures: saved && saved.length === 1 ? saved[0]! : 0,
    savePinFailures: async (n) => void (await o.journal.append(RECORD_REFUND_PIN, Uint8Array.of(Math.min(n, 255)))),
  };
}

// Runs inside XS: the terminal parses its provisioning file at boot with the same code as on Node.
import { parseProvisioning, provisionedIssuerKeys, ProvisioningError } from '../../firmware/core/provisioning';
import { serve } from '../../host/xs/guest';

serve({
  parse: (text: string) => {
    try {
      const p = parseProvisioning(text);
      return { ok: true, provisioning: p, keyIds: provisionedIssuerKeys(p).map((k) => k.keyId) };
    } catch (e) {
      if (e instanceof ProvisioningError) return { ok: false, error: `${e.name}: ${e.message}` };
      throw e;
    }
  },
});

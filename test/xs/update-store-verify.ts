// The update store checks every signed update with the primitive it is given (boot's: native once it
// passed the self-test), at load and on an upload answer: a forged, tampered or stored-then-tampered
// update is refused with it, and a primitive that refuses all refuses even a good one (so the store did
// not fall back to noble). Run on Node, in XS and on the device-sized host with the native primitive
// (test/uplink-store-verify.test.ts).
import { xorByte } from '../../firmware/base/bytes';
import { ALG_P256, verifySignature, type VerifyFn } from '../../firmware/core/crypto/verify';
import { Journal } from '../../firmware/core/journal/journal';
import { RECORD_CONFIG, UPDATE_RECORD_TYPES, UpdateStore } from '../../firmware/core/uplink/store';
import { encodeUpdate, UPDATE_CONFIG, UpdateError } from '../../firmware/core/uplink/updates';
import { p256 } from '@noble/curves/nist.js';
import { RamFlash } from '../../host/flash/ram-flash';

const ROOT_SECRET = Uint8Array.from({ length: 32 }, (_, i) => 0x21 + i);
const OTHER_SECRET = Uint8Array.from({ length: 32 }, (_, i) => 0x41 + i);

export const STORE_VERIFY_EXPECT =
  'v1 applied; forged: not signed; tampered: not signed; reboot: config 1; stored tampered: refused, config 0; refuse-all: apply not signed, load refused, config 0; calls 5, refuse-all 2';

/** `verify`: the primitive under test (default noble's). */
export function storeVerifyScenario(verify: VerifyFn = verifySignature): string {
  const root = { alg: ALG_P256, publicKey: p256.getPublicKey(ROOT_SECRET, true) } as const;
  const config = (version: number, secret = ROOT_SECRET) =>
    encodeUpdate({ kind: UPDATE_CONFIG, version, terminalId: 'T-1', settings: { note: `v${version}` } }, ALG_P256, secret);
  let calls = 0;
  const counted: VerifyFn = (...a) => (calls++, verify(...a));
  let refusals = 0;
  const refuseAll: VerifyFn = () => (refusals++, false);
  const journal = new Journal({ flash: new RamFlash({ blocks: 8 }), reserveBlocks: 2, keyedTypes: UPDATE_RECORD_TYPES });
  journal.open();
  const logs: string[] = [];
  const make = (v: VerifyFn) => new UpdateStore({ journal, root, terminalId: 'T-1', verify: v, log: (_l, _t, m) => void logs.push(m) });
  const refused = (f: () => unknown): string => {
    try {
      f();
      return 'taken';
    } catch (e) {
      if (!(e instanceof UpdateError)) throw e;
      return /not signed/.test(e.message) ? 'not signed' : e.message;
    }
  };
  const out: string[] = [];
  const good = config(1);
  make(counted).apply(good);
  out.push('v1 applied');
  out.push(`forged: ${refused(() => make(counted).apply(config(2, OTHER_SECRET)))}`);
  const tampered = config(2);
  xorByte(tampered, tampered.findIndex((b, i) => b === 0x76 && tampered[i + 1] === 0x32) + 1, 0x0b); // "v2" -> "v9": signed bytes changed
  out.push(`tampered: ${refused(() => make(counted).apply(tampered))}`);
  const rebooted = make(counted);
  rebooted.load();
  out.push(`reboot: config ${rebooted.versions.configVersion}`);
  journal.appendSync(RECORD_CONFIG, tampered); // the flash changed under the terminal: the latest record fails
  logs.length = 0;
  const afterTamper = make(counted);
  afterTamper.load();
  out.push(`stored tampered: ${logs.some((l) => l.startsWith('stored update refused')) ? 'refused' : 'taken'}, config ${afterTamper.versions.configVersion}`);
  journal.appendSync(RECORD_CONFIG, good);
  logs.length = 0;
  const none = make(refuseAll);
  const apply = refused(() => none.apply(config(3)));
  none.load();
  out.push(`refuse-all: apply ${apply}, load ${logs.some((l) => l.startsWith('stored update refused')) ? 'refused' : 'taken'}, config ${none.versions.configVersion}`);
  out.push(`calls ${calls}, refuse-all ${refusals}`);
  return out.join('; ');
}

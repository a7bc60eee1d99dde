// The host app script the device-sized host preloads after the device bundle (native/xsdev): it finds
// the bundle's exports and the host functions as globals and serves DeviceApp's steps by name.
import { serve } from '../xs/guest';
import type { NativePrimitives } from '../../firmware/app/native';
import { DeviceApp, type Tapline } from './app';
import { HostPartition, xsdev } from './host-flash';

const g = globalThis as unknown as { tapline: Tapline } & typeof xsdev;

let app: DeviceApp | undefined;
const make = () =>
  new DeviceApp({
    tapline: g.tapline,
    partition: (size) => new HostPartition(size),
    flashCounters: (p) => ({ ...(p as HostPartition).counters(), read: (p as HostPartition).bytesRead }),
    native: g.taplineNative,
    meter: g.xsdevMeter,
    now: () => g.hostFlash.ticks(),
  });

serve({
  boot: (a) => (app = make()).boot(a),
  /** Boots again on the same journal partition (a power cycle). */
  reboot: (a) => app!.boot({ ...a, reuseJournal: true }),
  fill: (a: { leaveFreeBlocks?: number; replayAtMost?: number; wallets?: number } | null) => app!.fill(a ?? {}),
  /** A power cut: the RAM state dropped and collected, the flash kept (then `reboot`). */
  powerOff: () => {
    app!.powerOff();
    (globalThis as unknown as { gc(): void }).gc();
    return app!.journalBytesRead();
  },
  journalBytesRead: () => app!.journalBytesRead(),
  online: (a: { denySnapshot?: string } | null) => app!.online(a ?? {}),
  keys: (a: { text: string }) => app!.keys(a.text),
  replay: (a: { exchange: Record<string, string> }) => app!.replay(a.exchange),
  tap: () => app!.tap(),
  profileTap: () => app!.profileTap(),
  idle: (a: { ms: number }) => app!.idle(a.ms),
  verify: (a) => make().verify(a.cases),
  /** The native verifier alone (no noble in the machine): its verdict on each case. */
  nativeOnly: (a: { cases: Array<{ alg: number; publicKey: string; message: string; signature: string }> }) => {
    const t = g.tapline;
    const verify = t.nativeVerify(g.taplineNative);
    return a.cases.map((c) => verify(c.alg as never, t.fromHex(c.publicKey), t.fromHex(c.message), t.fromHex(c.signature)));
  },
  hashes: (a) => make().hashes(a.inputs),
  /** `count` native P-256 verifications of one case, for the device model's calibration. */
  nativeP256: (a: VerifyCase) => timesVerified(g.taplineNative.p256Verify, a),
  /** The same for native Ed25519 (libsodium). */
  nativeEd25519: (a: VerifyCase) => timesVerified(g.taplineNative.ed25519Verify, a),
  gc: () => (globalThis as unknown as { gc(): void }).gc(),
  /** From the next step on (until turned off), the steps' peaks are the live heap (a collection before every allocation). */
  liveHeap: (a: { on: boolean }) => g.xsdevLiveHeap(a.on),
  noop: () => null,
});

interface VerifyCase {
  publicKey: string;
  message: string;
  signature: string;
  count: number;
}

function timesVerified(verify: NativePrimitives['p256Verify'], a: VerifyCase): number {
  const t = g.tapline;
  const args = [t.fromHex(a.publicKey), t.fromHex(a.message), t.fromHex(a.signature)] as const;
  let ok = 0;
  for (let i = 0; i < a.count; i++) if (verify(...args)) ok++;
  return ok;
}

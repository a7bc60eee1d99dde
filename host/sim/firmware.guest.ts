// The simulator's firmware image for the XS engine: the simulated terminal (host/sim/device.ts) with
// its bridge to the host made of issueCommand, xsnap's synchronous call out of the engine.
import { fromHex, toHex, utf8Decode, utf8Encode } from '../../firmware/core/bytes';
import { TransportError } from '../../firmware/core/uplink/transport';
import { serve } from '../xs/guest';
import { SimDevice, type HostBridge, type SimBootOptions } from './device';

declare function issueCommand(message: ArrayBuffer): ArrayBuffer;

function callHost(message: unknown): any {
  const bytes = utf8Encode(JSON.stringify(message));
  const reply = issueCommand(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
  const answer = JSON.parse(utf8Decode(new Uint8Array(reply)));
  if (answer && answer.hostError) throw new Error(`host: ${answer.hostError}`);
  return answer;
}

const bridge: HostBridge = {
  apdu: (wallet, apdu) => fromHex(callHost({ op: 'apdu', wallet, apdu: toHex(apdu) }).reply),
  flashChanged: (offset, bytes) => void callHost({ op: 'flash', offset, bytes: toHex(bytes) }),
  post: (path, body, timeoutMs) => {
    const answer = callHost({ op: 'post', path, body: toHex(body), timeoutMs });
    if (answer.error) return Promise.reject(new TransportError(answer.error));
    return Promise.resolve({ status: answer.status as number, body: fromHex(answer.body) });
  },
};

class Session {
  device: SimDevice | undefined;

  get on(): SimDevice {
    if (!this.device) throw new Error('the terminal is not booted');
    return this.device;
  }

  report() {
    const d = this.on;
    return { output: d.output.splice(0), screen: d.framebufferHex(), powered: d.powered, now: d.clock.now() };
  }
}

const session = new Session();

serve({
  boot: async (options: SimBootOptions) => {
    session.device = new SimDevice(bridge, options);
    await session.device.start();
    return session.report();
  },
  run: async (ms: number) => (await session.on.run(ms), session.report()),
  keys: async (keys: string) => {
    for (const key of keys) await session.on.press(key);
    return session.report();
  },
  tap: async (a: { wallet: string; uid: string }) => (session.on.tap(a.wallet, fromHex(a.uid)), session.report()),
  remove: async () => (session.on.remove(), session.report()),
  network: async (up: boolean) => (await session.on.network(up), session.report()),
  clock: async (unixSeconds: number | null) => (session.on.clock.setWallTime(unixSeconds ?? undefined), session.report()),
  cutPowerInNextWrite: () => (session.on.cutPowerInNextWrite(), session.report()),
});

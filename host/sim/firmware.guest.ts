// The simulator's firmware image for the XS engine: the simulated terminal (host/sim/device.ts) with
// its bridge to the host made of issueCommand, xsnap's synchronous call out of the engine.
import { concatBytes, fromHex, utf8Decode, utf8Encode } from '../../firmware/base/bytes';
import { TransportError } from '../../firmware/core/uplink/transport';
import { serve } from '../xs/guest';
import { SimDevice, type HostBridge, type SimBootOptions } from './device';
import { MemoryBootRecordStore } from '../../firmware/app/restart';

declare function issueCommand(message: ArrayBuffer): ArrayBuffer;

// A bridge message is a JSON header, a zero byte, then raw bytes: flash images and APDUs move as bytes,
// since XS strings are slow to index (firmware/base/bytes.ts).
function callHost(header: Record<string, unknown>, payload: Uint8Array = new Uint8Array(0)): { header: any; payload: Uint8Array } {
  const message = concatBytes(utf8Encode(JSON.stringify(header)), Uint8Array.of(0), payload);
  const reply = new Uint8Array(issueCommand(message.buffer as ArrayBuffer));
  const zero = reply.indexOf(0);
  const answer = JSON.parse(utf8Decode(zero < 0 ? reply : reply.subarray(0, zero)));
  if (answer.hostError) throw new Error(`host: ${answer.hostError}`);
  return { header: answer, payload: zero < 0 ? new Uint8Array(0) : reply.slice(zero + 1) };
}

const bridge: HostBridge = {
  // the engine outlives every boot of the terminal, as the ESP32's NVS outlives a restart
  bootRecords: new MemoryBootRecordStore(),
  flashImage: () => callHost({ op: 'flash-image' }).payload,
  apdu: (wallet, apdu) => callHost({ op: 'apdu', wallet }, apdu).payload,
  flashChanged: (offset, bytes) => void callHost({ op: 'flash', offset }, bytes),
  serialWrite: (bytes) => void callHost({ op: 'serial-write' }, bytes),
  serialRead: () => callHost({ op: 'serial-read' }).payload,
  now: () => callHost({ op: 'now' }).header.now as number,
  sleep: (ms) => void callHost({ op: 'sleep', ms }),
  post: (path, body, timeoutMs) => {
    const { header, payload } = callHost({ op: 'post', path, timeoutMs }, body);
    if (header.error) return Promise.reject(new TransportError(header.error));
    return Promise.resolve({ status: header.status as number, body: payload });
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
  // the rider walks to the validator at another station (same operator, same rules)
  gate: (station: number) => {
    const terminal = session.on.booted?.terminal;
    const fares = terminal?.fares;
    if (!terminal || !fares) throw new Error('this terminal has no fare rules (script setup.fares)');
    terminal.setFares({ rules: fares.rules, station });
    return session.report();
  },
  cutPowerInNextWrite: () => (session.on.cutPowerInNextWrite(), session.report()),
  cutPowerAfterPay: () => (session.on.cutPowerAfterPay(), session.report()),
});

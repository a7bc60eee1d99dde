// What a deny list of 10,000 wallet ids keeps in the XS heap between taps, on the device-sized host
// (native/xsdev) in each board's creation block: `npm run bench -- --only xsdev-denylist`.
// The terminal boots, its online side starts (as firmware/app/main.ts does) and finds the list journaled
// (an applied update leaves it so), then power is cut and it boots again: the second online side loads
// the list from the journal alone. Then one empty step runs with a collection before every allocation
// (xsdevLiveHeap): its start is what is reachable between taps. The row's figure is that, with the list
// against without it (the same boot). A tap by a listed wallet follows, and must be declined.
// Bytes on the ESP32: slots x 16 + chunk bytes (this 64-bit build's chunks are an upper bound). The list
// goes to the host as hex in one message, so the DevKitC block cannot take 10,000 ids (160 KB of text)
// whatever the terminal does with them.
import type { Report } from './main';
import { ALG_ED25519 } from '../firmware/core/crypto/verify';
import { fromHex, toHex } from '../firmware/base/bytes';
import { decodeResponse, readCertificateCommand } from '../firmware/core/protocol/apdu';
import { decodeCertificate } from '../firmware/core/protocol/messages';
import { encodeDenySnapshot } from '../firmware/core/uplink/store';
import { DenyList } from '../firmware/core/risk/deny-list';
import { seededRandom } from '../host/wallet/random';
import { creationOf, DeviceHost, type Board } from '../host/xsdev/device-host';
import { BETWEEN_TAPS_MS, bootArgs, MERCHANT_AMOUNT, recordScenario, type TapScenario } from '../host/xsdev/scenario';

const SLOT_BYTES_ESP32 = 16;
const IDS = 10_000;

interface AtRest {
  slots: number;
  chunkBytes: number;
  deniedWallets: number;
  version: number;
  outcome: string;
}

async function atRest(board: Board, s: TapScenario, snapshot: Uint8Array | undefined): Promise<AtRest | string> {
  const host = await DeviceHost.start(creationOf(board));
  let step = 'boot';
  const call = <T>(op: string, args?: unknown) => ((step = op), host.call<T>(op, args));
  try {
    await call('boot', bootArgs(s, true));
    await call('online', snapshot ? { denySnapshot: toHex(snapshot) } : {});
    await call('powerOff');
    await call('reboot', bootArgs(s, true));
    const online = await call<{ deniedWallets: number; denyListVersion: number }>('online', {});
    await call('gc');
    await call('liveHeap', { on: true });
    const rest = await call('noop');
    await call('liveHeap', { on: false });
    await call('idle', { ms: BETWEEN_TAPS_MS });
    await call('replay', { exchange: s.exchange });
    if (s.mode === 'merchant') await call('keys', { text: MERCHANT_AMOUNT });
    const tap = await call<{ outcome: string }>('tap');
    const d = rest.meter.device;
    if (!d.live) throw new Error('the device-sized host did not measure live bytes');
    return { slots: d.startSlots, chunkBytes: d.startChunkBytes, deniedWallets: online.value.deniedWallets, version: online.value.denyListVersion, outcome: tap.value.outcome };
  } catch (e) {
    return `${snapshot ? 'with' : 'without'} the list, step ${step}: ${(e as Error).message}`;
  } finally {
    await host.close();
  }
}

export async function run(report: Report): Promise<void> {
  const s = await recordScenario(ALG_ED25519, 'merchant');
  const cert = decodeCertificate(decodeResponse(fromHex(s.exchange[toHex(readCertificateCommand())]!)).data);
  const random = seededRandom('deny list heap');
  for (const count of [1_000, IDS]) {
  const ids = [cert.walletId, ...Array.from({ length: count - 1 }, () => toHex(random(8)))].sort();
  const snapshot = encodeDenySnapshot(new DenyList(7, fromHex(ids.join(''))));
  for (const board of ['esp32s3-devkitc', 'esp32-devkitc'] as const) {
    const without = await atRest(board, s, undefined);
    const withList = await atRest(board, s, snapshot);
    const common = { bench: 'xsdev.heap.denylist', board, ids: count, snapshotBytes: snapshot.length };
    if (typeof without === 'string' || typeof withList === 'string') {
      report({ ...common, fits: false, error: typeof without === 'string' ? without : (withList as string) });
      continue;
    }
    const bytes = (r: AtRest) => r.slots * SLOT_BYTES_ESP32 + r.chunkBytes;
    report({
      ...common,
      fits: true,
      deniedWallets: withList.deniedWallets,
      version: withList.version,
      listedWalletTap: withList.outcome,
      liveBytesWithoutEsp32: bytes(without),
      liveBytesWithEsp32: bytes(withList),
      listSlots: withList.slots - without.slots,
      listChunkBytes: withList.chunkBytes - without.chunkBytes,
      listLiveBytesEsp32: bytes(withList) - bytes(without),
      bytesPerId: (bytes(withList) - bytes(without)) / count,
    });
  }
  }
}

// The device-sized XS host from Node: native/xsdev (built at npm install) with a manifest's creation
// block, the exact device bundle (build/device/tapline.js) and the host app (host/xsdev/guest.ts)
// preloaded as xsl would put them in flash. Calls go to DeviceApp's steps; each reports the engine's
// computrons and that step's peak slots, chunk bytes, stack depth and host time (Meter.device).
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { buildDevice, DEVICE_BUNDLE } from '../build/device';
import { bundleForXS, repoRoot } from '../xs/bundle';
import { XSWorker, type DeviceMeter, type Meter } from '../xs/worker';

export const XSDEV_BINARY = join(repoRoot, 'build', 'native', 'xsdev');
/** What the binary is built from in this repository: a newer one means the binary lags the code. */
const XSDEV_SOURCES = ['native/xsdev/xsdev.c', 'native/xsdev/Makefile', 'native/tapline_native.c'];
export const BOARDS = ['esp32-devkitc', 'esp32s3-devkitc'] as const;
/** The host app script the device-sized host runs by default: DeviceApp's steps over the device bundle. */
const DEVICE_APP = 'host/xsdev/guest.ts';
export type Board = (typeof BOARDS)[number];

export interface Creation {
  /** creation.chunk.initial: bytes of chunks (fixed: incremental 0). */
  chunk: number;
  /** creation.heap.initial: slots (fixed). */
  heap: number;
  /** creation.stack: slots. */
  stack: number;
}

/** The creation block a board's manifest gives XS (its own, over manifests/common.json's). */
export function creationOf(board: Board): Creation {
  const read = (path: string) => JSON.parse(readFileSync(join(repoRoot, path), 'utf8')) as { creation?: Record<string, any> };
  const merged = { ...read('manifests/common.json').creation, ...read(`manifests/${board}/manifest.json`).creation };
  const chunk = merged.chunk?.initial;
  const heap = merged.heap?.initial;
  const stack = merged.stack;
  if (!Number.isInteger(chunk) || !Number.isInteger(heap) || !Number.isInteger(stack)) {
    throw new Error(`manifests/${board}: creation.chunk.initial, creation.heap.initial and creation.stack must be set`);
  }
  if (merged.chunk.incremental !== 0 || merged.heap.incremental !== 0) throw new Error(`manifests/${board}: the device heap is fixed, incremental must be 0`);
  return { chunk, heap, stack };
}

export interface StepResult<T> {
  value: T;
  meter: Meter & { device: DeviceMeter };
}

const preloadFiles = new Map<string, Promise<string[]>>();

/**
 * The files xsdev preloads: the device bundle (as a module, built fresh), then the host app script
 * (`app`, a repo path: host/xsdev/guest.ts unless a bench brings its own).
 */
function preparePreload(app: string): Promise<string[]> {
  let files = preloadFiles.get(app);
  if (!files) {
    files = (async () => {
      await buildDevice();
      const dir = join(repoRoot, 'build', 'native');
      mkdirSync(dir, { recursive: true });
      const entry = join(dir, 'preload-bundle.js');
      writeFileSync(entry, `import * as tapline from ${JSON.stringify(join(repoRoot, DEVICE_BUNDLE))};\nglobalThis.tapline = tapline;\n`);
      const script = join(dir, app === DEVICE_APP ? 'host-app.js' : `host-app-${basename(app, '.ts')}.js`);
      writeFileSync(script, await bundleForXS(app));
      return ['--module', entry, '--script', script];
    })();
    preloadFiles.set(app, files);
  }
  return files;
}

export class DeviceHost {
  private constructor(readonly worker: XSWorker, readonly creation: Creation) {}

  static async start(creation: Creation, options: { onPrint?: (line: string) => void; app?: string } = {}): Promise<DeviceHost> {
    if (!existsSync(XSDEV_BINARY)) throw new Error(`${XSDEV_BINARY} is missing: run "npm install" (it builds native/xsdev)`);
    const built = statSync(XSDEV_BINARY).mtimeMs;
    const stale = XSDEV_SOURCES.filter((f) => statSync(join(repoRoot, f)).mtimeMs > built);
    if (stale.length) throw new Error(`build/native/xsdev is older than ${stale.join(', ')}: run "make -f native/xsdev/Makefile" (or "npm install")`);
    const preload = await preparePreload(options.app ?? DEVICE_APP);
    const args = ['--chunk', String(creation.chunk), '--heap', String(creation.heap), '--stack', String(creation.stack), ...preload];
    return new DeviceHost(new XSWorker({ engine: { path: XSDEV_BINARY, args }, onPrint: options.onPrint }), creation);
  }

  /** Runs DeviceApp step `op`; the meter is the step's own (the result fetch is a second message). */
  async call<T = unknown>(op: string, args: unknown = null): Promise<StepResult<T>> {
    const { meter } = await this.worker.call({ op, args });
    const { value: outcome } = await this.worker.call<{ ok: boolean; value?: T; error?: string }>({ op: '__result' });
    if (!outcome.ok) throw new Error(`on the device-sized host, ${op}: ${outcome.error}`);
    if (!meter.device) throw new Error('the engine did not report device figures (not native/xsdev?)');
    return { value: outcome.value as T, meter: meter as StepResult<T>['meter'] };
  }

  close(): Promise<void> {
    return this.worker.close();
  }
}

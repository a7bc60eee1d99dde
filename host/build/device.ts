// Builds the device bundle: firmware/app/bundle.ts (the platform-free firmware: core, drivers, app
// boot and loop, noble, the pin map) as one ES module, build/device/tapline.js, which the manifests
// map to the module "bundle" that firmware/app/main.ts imports. Moddable's own modules stay external.
// Run: npx tsx host/build/device.ts [--minify]
import { build } from 'esbuild';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot, XS_TARGET } from '../xs/bundle';

export const DEVICE_ENTRY = 'firmware/app/bundle.ts';
export const DEVICE_BUNDLE = 'build/device/tapline.js';
/** Module specifiers the Moddable SDK provides on the device: never bundled. */
export const MODDABLE_EXTERNALS = ['embedded:*', 'timer', 'time', 'wifi', 'http', 'net', 'sntp', 'flash', 'preference', 'mc/*', 'pins/*'];

export interface DeviceBuild {
  path: string;
  bytes: number;
  /** Modules the bundle imports at run time (must all be Moddable modules). */
  imports: string[];
}

export async function buildDevice(options: { minify?: boolean; outfile?: string } = {}): Promise<DeviceBuild> {
  const outfile = join(repoRoot, options.outfile ?? DEVICE_BUNDLE);
  mkdirSync(join(outfile, '..'), { recursive: true });
  const result = await build({
    entryPoints: [join(repoRoot, DEVICE_ENTRY)],
    outfile,
    bundle: true,
    format: 'esm',
    target: XS_TARGET,
    platform: 'neutral',
    mainFields: ['module', 'main'],
    conditions: ['import', 'default'],
    external: MODDABLE_EXTERNALS,
    minify: options.minify ?? false,
    legalComments: 'none',
    logLevel: 'silent',
    metafile: true,
  });
  const imports = new Set<string>();
  for (const output of Object.values(result.metafile.outputs)) for (const i of output.imports) imports.add(i.path);
  return { path: outfile, bytes: statSync(outfile).size, imports: [...imports] };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = await buildDevice({ minify: process.argv.includes('--minify') });
  console.log(`${DEVICE_BUNDLE}: ${out.bytes} bytes${out.imports.length ? `, imports ${out.imports.join(', ')}` : ''}`);
}

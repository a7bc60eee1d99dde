// Bundles platform-free TypeScript (the firmware core, drivers, and XS-side test scenarios) into one
// script the XS engine evaluates. The target is es2019 because the XS that @agoric/xsnap builds
// (13.x) mis-evaluates noble's class static blocks at newer targets; the device's XS 17 takes it too.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const XS_TARGET = 'es2019';

export interface BundleOptions {
  /** Name of the global the entry's exports are assigned to (default: no global). */
  globalName?: string;
  minify?: boolean;
}

/** Bundles `entry` (a path relative to the repo root) and returns the script text. Cached by content. */
export async function bundleForXS(entry: string, options: BundleOptions = {}): Promise<string> {
  const result = await build({
    entryPoints: [join(repoRoot, entry)],
    bundle: true,
    write: false,
    format: 'iife',
    globalName: options.globalName,
    target: XS_TARGET,
    platform: 'neutral',
    mainFields: ['module', 'main'],
    conditions: ['import', 'default'],
    minify: options.minify ?? false,
    legalComments: 'none',
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

/** Same as bundleForXS, with the result written under build/xs/ for inspection and reuse. */
export async function bundleToFile(entry: string, options: BundleOptions = {}): Promise<string> {
  const code = await bundleForXS(entry, options);
  const hash = createHash('sha256').update(code).digest('hex').slice(0, 12);
  const out = join(repoRoot, 'build', 'xs', `${entry.replace(/[\\/]/g, '_')}.${hash}.js`);
  if (!existsSync(out)) {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, code);
  }
  return readFileSync(out, 'utf8');
}

// `npm run bench [-- --json] [-- --only NAME]`: runs every benchmark suite and prints its figures.
// With --json, one JSON object per line (each has a `bench` field naming what it measured);
// without, a readable line per figure. Suites live beside this file and export `run(report)`.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export type Row = { bench: string } & Record<string, unknown>;
export type Report = (row: Row) => void;
export interface Suite {
  run(report: Report, options: { quick: boolean }): Promise<void>;
}

const args = process.argv.slice(2);
const json = args.includes('--json');
const quick = args.includes('--quick');
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;

const here = dirname(fileURLToPath(import.meta.url));
const all = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .sort();
// --only NAME: the suite of that name (so `xsdev` is not also `xsdev-journal`), else those it begins.
const named = all.filter((f) => f === `${only}.bench.ts`);
const suites = !only ? all : named.length > 0 ? named : all.filter((f) => f.startsWith(only));
if (suites.length === 0) {
  console.error(`npm run bench: no suite ${only}; the suites: ${all.map((f) => f.replace('.bench.ts', '')).join(', ')}`);
  process.exit(2);
}

const report: Report = (row) => {
  if (json) {
    console.log(JSON.stringify(row));
  } else {
    const { bench, ...rest } = row;
    const fields = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'number' ? round(v) : v}`);
    console.log(`${bench.padEnd(28)} ${fields.join('  ')}`);
  }
};

function round(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 3 : 1);
}

for (const file of suites) {
  const suite = (await import(pathToFileURL(join(here, file)).href)) as Suite;
  if (!json) console.log(`# ${file}`);
  await suite.run(report, { quick });
}

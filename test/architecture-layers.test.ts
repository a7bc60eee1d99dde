// The layer rule of docs/ARCHITECTURE.md, checked on every relative import in the repo. The table in
// the doc is the source: change the architecture there, and this test holds the code to it.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const root = resolve(import.meta.dirname, '..');

/** Floor by unit, from the "## Layers" table: `| 1 | \`drivers\`, \`firmware/core/protocol\` | ... |`. */
function readLayers(): Map<string, number> {
  const doc = readFileSync(join(root, 'docs/ARCHITECTURE.md'), 'utf8');
  const section = doc.split('\n## Layers\n')[1]?.split('\n## ')[0];
  if (section === undefined) throw new Error('docs/ARCHITECTURE.md has no "## Layers" section');
  const floors = new Map<string, number>();
  for (const row of section.matchAll(/^\| (\d+) \| ([^|]+) \|/gm)) {
    for (const unit of row[2]!.matchAll(/`([^`]+)`/g)) floors.set(unit[1]!, Number(row[1]));
  }
  return floors;
}

/** The unit a repo path belongs to: the longest unit in the table that is the path or a folder of it. */
function unitOf(path: string, floors: Map<string, number>): string | undefined {
  let best: string | undefined;
  for (const unit of floors.keys()) {
    if ((path === unit || path.startsWith(`${unit}/`)) && (best === undefined || unit.length > best.length)) best = unit;
  }
  return best;
}

function sourceFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.ts', '*.mjs'], { cwd: root, encoding: 'utf8' });
  return out.split('\n').filter((f) => f && !f.endsWith('.d.ts'));
}

function resolveImport(from: string, spec: string): string {
  const target = relative(root, resolve(root, dirname(from), spec));
  return /\.[a-z]+$/.test(target) ? target : `${target}.ts`;
}

/** Why `spec`, imported by `file`, breaks the rule; undefined when it keeps it. */
function breach(file: string, spec: string, floors: Map<string, number>): string | undefined {
  const from = unitOf(file, floors)!;
  const target = resolveImport(file, spec);
  const to = unitOf(target, floors);
  if (to === undefined) return `${file} -> ${target} (in no layer)`;
  if (to === from || floors.get(to)! < floors.get(from)!) return undefined;
  return `${file} (${from}, floor ${floors.get(from)}) -> ${target} (${to}, floor ${floors.get(to)})`;
}

/**
 * Floor by unit, from the README's architecture picture: the bundle's rows `│ 4 firmware/core/{terminal,
 * uplink} ...` (units joined by ` · `, a brace naming several in one folder) and the line below it,
 * `7 host · hardware   8 test   9 bench: ...`.
 */
function readPicture(): Map<string, number> {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const picture = readme.split('\n## Architecture\n')[1]?.split('```')[1];
  if (picture === undefined) throw new Error('README.md has no picture under "## Architecture"');
  const floors = new Map<string, number>();
  const take = (floor: string, units: string) => {
    for (const unit of units.split(' · ')) {
      const braced = /^(.*)\{(.+)\}$/.exec(unit.trim());
      for (const name of braced ? braced[2]!.split(', ').map((n) => braced[1] + n) : [unit.trim()]) floors.set(name, Number(floor));
    }
  };
  const unit = '[\\w/.-]+(?:\\{[^}]+\\})?';
  for (const row of picture.matchAll(new RegExp(`[│┤] (\\d) (${unit}(?: · ${unit})*)`, 'g'))) take(row[1]!, row[2]!);
  const outside = /^\s+(\d .*): /m.exec(picture);
  for (const part of outside?.[1]!.split(/\s{3,}/) ?? []) take(part.slice(0, 1), part.slice(2));
  return floors;
}

describe('architecture: imports run down the layers of docs/ARCHITECTURE.md', () => {
  const floors = readLayers();

  it('the doc names the layers, firmware/base at the bottom and the app above the core', () => {
    expect(floors.get('firmware/base')).to.equal(0);
    expect(floors.get('firmware/app')!).to.be.greaterThan(floors.get('firmware/core/terminal')!);
    expect(floors.get('drivers')!).to.be.lessThan(floors.get('firmware/ui')!);
  });

  it("the README's architecture picture puts every unit on the floor the table does", () => {
    const picture = [...readPicture()].sort();
    expect(picture.length, 'units in the picture').to.be.greaterThan(10);
    expect(picture).to.deep.equal([...floors].sort());
  });

  it('every source file belongs to a layer', () => {
    const loose = sourceFiles().filter((f) => unitOf(f, floors) === undefined);
    expect(loose, 'files in no layer of docs/ARCHITECTURE.md').to.deep.equal([]);
  });

  it('no import runs sideways or up a layer', () => {
    const wrong: string[] = [];
    let imports = 0;
    for (const file of sourceFiles()) {
      for (const imported of ts.preProcessFile(readFileSync(join(root, file), 'utf8'), true, true).importedFiles) {
        if (!imported.fileName.startsWith('.')) continue;
        imports++;
        const why = breach(file, imported.fileName, floors);
        if (why !== undefined) wrong.push(why);
      }
    }
    expect(imports, 'relative imports seen').to.be.greaterThan(500);
    expect(wrong).to.deep.equal([]);
  });

  it('catches the imports this rule removed, and lets the right ones through', () => {
    expect(breach('drivers/display/screens.ts', '../../firmware/core/terminal/terminal', floors)).to.match(/floor 4/);
    expect(breach('drivers/keypad.ts', '../firmware/core/platform', floors)).to.match(/in no layer|floor/);
    expect(breach('firmware/core/protocol/messages.ts', '../crypto/verify', floors)).to.match(/floor 2/);
    expect(breach('firmware/core/crypto/certificate.ts', '../risk/engine', floors)).to.match(/floor 3/);
    expect(breach('firmware/core/terminal/tap.ts', '../uplink/uplink', floors), 'sideways').to.match(/floor 4/);
    expect(breach('drivers/keypad.ts', '../firmware/base/platform', floors)).to.equal(undefined);
    expect(breach('firmware/ui/screens.ts', '../core/terminal/terminal', floors)).to.equal(undefined);
  });
});

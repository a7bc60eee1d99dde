// docs/JOURNAL.md's recovery rules are a table with ids; each id must be named by a test title, so a
// rule nobody shows cannot sit in the docs, and a test cannot cite a rule that is not there.
import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..');

describe('journal recovery rules', () => {
  it('every rule of docs/JOURNAL.md is named by a test, and every rule a test names is in the table', () => {
    const doc = readFileSync(join(root, 'docs/JOURNAL.md'), 'utf8');
    const rules = [...doc.matchAll(/^\| (J\d+) \|/gm)].map((m) => m[1]!);
    expect(rules.length).to.be.greaterThan(10);
    const named = new Set<string>();
    for (const file of readdirSync(join(root, 'test')).filter((f) => f.endsWith('.ts'))) {
      const text = readFileSync(join(root, 'test', file), 'utf8');
      for (const title of text.matchAll(/\bit\('((?:J\d+ )+)?(?:J\d+):/g)) {
        for (const id of title[0].matchAll(/J\d+/g)) named.add(id[0]);
      }
    }
    expect(rules.filter((r) => !named.has(r)), 'rules no test names').to.deep.equal([]);
    expect([...named].filter((r) => !rules.includes(r)), 'ids no rule has').to.deep.equal([]);
  });
});

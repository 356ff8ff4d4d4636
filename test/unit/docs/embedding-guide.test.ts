/**
 * docs/embedding.md shows docs/examples/host-app.ts (which an integration test runs) verbatim,
 * except that it imports the package by its name instead of from the repository.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';

const ROOT = path.resolve(__dirname, '../../..');

describe('docs/embedding.md', () => {
  it('shows docs/examples/host-app.ts as it is, importing \'stomp-relay\'', () => {
    const guide = readFileSync(path.join(ROOT, 'docs/embedding.md'), 'utf8');
    const example = readFileSync(path.join(ROOT, 'docs/examples/host-app.ts'), 'utf8');
    const shown = /## The example\n\n```ts\n([\s\S]*?)```/.exec(guide)?.[1];
    expect(shown, 'a ```ts block under "## The example"').to.be.a('string');
    expect(example).to.include("from '../../server/index';");
    expect(shown).to.equal(example.replace("from '../../server/index';", "from 'stomp-relay';"));
  });
});

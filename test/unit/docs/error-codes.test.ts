import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { Errors } from '../../../server/errors';
import { ENV_VARS } from '../../../server/config';

const root = join(__dirname, '..', '..', '..');

describe('docs stay in step with the code', () => {
  it('docs/protocol.md lists exactly the error catalogue, with the same status and message', () => {
    const doc = readFileSync(join(root, 'docs', 'protocol.md'), 'utf8');
    const table = doc.slice(doc.indexOf('<!-- error-codes:start'), doc.indexOf('<!-- error-codes:end'));
    const rows = table.split('\n').filter((l) => l.startsWith('| `'));
    const documented = rows.map((l) => {
      const cells = l.split('|').map((c) => c.trim());
      return { code: cells[1].replace(/`/g, ''), status: cells[2], template: cells[3] };
    });
    const catalogue = Object.values(Errors).map((d) => ({ code: d.code, status: d.status === undefined ? '' : String(d.status), template: d.template }));
    expect(documented).to.deep.equal(catalogue);
  });

  it('keys the error catalogue by its codes (Errors.X.code is X)', () => {
    const mismatched = Object.entries(Errors).filter(([key, definition]) => definition.code !== key).map(([key]) => key);
    expect(mismatched).to.deep.equal([]);
  });

  it('docs/operations.md documents every environment variable the CLI reads', () => {
    const doc = readFileSync(join(root, 'docs', 'operations.md'), 'utf8');
    const missing = ENV_VARS.filter((v) => !doc.includes('`' + v.name + '`')).map((v) => v.name);
    expect(missing).to.deep.equal([]);
  });
});

/**
 * The API reference (docs/api/, TypeDoc with typedoc.config.mjs): every export of the library entry
 * (server/index.ts) and its members carry a doc comment, links resolve, nothing public refers to an
 * unexported type (the config treats each of those as an error), and the committed docs/api/ is what
 * `npm run docs:api` writes today. Regenerates into a temporary directory and compares.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../../..');
const COMMITTED = path.join(ROOT, 'docs/api');

/** Every file under `dir`, relative, sorted. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
}

describe('docs/api: the library API reference', function () {
  this.timeout(90_000);
  let out: string;
  let typedoc: { ok: boolean; output: string };

  before(async () => {
    out = await mkdtemp(path.join(tmpdir(), 'stomp-relay-api-'));
    try {
      const { stdout, stderr } = await run(process.execPath, [path.join(ROOT, 'node_modules/typedoc/bin/typedoc'), '--out', out], { cwd: ROOT });
      typedoc = { ok: true, output: stdout + stderr };
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      typedoc = { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
    }
  });

  after(async () => {
    if (out) await rm(out, { recursive: true, force: true });
  });

  it('documents every export of server/index.ts (TypeDoc, warnings as errors: no missing comment, broken link or unexported type)', () => {
    // eslint-disable-next-line no-control-regex
    const plain = typedoc.output.replace(/\x1b\[[0-9;]*m/g, '');
    expect(plain.split('\n').filter((l) => /\[(warning|error)\]/.test(l)), plain).to.deep.equal([]);
    expect(typedoc.ok, plain).to.equal(true);
  });

  it('is what `npm run docs:api` writes now (regenerate it after changing a doc comment)', async function () {
    if (!typedoc.ok) this.skip();
    const fresh = await filesUnder(out);
    expect(await filesUnder(COMMITTED), 'files of docs/api').to.deep.equal(fresh);
    for (const file of fresh) {
      const [now, committed] = await Promise.all([readFile(path.join(out, file), 'utf8'), readFile(path.join(COMMITTED, file), 'utf8')]);
      expect(committed, `docs/api/${file} is stale: run npm run docs:api`).to.equal(now);
    }
  });
});

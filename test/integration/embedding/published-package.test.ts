/**
 * The README's embedding snippet compiles against the package as published: `npm pack`, installed
 * into a new project that has only `typescript` besides, with the settings `tsc --init` writes
 * (strict) and `"type": "module"` (the snippet uses top-level await). Its `.d.ts` files must find
 * every type they import among the package's own dependencies, not the repository's devDependencies.
 *
 * Packs `dist/` as `npm run build` left it (test/run-all.sh builds before testing) and installs
 * from the npm registry (cached after the first run).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../../..');

/** The first ```ts block after the README's "Embed it in an express app" heading. */
async function readmeEmbeddingSnippet(): Promise<string> {
  const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Embed it in an express app'));
  const match = /```ts\n([\s\S]*?)```/.exec(section);
  if (!match) throw new Error('README.md has no ```ts block under "## Embed it in an express app"');
  return match[1];
}

/** Runs `tsc`, resolving with its exit code and output (tsc reports errors on stdout). */
async function tsc(cwd: string, args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(path.join(cwd, 'node_modules/.bin/tsc'), args, { cwd });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('the published package in a new TypeScript project', function () {
  this.timeout(180_000);
  let dir: string;
  let project: string;

  before(async () => {
    const built = await stat(path.join(ROOT, 'dist/server/index.d.ts')).catch(() => undefined);
    if (!built) throw new Error('dist/ is missing: run `npm run build` first');
    dir = await mkdtemp(path.join(tmpdir(), 'stomp-relay-pack-'));
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], { cwd: ROOT });
    const tarball = path.join(dir, stdout.trim().split('\n').pop()!);
    project = path.join(dir, 'host');
    await run('mkdir', [project]);
    await writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'host', version: '1.0.0', private: true, type: 'module' }));
    // The repository's own TypeScript version: the check does not move when a new one is released.
    const { version: typescript } = JSON.parse(await readFile(path.join(ROOT, 'node_modules/typescript/package.json'), 'utf8')) as { version: string };
    await run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--prefer-offline', tarball, `typescript@${typescript}`], { cwd: project });
    await tsc(project, ['--init']);
    await writeFile(path.join(project, 'index.ts'), await readmeEmbeddingSnippet());
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('compiles the README snippet with the settings of tsc --init', async () => {
    const { code, output } = await tsc(project, ['--noEmit', '-p', '.']);
    expect(output).to.equal('');
    expect(code).to.equal(0);
  });

  it('type-checks the package\'s own .d.ts files there too (skipLibCheck off)', async () => {
    const { code, output } = await tsc(project, ['--noEmit', '-p', '.', '--skipLibCheck', 'false']);
    expect(output).to.equal('');
    expect(code).to.equal(0);
  });
});

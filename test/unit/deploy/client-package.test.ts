/**
 * The browser library as its own npm package (client/package.json, `stomp-relay-client`): what
 * `npm pack` puts in the tarball (the built ES module and types, no server code, no sources), what
 * its package.json promises (ESM, `exports` with types, @stomp/stompjs its only dependency), and
 * that its .d.ts compile in a fresh TypeScript project that has nothing but the unpacked tarball
 * and @stomp/stompjs (no @types, no network), under both the bundler and the nodenext resolution.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..', '..');
const TSC = require.resolve('typescript/bin/tsc', { paths: [ROOT] });
const SERVER_DEPENDENCIES = ['express', 'amqplib', 'ws', 'sockjs', 'pino', 'prom-client', 'jsonwebtoken', 'jose', 'passport', 'yaml'];

interface PackedFile { path: string }
interface PackageJson {
  name: string;
  version: string;
  type?: string;
  types?: string;
  exports?: Record<string, string | Record<string, string>>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

/** Runs tsc on `project`; returns its output, or throws with it when the compile fails. */
function tsc(project: string): string {
  try {
    return execFileSync(process.execPath, [TSC, '-p', project], { encoding: 'utf8', stdio: 'pipe' });
  } catch (err) {
    const { stdout, stderr } = err as { stdout?: string; stderr?: string };
    throw new Error(`tsc -p ${project} failed:\n${stdout ?? ''}${stderr ?? ''}`);
  }
}

/**
 * An application's use of the library, as the README shows it. The @ts-expect-error lines make the
 * compile fail if the types were lost (`any`: an unresolved import in a .d.ts) or wrong.
 */
const CONSUMER = `
import { createRelayClient, backoffDelay, DEFAULT_RECONNECT, type RelayClient, type RelayClientOptions, type RelayMessage, type ConnectionState } from 'stomp-relay-client';
import { createRelayClient as standaloneCreate } from 'stomp-relay-client/standalone';

const options: RelayClientOptions = {
  url: 'https://push.example.com',
  transport: 'auto',
  token: async () => 'jwt',
  onError: (err) => console.warn(err.code, err.message),
};
const relay: RelayClient = createRelayClient(options);
const sub = relay.subscribeUser('/queue/notifications', (m: RelayMessage) => console.log(m.body));
void sub.whenActive().then(() => sub.unsubscribe());
relay.publish('/topic/chat', { text: 'hello' });
const state: ConnectionState = relay.state;
const delay: number = backoffDelay(3, DEFAULT_RECONNECT);
relay.close();
standaloneCreate({ url: '' }).close();
export { state, delay };

// @ts-expect-error url must be a string
createRelayClient({ url: 42 });
// @ts-expect-error no such transport
createRelayClient({ url: '', transport: 'carrier-pigeon' });
`;

describe('client package (npm pack of client/, types in a fresh TypeScript project)', function () {
  this.timeout(120_000);
  let work: string;
  let tarball: string;
  let files: string[];
  let manifest: PackageJson;
  const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson;

  before(() => {
    execFileSync(process.execPath, [join(ROOT, 'client', 'build.mjs')], { cwd: ROOT, stdio: 'pipe' });
    work = mkdtempSync(join(tmpdir(), 'stomp-relay-client-pack-'));
    const packed = JSON.parse(
      execFileSync('npm', ['pack', './client', '--pack-destination', work, '--json', '--ignore-scripts', '--offline'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
    ) as Array<{ filename: string; files: PackedFile[] }>;
    tarball = join(work, packed[0].filename);
    files = packed[0].files.map((f) => f.path).sort();
    manifest = JSON.parse(readFileSync(join(ROOT, 'client', 'package.json'), 'utf8')) as PackageJson;
  });

  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('packs the built module, its source maps, the types and the README: no server code, no sources', () => {
    expect(files).to.include.members(['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/stomp-relay-client.js', 'dist/types/index.d.ts']);
    for (const file of files) {
      expect(file, `${file} is package metadata or built output`).to.match(/^(package\.json|README\.md|LICENSE|dist\/.+)$/);
      expect(file, file).to.not.match(/(^|\/)(server|src|demo|node_modules|test)\//);
      if (file.endsWith('.ts')) expect(file, `${file}: only declarations ship`).to.match(/\.d\.ts$/);
    }
  });

  it('has a package.json for an ES module with types: exports with types first, the one dependency @stomp/stompjs', () => {
    expect(manifest.name).to.equal('stomp-relay-client');
    expect(manifest.version, 'released with the relay').to.equal(root.version);
    expect(manifest.type).to.equal('module');
    expect(manifest.types).to.equal('./dist/index.d.ts');
    for (const entry of ['.', './standalone']) {
      const conditions = manifest.exports?.[entry] as Record<string, string>;
      expect(Object.keys(conditions)[0], `exports["${entry}"] lists types first (TypeScript reads the first match)`).to.equal('types');
      for (const target of Object.values(conditions)) expect(files, `exports["${entry}"] → ${target} is packed`).to.include(target.replace(/^\.\//, ''));
    }
    const runtime = { ...manifest.dependencies, ...manifest.peerDependencies };
    expect(Object.keys(runtime).filter((d) => d !== '@stomp/stompjs' && d !== 'sockjs-client'), 'dependencies beyond stompjs/sockjs-client').to.deep.equal([]);
    expect(Object.keys(runtime).filter((d) => SERVER_DEPENDENCIES.includes(d))).to.deep.equal([]);
    // The range the relay's own build and tests use, so the package is what was tested.
    for (const [name, range] of Object.entries(runtime)) expect(range, name).to.equal(root.devDependencies?.[name]);
  });

  it('ships a main module that imports only @stomp/stompjs (sockjs-client inlined, nothing from Node or the server)', () => {
    const code = readFileSync(join(ROOT, 'client', 'dist', 'index.js'), 'utf8');
    const imported = [...code.matchAll(/^\s*(?:import|export)\b[^'"]*?\bfrom\s*["']([^"']+)["']/gm)].map((m) => m[1]);
    expect([...new Set(imported)]).to.deep.equal(['@stomp/stompjs']);
    expect(code).to.not.match(/\brequire\(\s*["'](node:|express|amqplib|ws["'])/);
    expect(code).to.not.match(/\bimport\(\s*["']/);
  });

  for (const moduleResolution of ['bundler', 'nodenext'] as const) {
    it(`compiles an application against the packed .d.ts (moduleResolution ${moduleResolution}, no @types, skipLibCheck off)`, () => {
      const app = join(work, `app-${moduleResolution}`);
      const modules = join(app, 'node_modules');
      mkdirSync(join(modules, '@stomp'), { recursive: true });
      execFileSync('tar', ['-xzf', tarball, '-C', modules]);
      renameSync(join(modules, 'package'), join(modules, 'stomp-relay-client'));
      symlinkSync(join(ROOT, 'node_modules', '@stomp', 'stompjs'), join(modules, '@stomp', 'stompjs'), 'dir');
      writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
      writeFileSync(join(app, 'app.ts'), CONSUMER);
      writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: moduleResolution === 'bundler' ? 'ESNext' : 'NodeNext',
          moduleResolution,
          lib: ['ES2022', 'DOM'],
          types: [],
          strict: true,
          skipLibCheck: false,
          // The package's .d.ts are checked; TypeScript's own lib files need not be, every run.
          skipDefaultLibCheck: true,
          noEmit: true,
        },
        files: ['app.ts'],
      }));
      tsc(app);
    });
  }
});

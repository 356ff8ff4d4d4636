// Builds the browser client twice from client/src:
//
// - the npm package stomp-relay-client (client/package.json) in client/dist/: `index.js`, an ES
//   module that imports @stomp/stompjs (its one dependency) and inlines sockjs-client; `index.d.ts`
//   and `types/`; and `stomp-relay-client.js`, the standalone module (both libraries inlined);
// - what the relay serves at /client/ (dist/client/): the standalone module and its source map,
//   the same types, and sockjs-client for SockJS's iframe transports.
//
//   node client/build.mjs           (part of `npm run build`)
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'client', 'src', 'index.ts');
const packageDir = join(root, 'client', 'dist');
const servedDir = join(root, 'dist', 'client');
const require = createRequire(import.meta.url);

// Only the generated types are cleared first: the bundles are overwritten in place, so a relay serving
// dist/client (a running `npm start`, a test next door) never finds one missing for the seconds tsc takes.
rmSync(join(packageDir, 'types'), { recursive: true, force: true });
rmSync(join(servedDir, 'types'), { recursive: true, force: true });
mkdirSync(packageDir, { recursive: true });
mkdirSync(servedDir, { recursive: true });

// Types first: tsc also type-checks the client against the DOM lib, so a type error fails the build.
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(root, 'client', 'tsconfig.json')], {
  stdio: 'inherit',
});
addJsExtensions(join(packageDir, 'types'));
const typesEntry = "export * from './types/index.js';\n";
writeFileSync(join(packageDir, 'index.d.ts'), typesEntry);
cpSync(join(packageDir, 'types'), join(servedDir, 'types'), { recursive: true });
writeFileSync(join(servedDir, 'stomp-relay-client.d.ts'), typesEntry);

const common = {
  entryPoints: [entry],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2020'],
  sourcemap: true,
  legalComments: 'linked',
  // sockjs-client is CommonJS written for browserify: it reads `global` and, outside production,
  // pulls in the `debug` package through process.env.NODE_ENV. Inlining it with these defines is
  // what spares applications the "global is not defined" a bundler like Vite stops at.
  define: { global: 'globalThis', 'process.env.NODE_ENV': '"production"' },
  metafile: true,
  logLevel: 'warning',
};

// The package's main module: readable (the application's bundler minifies), @stomp/stompjs left
// as an import so the application shares one copy with its own use of it.
await build({ ...common, outfile: join(packageDir, 'index.js'), external: ['@stomp/stompjs'] });

// The standalone module, for pages without a bundler: served by the relay, and shipped in the
// package. Built once per place, so each source map's relative `sources` point at client/src.
const standalone = await build({ ...common, outfile: join(servedDir, 'stomp-relay-client.js'), minify: true });
await build({ ...common, outfile: join(packageDir, 'stomp-relay-client.js'), minify: true });

// SockJS's iframe-based transports (for old browsers and cross-domain polling) load sockjs-client
// from the server itself; the relay points them at /client/sockjs.min.js instead of a CDN.
copyFileSync(require.resolve('sockjs-client/dist/sockjs.min.js'), join(servedDir, 'sockjs.min.js'));

const bytes = Object.values(standalone.metafile.outputs).find((o) => o.entryPoint)?.bytes ?? 0;
process.stdout.write(`client: client/dist (package stomp-relay-client), dist/client/stomp-relay-client.js (${(bytes / 1024).toFixed(1)} KiB)\n`);

/**
 * tsc writes `from './types'` in the .d.ts files, as the sources say it. A package of
 * `"type": "module"` is read by TypeScript's node16/nodenext resolution as ES modules, where a
 * relative import needs its extension; `./types.js` resolves to types.d.ts under every resolution.
 */
function addJsExtensions(dir) {
  for (const name of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, name.name);
    if (name.isDirectory()) {
      addJsExtensions(path);
      continue;
    }
    if (!name.name.endsWith('.d.ts')) continue;
    const text = readFileSync(path, 'utf8').replace(/(\bfrom\s*|\bimport\s*\(\s*)(['"])(\.{1,2}\/[^'"]*)\2/g, (match, lead, quote, specifier) => {
      if (specifier.endsWith('.js')) return match;
      const base = join(dirname(path), specifier);
      if (existsSync(`${base}.d.ts`)) return `${lead}${quote}${specifier}.js${quote}`;
      if (existsSync(join(base, 'index.d.ts'))) return `${lead}${quote}${specifier}/index.js${quote}`;
      throw new Error(`${path}: cannot resolve ${specifier}`);
    });
    writeFileSync(path, text);
  }
}

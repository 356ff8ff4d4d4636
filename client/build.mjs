// Builds the browser client: one minified ES module (stompjs and sockjs-client inlined) that the relay
// serves at /client/stomp-relay-client.js, plus .d.ts types for applications that bundle it themselves.
//
//   node client/build.mjs           (part of `npm run build`)
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'dist', 'client');
const require = createRequire(import.meta.url);

// Only the generated types are cleared first: the bundle is overwritten in place, so a relay serving
// dist/client (a running `npm start`, a test next door) never finds it missing for the seconds tsc takes.
rmSync(join(outDir, 'types'), { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });

// Types first: tsc also type-checks the client against the DOM lib, so a type error fails the build.
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(root, 'client', 'tsconfig.json')], {
  stdio: 'inherit',
});
writeFileSync(join(outDir, 'stomp-relay-client.d.ts'), "export * from './types/index';\n");

const result = await build({
  entryPoints: [join(root, 'client', 'src', 'index.ts')],
  outfile: join(outDir, 'stomp-relay-client.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2020'],
  minify: true,
  sourcemap: true,
  legalComments: 'linked',
  // sockjs-client is CommonJS written for browserify: it reads `global` and, outside production,
  // pulls in the `debug` package through process.env.NODE_ENV.
  define: { global: 'globalThis', 'process.env.NODE_ENV': '"production"' },
  metafile: true,
  logLevel: 'warning',
});

// SockJS's iframe-based transports (for old browsers and cross-domain polling) load sockjs-client
// from the server itself; the relay points them at /client/sockjs.min.js instead of a CDN.
copyFileSync(require.resolve('sockjs-client/dist/sockjs.min.js'), join(outDir, 'sockjs.min.js'));

const bytes = Object.values(result.metafile.outputs).find((o) => o.entryPoint)?.bytes ?? 0;
process.stdout.write(`client: dist/client/stomp-relay-client.js (${(bytes / 1024).toFixed(1)} KiB)\n`);

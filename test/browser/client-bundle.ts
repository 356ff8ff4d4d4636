/** The client bundle the relay serves (dist/client), for the browser tests. */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..');

/** Builds dist/client (the bundle the relay serves) unless it is newer than every client source. */
export function ensureClientBundle(): void {
  const bundle = join(ROOT, 'dist', 'client', 'stomp-relay-client.js');
  const sources = readdirSync(join(ROOT, 'client', 'src')).map((f) => join(ROOT, 'client', 'src', f));
  if (existsSync(bundle) && sources.every((f) => statSync(f).mtimeMs < statSync(bundle).mtimeMs)) return;
  execFileSync(process.execPath, [join(ROOT, 'client', 'build.mjs')], { cwd: ROOT, stdio: 'pipe' });
}

/** Facts about the installed package, found once from this file's location (works from dist/ and from sources). */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

function findRoot(start: string): string {
  let dir = start;
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string };
      if (pkg.name === 'stomp-relay') return dir;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`stomp-relay package.json not found above ${start}`);
    dir = parent;
  }
}

/** Folder holding stomp-relay's package.json. */
export const PACKAGE_ROOT = findRoot(__dirname);
/** Version from package.json, sent in CONNECTED's `server` header. */
export const PACKAGE_VERSION: string = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string })
  .version;

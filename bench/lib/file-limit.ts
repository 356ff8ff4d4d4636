/**
 * Thousands of sockets need more than the default 1024 open files. Node cannot raise its own
 * limit, so a script that needs more re-runs itself once under `ulimit -n <hard limit>` (children,
 * relay processes included, inherit it).
 */
import { execFileSync, spawnSync } from 'node:child_process';

const MARK = 'STOMP_RELAY_BENCH_NOFILE_RAISED';

/** Current soft limit on open files (a shell started from here inherits ours). */
export function openFileLimit(): number {
  return Number(execFileSync('bash', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
}

/**
 * When fewer than `needed` files may be open, re-runs this script under the hard limit and exits
 * with its status. Returns only in the process that is to do the work.
 */
export function ensureOpenFileLimit(needed: number): void {
  const soft = openFileLimit();
  if (soft >= needed || process.env[MARK]) return;
  const result = spawnSync('bash', ['-c', 'ulimit -n "$(ulimit -Hn)" && exec "$@"', 'bash', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, [MARK]: '1' },
  });
  process.exit(result.status ?? 1);
}

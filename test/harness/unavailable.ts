/**
 * What a suite does when a tool it needs (chromium, nginx, rabbitmq-server) is missing: it fails,
 * saying what to install, so CI (test/run-all.sh installs everything) can never pass by skipping.
 * A developer without the tool opts out with `STOMP_RELAY_ALLOW_SKIP=1`, and the suite is skipped.
 */

/** The environment variable that turns a missing tool from a failure into a skip. */
export const ALLOW_SKIP_ENV = 'STOMP_RELAY_ALLOW_SKIP';

/**
 * Call first in a `before` hook (or a test) with the reason the suite cannot run, or undefined if
 * it can: returns when it can, skips when `STOMP_RELAY_ALLOW_SKIP=1`, and throws otherwise.
 */
export function requireTool(context: Mocha.Context, reason: string | undefined): void {
  if (reason === undefined) return;
  if (process.env[ALLOW_SKIP_ENV] === '1') context.skip();
  throw new Error(`${reason}; set ${ALLOW_SKIP_ENV}=1 to skip the tests that need it`);
}

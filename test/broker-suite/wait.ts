/**
 * Bounded waits for the broker suites: wait for a condition, never sleep for synchronisation.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { isRelayError, type ErrorCode } from '../../server/errors';

/** Default bound for anything a broker should do promptly (a real RabbitMQ included). */
export const WAIT_MS = 5000;

/**
 * Resolves once `condition()` is true, checking every few milliseconds; rejects after `timeoutMs`
 * with `describe()` in the message, so a failure says what was missing.
 */
export async function waitUntil(condition: () => boolean, describe: () => string, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * Lets time pass so that something which must NOT happen would have had the chance to. Only for
 * asserting absence, which no event can signal; never to wait for something that should happen.
 */
export function quietPeriod(ms = 150): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A destination nobody used before: reruns against a persistent RabbitMQ never see leftovers. */
export function freshDestination(prefix: '/topic/' | '/queue/' | '/exchange/amq.topic/' | '/exchange/amq.fanout/' | '/amq/queue/'): string {
  return `${prefix}contract-${randomBytes(8).toString('hex')}`;
}

/** Asserts that `promise` rejects with a RelayError of `code`, and returns it. */
export async function expectRelayError(promise: Promise<unknown>, code: ErrorCode) {
  let outcome: unknown;
  try {
    await promise;
  } catch (err) {
    outcome = err;
  }
  expect(isRelayError(outcome), `expected a RelayError ${code}, got ${String(outcome)}`).to.equal(true);
  if (!isRelayError(outcome)) throw new Error('unreachable');
  expect(outcome.code).to.equal(code);
  return outcome;
}

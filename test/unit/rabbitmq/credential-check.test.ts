/**
 * The verdict cache, sharing and bounds of AUTH_MODE=broker's credential check, with a scripted
 * sign-in attempt in place of RabbitMQ (test/integration/rabbitmq/broker-auth.test.ts runs the
 * real thing).
 */
import { inspect } from 'node:util';
import { expect } from 'chai';
import { CredentialCheck, type SignIn } from '../../../server/broker/rabbitmq/credential-check';
import { Errors, relayError } from '../../../server/errors';
import { expectRelayError } from '../../broker-suite/wait';

const ENDPOINT = { host: '127.0.0.1', port: 1, vhost: '/', login: 'relay', passcode: 'relay-secret' };

/** A sign-in whose every attempt the test answers by hand. */
class ScriptedSignIn {
  /** Every attempt made, in order. */
  readonly attempts: Array<{ login: string; passcode: string }> = [];
  private readonly pending: Array<{ answer(accepted: boolean): void; fail(): void }> = [];
  readonly signIn: SignIn = (login, passcode) => new Promise<boolean>((resolve, reject) => {
    this.attempts.push({ login, passcode });
    this.pending.push({ answer: resolve, fail: () => reject(relayError(Errors.BROKER_UNAVAILABLE, 'connection refused')) });
  });

  /** Attempts running and not answered yet. */
  get open(): number { return this.pending.length; }

  /** The oldest unanswered attempt. */
  next(): { answer(accepted: boolean): void; fail(): void } {
    const attempt = this.pending.shift();
    if (attempt === undefined) throw new Error('no attempt is waiting for an answer');
    return attempt;
  }
}

/** Lets queued promise callbacks run (no timers involved). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('rabbitmq CredentialCheck (AUTH_MODE=broker)', () => {
  let now = 0;
  beforeEach(() => { now = 0; });
  const check = (script: ScriptedSignIn, options: { maxConcurrent?: number; maxQueued?: number } = {}) =>
    new CredentialCheck({ endpoint: ENDPOINT, signIn: script.signIn, okTtlMs: 1000, refusedTtlMs: 100, now: () => now, ...options });

  it('accepts what the broker accepts, and answers the same credentials from its cache until the TTL passes', async () => {
    const script = new ScriptedSignIn();
    const c = check(script);
    const first = c.verify('alice', 'pw');
    await settle();
    expect(script.attempts.map((a) => [a.login, a.passcode])).to.deep.equal([['alice', 'pw']]);
    script.next().answer(true);
    await first;
    now = 999;
    await c.verify('alice', 'pw');
    expect(script.attempts).to.have.length(1);
    now = 1000;
    const again = c.verify('alice', 'pw');
    await settle();
    expect(script.attempts, 'after the TTL the broker is asked again').to.have.length(2);
    script.next().answer(true);
    await again;
  });

  it('refuses with AUTHENTICATION_FAILED what the broker refuses, remembers it briefly, and keys on login and passcode together', async () => {
    const script = new ScriptedSignIn();
    const c = check(script);
    const wrong = c.verify('alice', 'p4ss-guess');
    await settle();
    script.next().answer(false);
    const error = await expectRelayError(wrong, 'AUTHENTICATION_FAILED');
    expect(error.message).to.include('alice');
    expect(error.message, 'the passcode is never repeated').to.not.include('p4ss-guess');
    await expectRelayError(c.verify('alice', 'p4ss-guess'), 'AUTHENTICATION_FAILED');
    expect(script.attempts, 'the refusal came from the cache').to.have.length(1);

    const right = c.verify('alice', 'right');
    await settle();
    expect(script.attempts, 'another passcode is another question').to.have.length(2);
    script.next().answer(true);
    await right;
    // Login and passcode cannot be shifted into each other: ('ali', 'cep4ss-guess') is not ('alice', 'p4ss-guess').
    const shifted = c.verify('ali', 'cep4ss-guess');
    await settle();
    expect(script.attempts).to.have.length(3);
    script.next().answer(true);
    await shifted;

    now = 100;
    const later = c.verify('alice', 'p4ss-guess');
    await settle();
    expect(script.attempts, 'a refusal is forgotten sooner').to.have.length(4);
    script.next().answer(false);
    await expectRelayError(later, 'AUTHENTICATION_FAILED');
  });

  it('lets concurrent checks of the same credentials share one attempt', async () => {
    const script = new ScriptedSignIn();
    const c = check(script);
    const all = Array.from({ length: 20 }, () => c.verify('bob', 'pw'));
    await settle();
    expect(script.attempts).to.have.length(1);
    script.next().answer(true);
    await Promise.all(all);
  });

  it('runs at most maxConcurrent attempts at once, queues the rest, and refuses beyond maxQueued with BROKER_UNAVAILABLE', async () => {
    const script = new ScriptedSignIn();
    const c = check(script, { maxConcurrent: 2, maxQueued: 3 });
    const checks = Array.from({ length: 5 }, (_, i) => c.verify(`user${i}`, 'pw'));
    await settle();
    expect(script.open).to.equal(2);
    await expectRelayError(c.verify('one-too-many', 'pw'), 'BROKER_UNAVAILABLE');
    for (let answered = 0; answered < 5; answered++) {
      script.next().answer(true);
      await settle();
      expect(script.open).to.be.at.most(2);
    }
    expect(script.open).to.equal(0);
    await Promise.all(checks);
    expect(script.attempts.map((a) => a.login).sort()).to.deep.equal(['user0', 'user1', 'user2', 'user3', 'user4']);
  });

  it('passes BROKER_UNAVAILABLE on when the broker cannot be reached, and does not remember it', async () => {
    const script = new ScriptedSignIn();
    const c = check(script);
    const first = c.verify('carol', 'pw');
    await settle();
    script.next().fail();
    await expectRelayError(first, 'BROKER_UNAVAILABLE');
    const second = c.verify('carol', 'pw');
    await settle();
    expect(script.attempts).to.have.length(2);
    script.next().answer(true);
    await second;
  });

  it('keeps no passcode in clear, neither while checking nor in its cache', async () => {
    const script = new ScriptedSignIn();
    const c = check(script);
    const passcode = 'correct-horse-battery-staple';
    const pending = c.verify('dave', passcode);
    await settle();
    expect(inspect(c, { depth: 20, showHidden: true }), 'while checking').to.not.include(passcode);
    script.next().answer(true);
    await pending;
    const refused = c.verify('dave', passcode + '-wrong');
    await settle();
    script.next().answer(false);
    await expectRelayError(refused, 'AUTHENTICATION_FAILED');
    expect(inspect(c, { depth: 20, showHidden: true }), 'in the cache').to.not.include('correct-horse');
  });

  it('bounds its cache', async () => {
    const script = new ScriptedSignIn();
    const c = new CredentialCheck({ endpoint: ENDPOINT, signIn: script.signIn, okTtlMs: 1000, refusedTtlMs: 100, maxEntries: 2, now: () => now });
    for (const login of ['a', 'b', 'c']) {
      const p = c.verify(login, 'pw');
      await settle();
      script.next().answer(true);
      await p;
    }
    expect(c.cachedVerdicts).to.equal(2);
    const a = c.verify('a', 'pw');
    await settle();
    expect(script.attempts, 'the oldest entry was evicted').to.have.length(4);
    script.next().answer(true);
    await a;
  });
});

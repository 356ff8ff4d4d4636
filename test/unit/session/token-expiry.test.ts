import { expect } from 'chai';
import type { Authenticator, Principal } from '../../../server/auth/authenticator';
import { JwtAuthenticator } from '../../../server/auth/jwt-authenticator';
import { headers } from '../../../server/codec/frame';
import { DeadlineQueue, type DeadlineClock } from '../../../server/session/deadline-queue';
import jwt from 'jsonwebtoken';
import { createTestHub, type TestHub } from './session-harness';

/** A clock whose time the test sets; timers fire only when the test says so. */
class ManualClock implements DeadlineClock {
  time = Date.now();
  private readonly timers = new Map<number, () => void>();
  private next = 1;
  now(): number { return this.time; }
  setTimer(callback: () => void): unknown { const h = this.next++; this.timers.set(h, callback); return h; }
  clearTimer(handle: unknown): void { this.timers.delete(handle as number); }
  get armed(): number { return this.timers.size; }
  /** Moves to `time` and fires the armed timer (the queue re-arms for what is not due yet). */
  advanceTo(time: number): void {
    this.time = time;
    for (const [h, callback] of [...this.timers]) {
      this.timers.delete(h);
      callback();
    }
  }
}

/** Names the user after `login` and says the session's credential ends at `expiresAt`. */
function expiringAuth(expiresAt: (login: string) => number | undefined): Authenticator {
  return {
    mode: 'test',
    async authenticate(req): Promise<Principal> {
      const name = req.connectHeaders.login!;
      return { name, expiresAt: expiresAt(name) };
    },
  };
}

describe('session: ends when its token expires', () => {
  let t: TestHub;
  afterEach(async () => t?.stop());

  it('sends ERROR TOKEN_EXPIRED with a readable message and closes, once the principal\'s expiry passes', async () => {
    const clock = new ManualClock();
    const expiries = new DeadlineQueue({ clock });
    const at = clock.time + 60_000;
    t = await createTestHub({}, { authenticator: expiringAuth(() => at), expiries });
    const c = await t.open({ login: 'ann' });
    const other = await t.open({ login: 'bob' });
    expect(expiries.size).to.equal(2);
    expect(clock.armed, 'one timer for both sessions').to.equal(1);

    clock.advanceTo(at - 1);
    expect(c.pending().map((f) => f.command)).to.deep.equal([]);
    expect(c.isClosed).to.equal(false);

    clock.advanceTo(at);
    const error = await c.expectError('TOKEN_EXPIRED');
    expect(error.headers.message).to.match(/token .*expired/);
    expect(error.headers.message).to.match(/reconnect/);
    await other.expectError('TOKEN_EXPIRED');
    expect(expiries.size).to.equal(0);
  });

  it('forgets the deadline of a session that ends first, and schedules nothing without an expiry', async () => {
    const clock = new ManualClock();
    const expiries = new DeadlineQueue({ clock });
    t = await createTestHub({}, { authenticator: expiringAuth((login) => (login === 'ann' ? clock.time + 1000 : undefined)), expiries });
    const c = await t.open({ login: 'ann' });
    const forever = await t.open({ login: 'bob' });
    expect(expiries.size).to.equal(1);
    c.sendFrame('DISCONNECT', {});
    await c.closedEvent;
    expect(expiries.size).to.equal(0);
    expect(clock.armed).to.equal(0);
    clock.advanceTo(clock.time + 10_000);
    expect(forever.isClosed).to.equal(false);
  });

  it('refuses a principal whose expiry is not a time (an authenticator bug) with AUTHENTICATION_FAILED', async () => {
    t = await createTestHub({}, { authenticator: expiringAuth(() => Number.NaN) });
    const c = await t.open({ connect: false });
    c.sendFrame('CONNECT', { 'accept-version': '1.2', login: 'ann' });
    expect((await c.expectError('AUTHENTICATION_FAILED')).headers.message).to.match(/expiry/);
  });

  it('JwtAuthenticator gives the principal the token\'s exp (plus the clock tolerance) as its expiry', async () => {
    const secret = 'unit-secret-0123456789';
    const exp = Math.floor(Date.now() / 1000) + 600;
    const token = jwt.sign({ sub: 'ann', exp }, secret, { algorithm: 'HS256' });
    const handshake = { remoteAddress: '127.0.0.1', url: '/ws', headers: {} };
    const strict = await new JwtAuthenticator({ secret, clockToleranceSec: 0 }).authenticate({ connectHeaders: headers({ passcode: token }), handshake });
    expect(strict?.expiresAt).to.equal(exp * 1000);
    const tolerant = await new JwtAuthenticator({ secret }).authenticate({ connectHeaders: headers({ passcode: token }), handshake });
    expect(tolerant?.expiresAt).to.equal((exp + 5) * 1000);
    const endless = jwt.sign({ sub: 'ann' }, secret, { algorithm: 'HS256' });
    const lenient = await new JwtAuthenticator({ secret, requireExp: false }).authenticate({ connectHeaders: headers({ passcode: endless }), handshake });
    expect(lenient?.expiresAt).to.equal(undefined);
  });
});

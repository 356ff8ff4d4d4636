import { expect } from 'chai';
import { DevLoginAuthenticator } from '../../../server/auth/dev-login-authenticator';
import { headers } from '../../../server/codec/frame';
import { RelayError } from '../../../server/errors';
import { PrefixRouter } from '../../../server/session/destination-router';
import { isFrozenPlainData } from '../../../server/session/authorization';
import type { StompSession } from '../../../server/session/stomp-session';
import { createTestHub } from './session-harness';

const handshake = { remoteAddress: '127.0.0.1', url: '/ws', headers: {} };

describe('DevLoginAuthenticator', () => {
  const auth = new DevLoginAuthenticator();

  it('names the user after the login header', async () => {
    expect(await auth.authenticate({ connectHeaders: headers({ login: 'carol' }), handshake })).to.deep.equal({ name: 'carol' });
    expect(auth.mode).to.equal('dev');
  });

  it('makes a CONNECT without login anonymous', async () => {
    expect(await auth.authenticate({ connectHeaders: headers({}), handshake })).to.equal(null);
    expect(await auth.authenticate({ connectHeaders: headers({ login: '' }), handshake })).to.equal(null);
  });

  it('refuses names that could not be used in a user destination', async () => {
    for (const login of ['a/b', 'x\ty', 'z'.repeat(300)]) {
      const attempt = auth.authenticate({ connectHeaders: headers({ login }), handshake });
      await attempt.then(
        () => expect.fail(`accepted ${JSON.stringify(login)}`),
        (err: unknown) => {
          expect(err).to.be.instanceOf(RelayError);
          expect((err as RelayError).code).to.equal('AUTHENTICATION_FAILED');
        }
      );
    }
  });
});

describe('frozen principals: handed out as they are, or copied', () => {
  it('a session of a dev login hands events and authorizers its principal itself, frozen (no copy per session)', async () => {
    const t = await createTestHub();
    try {
      const c = await t.open({ login: 'carol' });
      const session = c.session;
      expect(session.frozenPrincipal).to.equal(session.principal);
      expect(Object.isFrozen(session.principal)).to.equal(true);
    } finally {
      await t.stop();
    }
  });

  it('copies a principal that is not frozen plain data all the way down, and takes one that is', () => {
    const plain = Object.freeze({ name: 'a', claims: Object.freeze({ groups: Object.freeze(['x', 'y']), n: 1 }) });
    expect(isFrozenPlainData(plain)).to.equal(true);
    const notPlain: Array<[string, unknown]> = [
      ['not frozen', { name: 'a' }],
      ['a nested object not frozen', Object.freeze({ name: 'a', claims: { role: 'admin' } })],
      ['a function', Object.freeze({ name: 'a', hook: () => undefined })],
      ['an undefined value (a copy leaves the key out)', Object.freeze({ name: 'a', expiresAt: undefined })],
      ['a Date', Object.freeze({ name: 'a', at: Object.freeze(new Date(0)) })],
      ['a class instance', Object.freeze(new (class User { name = 'a'; })())],
      ['an accessor', Object.freeze(Object.defineProperty({}, 'name', { get: () => 'a', enumerable: true }))],
    ];
    for (const [what, value] of notPlain) expect(isFrozenPlainData(value), what).to.equal(false);
    const cycle: Record<string, unknown> = { name: 'a' };
    cycle.self = cycle;
    Object.freeze(cycle);
    expect(isFrozenPlainData(cycle), 'a cycle').to.equal(false);
  });
});

describe('PrefixRouter', () => {
  const router = new PrefixRouter(['/topic/', '/queue/']);
  const session = {} as StompSession;
  const frame = { command: 'SEND', headers: headers({}), body: Buffer.alloc(0) };

  it('relays destinations under a prefix unchanged', () => {
    expect(router.routeSubscribe(session, '/topic/a.b', headers({}))).to.deep.equal({ brokerDestination: '/topic/a.b' });
    expect(router.routeSend(session, '/queue/q', frame)).to.deep.equal({ kind: 'broker', destination: '/queue/q' });
  });

  it('refuses everything else with DESTINATION_NOT_ALLOWED', () => {
    for (const d of ['/app/x', '/user/queue/x', '/topic/', 'topic/x', '/topicx', '']) {
      expect(() => router.routeSend(session, d, frame), d).to.throw(RelayError).with.property('code', 'DESTINATION_NOT_ALLOWED');
      expect(() => router.routeSubscribe(session, d, headers({})), d).to.throw(RelayError).with.property('code', 'DESTINATION_NOT_ALLOWED');
    }
  });
});

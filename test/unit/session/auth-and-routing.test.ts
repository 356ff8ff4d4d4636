import { expect } from 'chai';
import { DevLoginAuthenticator } from '../../../server/auth/dev-login-authenticator';
import { headers } from '../../../server/codec/frame';
import { RelayError } from '../../../server/errors';
import { PrefixRouter } from '../../../server/session/destination-router';
import type { StompSession } from '../../../server/session/stomp-session';

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

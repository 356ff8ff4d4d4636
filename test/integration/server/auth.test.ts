/**
 * JWT authentication on a real relay with AUTH_JWT_SECRET set: STOMP CONNECT with a token in each
 * place a client can put one, refusals a user would see, and the push API's bearer + scope check.
 */
import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import { JwtAuthenticator } from '../../../server/auth/jwt-authenticator';
import {
  RAW_CHANNELS, SockJsXhr, connect, encodeRawFrame, push, request, sockjsFactory, startRelay, tryConnect, unique, wsFactory,
  type TestRelay,
  trackClients, within,
} from '../../harness/stomp-test-kit';

const SECRET = 'integration-secret-0123456789';

function token(claims: Record<string, unknown>, options: jwt.SignOptions = {}, secret = SECRET): string {
  return jwt.sign(claims, secret, { algorithm: 'HS256', expiresIn: '5m', ...options });
}
const expired = (claims: Record<string, unknown>) => jwt.sign({ ...claims, exp: Math.floor(Date.now() / 1000) - 60 }, SECRET, { algorithm: 'HS256' });
/** A token that never expires: no `exp` claim. */
const endless = (claims: Record<string, unknown>) => jwt.sign(claims, SECRET, { algorithm: 'HS256' });

describe('server: JWT authentication', function () {
  let server: TestRelay;
  const track = trackClients();

  before(async () => { server = await startRelay({ authJwtSecret: SECRET }); });
  after(async () => { await server.close(); });

  describe('STOMP CONNECT', () => {
    it('accepts "Authorization: Bearer <jwt>" in CONNECT; CONNECTED names the user', async () => {
      const alice = unique('alice');
      const client = track(await connect(wsFactory(server.wsUrl), { connectHeaders: { Authorization: `Bearer ${token({ sub: alice })}` } }));
      expect(client.connected.headers['user-name']).to.equal(alice);
    });

    it('accepts the JWT as CONNECT passcode (what stomp.js connectHeaders offer)', async () => {
      const alice = unique('alice');
      const client = track(await connect(wsFactory(server.wsUrl), { connectHeaders: { login: 'ignored', passcode: token({ sub: alice }) } }));
      expect(client.connected.headers['user-name']).to.equal(alice);
    });

    for (const transport of ['websocket', 'xhr-streaming', 'xhr-polling'] as const) {
      it(`accepts ?access_token on the SockJS URL (SockJS cannot set headers), over ${transport}`, async () => {
        const alice = unique('alice');
        const url = `${server.sockjsUrl}?access_token=${encodeURIComponent(token({ sub: alice }))}`;
        const client = track(await connect(sockjsFactory(url, transport)));
        expect(client.connected.headers['user-name']).to.equal(alice);
        // Every later request of the session carries the same query (sockjs-client keeps it), so it works on.
        const sub = await client.subscribe('/user/queue/echo');
        await client.publish(`/user/${alice}/queue/echo`, 'round trip');
        expect((await sub.messages.next()).body).to.equal('round trip');
      });
    }

    it('accepts ?access_token on the WebSocket URL', async () => {
      const alice = unique('alice');
      const client = track(await connect(wsFactory(`${server.wsUrl}?access_token=${token({ sub: alice })}`)));
      expect(client.connected.headers['user-name']).to.equal(alice);
    });

    const refusals: Array<[string, () => Record<string, string>, RegExp]> = [
      ['no token at all (a dev-mode login is not enough)', () => ({ login: 'alice' }), /no token/],
      ['a token signed with another key', () => ({ passcode: token({ sub: 'alice' }, {}, 'some-other-secret-0123456') }), /invalid token/],
      ['an expired token', () => ({ passcode: expired({ sub: 'alice' }) }), /token expired/],
      ['a token without exp (AUTH_JWT_REQUIRE_EXP defaults to true)', () => ({ passcode: endless({ sub: 'alice' }) }), /no "exp" claim/],
      ['a token without sub', () => ({ passcode: token({ scope: 'push' }) }), /"sub"/],
      ['an unsigned (alg none) token', () => ({ passcode: jwt.sign({ sub: 'alice' }, '', { algorithm: 'none' }) }), /invalid token/],
      ['a token that is not a JWT', () => ({ Authorization: 'Bearer not.a.jwt' }), /invalid token/],
    ];
    for (const [name, headers, says] of refusals) {
      it(`refuses ${name} with ERROR AUTHENTICATION_FAILED and closes`, async () => {
        const outcome = await tryConnect(wsFactory(server.wsUrl), { connectHeaders: headers() });
        if (outcome.ok) {
          track(outcome.client);
          expect.fail(`connected as ${outcome.client.connected.headers['user-name']}`);
        }
        expect(outcome.error.headers.code).to.equal('AUTHENTICATION_FAILED');
        expect(outcome.error.headers.message).to.match(says);
        await outcome.closed;
      });
    }

    for (const channel of RAW_CHANNELS) {
      it(`refuses a CONNECT without a token over ${channel.name}: ERROR, a numeric close, and the relay stays up`, async () => {
        const raw = track(await channel.open(server));
        raw.sendFrame('CONNECT', { 'accept-version': '1.2', host: 'x' });
        const error = await raw.expect('ERROR');
        expect(error.headers.code).to.equal('AUTHENTICATION_FAILED');
        expect((await raw.waitClosed()).code).to.equal(1000);
        expect((await request(`${server.http}/healthz`)).status).to.equal(200);
      });
    }

    it('words a refusal so stomp.js shows it as written: no \\c escapes before CONNECTED', async () => {
      const outcome = await tryConnect(wsFactory(server.wsUrl), { connectHeaders: { login: 'alice' } });
      if (outcome.ok) expect.fail('connected without a token');
      expect(outcome.error.headers.message).to.match(/^authentication failed: no token: send "Authorization: Bearer <jwt>"/);
      expect(outcome.error.headers.message).to.not.include('\\');
      await outcome.closed;
    });

    it('refuses a bad token on SockJS too', async () => {
      const url = `${server.sockjsUrl}?access_token=${expired({ sub: 'alice' })}`;
      const outcome = await tryConnect(sockjsFactory(url, 'xhr-polling'));
      expect(outcome.ok).to.equal(false);
      if (!outcome.ok) expect(outcome.error.headers.code).to.equal('AUTHENTICATION_FAILED');
    });
  });

  describe('SockJS: a session id is not a credential', () => {
    const stomp = (command: string, headers: Record<string, string> = {}, body = '') => encodeRawFrame(command, headers, body).toString('utf8');
    let serverId = 100;

    /**
     * A SockJS session over xhr-polling driven by hand, opened with `opening` (the query and headers
     * of its requests), connected with `connectHeaders`, subscribed to /user/queue/inbox. Returns it
     * and the session's base URL, which is all an attacker who learned the id needs.
     */
    const newBase = () => `${server.sockjsUrl}/${serverId++}/${unique('sess')}`;
    async function openSession(opening: { query?: string; headers?: Record<string, string> }, connectHeaders: Record<string, string> = {}, base = newBase()) {
      const owner = new SockJsXhr(base, opening.query, opening.headers);
      expect((await owner.poll()).kinds).to.deep.equal(['o']);
      expect(await owner.send(stomp('CONNECT', { 'accept-version': '1.2', host: 'x', ...connectHeaders }))).to.equal(204);
      expect((await owner.nextMessages('CONNECTED'))[0]).to.match(/^CONNECTED\n/);
      await owner.send(stomp('SUBSCRIBE', { id: 'inbox', destination: '/user/queue/inbox', receipt: 'sub' }));
      expect((await owner.nextMessages('RECEIPT'))[0]).to.match(/^RECEIPT\n/);
      return { owner, base };
    }
    const pushToken = () => token({ sub: 'backend', scope: 'push' });

    it("refuses a poll of alice's session without her token (404): her push stays hers", async () => {
      const alice = unique('alice');
      const { owner, base } = await openSession({ query: `access_token=${token({ sub: alice })}` });
      expect((await push(server, alice, { destination: '/queue/inbox', payload: 'for alice only' }, { token: pushToken() })).status).to.equal(202);
      for (const mallory of [new SockJsXhr(base), new SockJsXhr(base, `access_token=${token({ sub: unique('mallory') })}`)]) {
        const stolen = await mallory.poll();
        expect(stolen.status, stolen.text).to.equal(404);
        expect(stolen.text).to.not.include('for alice only');
      }
      // However the path is spelled, as long as SockJS routes it to her session.
      for (const path of ['/xhr/', '/xhr?x=1', '/xhr_streaming', '/eventsource']) {
        const res = await request(`${base}${path}`, { method: path.startsWith('/eventsource') ? 'GET' : 'POST' });
        expect(res.status, path).to.equal(404);
        expect(res.text, path).to.not.include('for alice only');
      }
      expect((await owner.nextMessages('the push')).join('')).to.include('for alice only');
    });

    it("refuses a SEND into alice's session without her token (404): nothing is sent as her", async () => {
      const alice = unique('alice');
      const { owner, base } = await openSession({ query: `access_token=${token({ sub: alice })}` });
      const topic = `/topic/${unique('as-alice')}`;
      const reader = track(await connect(wsFactory(server.wsUrl), { connectHeaders: { passcode: token({ sub: unique('reader') }) } }));
      const sub = await reader.subscribe(topic);
      expect(await new SockJsXhr(base).send(stomp('SEND', { destination: topic }, 'forged by mallory'))).to.equal(404);
      expect(await owner.send(stomp('SEND', { destination: topic }, 'from alice'))).to.equal(204);
      expect((await sub.messages.next()).body).to.equal('from alice');
    });

    it('binds a session to the request that opened it, not to an earlier one naming the same id (a preflight, a wrong path)', async () => {
      const alice = unique('alice');
      const base = newBase();
      expect((await request(`${base}/xhr`, { method: 'OPTIONS' })).status).to.be.within(200, 204);
      expect((await request(`${base}/nonsense`, { method: 'POST' })).status).to.equal(404);
      const { owner } = await openSession({ query: `access_token=${token({ sub: alice })}` }, {}, base);
      expect((await new SockJsXhr(base).poll()).status).to.equal(404);
      expect(await owner.send(stomp('SEND', { destination: `/user/${alice}/queue/inbox` }, 'mine'))).to.equal(204);
      expect((await owner.nextMessages('the message')).join('')).to.include('mine');
    });

    it('binds a session opened with an Authorization header to that header', async () => {
      const alice = unique('alice');
      const { owner, base } = await openSession({ headers: { authorization: `Bearer ${token({ sub: alice })}` } });
      expect((await new SockJsXhr(base).poll()).status).to.equal(404);
      expect(await owner.send(stomp('SEND', { destination: `/user/${alice}/queue/inbox` }, 'to myself'))).to.equal(204);
      expect((await owner.nextMessages('the message to myself')).join('')).to.include('to myself');
    });

    it('binds a session opened with cookies (and no token on its requests) to those cookies; cookies added later are fine', async () => {
      const alice = unique('alice');
      const cookie = 'app-session=alice-secret; theme=dark';
      const { base } = await openSession({ headers: { cookie } }, { passcode: token({ sub: alice }) });
      expect((await new SockJsXhr(base).poll()).status).to.equal(404);
      expect((await new SockJsXhr(base, '', { cookie: 'theme=dark' }).poll()).status).to.equal(404);
      expect((await new SockJsXhr(base, '', { cookie: 'app-session=guess; theme=dark' }).poll()).status).to.equal(404);
      const later = new SockJsXhr(base, '', { cookie: `${cookie}; analytics=1` });
      expect(await later.send(stomp('SEND', { destination: `/user/${alice}/queue/inbox` }, 'still mine'))).to.equal(204);
      expect((await later.nextMessages('the message')).join('')).to.include('still mine');
    });
  });

  describe('push API', () => {
    const body = { destination: '/queue/x', payload: 'hi' };

    it('answers a push without a token with 401 UNAUTHORIZED', async () => {
      const res = await push(server, 'alice', body);
      expect(res.status).to.equal(401);
      expect(res.body.error.code).to.equal('UNAUTHORIZED');
      expect(res.body.error.message).to.be.a('string').and.not.equal('');
    });

    it('answers a token signed with another key with 401', async () => {
      const res = await push(server, 'alice', body, { token: token({ sub: 'svc', scope: 'push' }, {}, 'wrong-secret-wrong-secret') });
      expect(res.status).to.equal(401);
      expect(res.body.error.code).to.equal('UNAUTHORIZED');
    });

    it('answers an expired token with 401', async () => {
      const res = await push(server, 'alice', body, { token: expired({ sub: 'svc', scope: 'push' }) });
      expect(res.status).to.equal(401);
      expect(res.body.error.message).to.match(/expired/);
    });

    it('answers a push-scoped token without exp with 401', async () => {
      const res = await push(server, 'alice', body, { token: endless({ sub: 'svc', scope: 'push' }) });
      expect(res.status).to.equal(401);
      expect(res.body.error.code).to.equal('UNAUTHORIZED');
      expect(res.body.error.message).to.match(/no "exp" claim/);
    });

    it('answers a valid token without the push scope with 403 FORBIDDEN', async () => {
      const res = await push(server, 'alice', body, { token: token({ sub: 'svc', scope: 'read write' }) });
      expect(res.status).to.equal(403);
      expect(res.body.error.code).to.equal('FORBIDDEN');
      expect(res.body.error.message).to.match(/push/);
    });

    it('delivers with a push-scoped token (202) to the JWT user\'s session', async () => {
      const alice = unique('alice');
      const client = track(await connect(wsFactory(server.wsUrl), { connectHeaders: { passcode: token({ sub: alice }) } }));
      const sub = await client.subscribe('/user/queue/x');
      const res = await push(server, alice, body, { token: token({ sub: 'backend', scope: 'read push' }) });
      expect(res.status).to.equal(202);
      expect(res.body.sessions).to.equal(1);
      expect((await sub.messages.next()).body).to.equal('hi');
      // Scope as an array (OAuth 2 `scp` style) works too.
      const res2 = await push(server, alice, body, { token: token({ sub: 'backend', scp: ['push'] }) });
      expect(res2.status).to.equal(202);
    });

    it('guards GET /users/:user the same way', async () => {
      expect((await request(`${server.http}/users/alice`)).status).to.equal(401);
      const ok = await request(`${server.http}/users/alice`, { headers: { authorization: `Bearer ${token({ sub: 'ops', scope: 'push' })}` } });
      expect(ok.status).to.equal(200);
      expect(ok.body.user).to.equal('alice');
    });

    it('leaves health and readiness open', async () => {
      expect((await request(`${server.http}/healthz`)).status).to.equal(200);
      expect((await request(`${server.http}/readyz`)).status).to.equal(200);
    });
  });

  describe('with authJwtRequireExp: false (AUTH_JWT_REQUIRE_EXP=false)', () => {
    let lenient: TestRelay;
    before(async () => { lenient = await startRelay({ authJwtSecret: SECRET, authJwtRequireExp: false }); });
    after(async () => { await lenient.close(); });

    it('accepts a token without exp for STOMP and for the push API, and still refuses an expired one', async () => {
      const alice = unique('alice');
      const client = track(await connect(wsFactory(lenient.wsUrl), { connectHeaders: { passcode: endless({ sub: alice }) } }));
      expect(client.connected.headers['user-name']).to.equal(alice);
      const sub = await client.subscribe('/user/queue/x');
      const res = await push(lenient, alice, { destination: '/queue/x', payload: 'hi' }, { token: endless({ sub: 'svc', scope: 'push' }) });
      expect(res.status).to.equal(202);
      expect((await sub.messages.next()).body).to.equal('hi');
      const outcome = await tryConnect(wsFactory(lenient.wsUrl), { connectHeaders: { passcode: expired({ sub: alice }) } });
      expect(outcome.ok).to.equal(false);
      if (!outcome.ok) expect(outcome.error.headers.code).to.equal('AUTHENTICATION_FAILED');
    });
  });

  describe('a session whose token expires', () => {
    let strict: TestRelay;
    // No clock tolerance, so the test waits for exp itself rather than exp + 5 s.
    before(async () => { strict = await startRelay({ authJwtSecret: SECRET, authenticator: new JwtAuthenticator({ secret: SECRET, clockToleranceSec: 0 }) }); });
    after(async () => { await strict.close(); });

    it('gets ERROR TOKEN_EXPIRED when exp passes, and is closed', async () => {
      const alice = unique('alice');
      const exp = Math.floor(Date.now() / 1000) + 2;
      const client = track(await connect(wsFactory(strict.wsUrl), { connectHeaders: { passcode: jwt.sign({ sub: alice, exp }, SECRET, { algorithm: 'HS256' }) } }));
      const error = await client.errors.next('ERROR TOKEN_EXPIRED', 5_000);
      expect(error.headers.code).to.equal('TOKEN_EXPIRED');
      expect(error.headers.message).to.match(/token .*expired/);
      await within(client.closed, 'the socket to close after TOKEN_EXPIRED');
    });
  });
});

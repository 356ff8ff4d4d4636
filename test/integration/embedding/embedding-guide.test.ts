/**
 * docs/embedding.md's example (docs/examples/host-app.ts, the file the guide shows) run as it
 * stands: a host express app with express-session + passport signs a user in, and @stomp/stompjs
 * over /ws with that session cookie is that user; a host route's sendToUser reaches the session.
 */
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { startHostApp, type HostApp } from '../../../docs/examples/host-app';
import { connect, tryConnect, wsFactory, trackClients, type TestClient } from '../../harness/stomp-test-kit';

describe('docs/embedding.md: the host app with express-session, passport and the relay', function () {
  let host: HostApp;
  let base: string;
  let wsUrl: string;
  const track = trackClients();

  before(async () => {
    host = await startHostApp({ port: 0, sessionSecret: 'a-test-secret-of-the-host', logLevel: 'silent' });
    const { port } = host.server.address() as AddressInfo;
    base = `http://127.0.0.1:${port}`;
    wsUrl = `ws://127.0.0.1:${port}/ws`;
  });

  after(() => host.close());

  /** Signs in through the host's POST /login; the session cookie (`name=value`) it set. */
  async function login(name: string): Promise<string> {
    const res = await fetch(`${base}/login`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name, password: `${name}-password` }),
    });
    expect(res.status).to.equal(204);
    const cookie = res.headers.getSetCookie()[0];
    expect(cookie, 'Set-Cookie of the login').to.be.a('string');
    return cookie.split(';')[0];
  }

  async function stompAs(cookie: string): Promise<TestClient> {
    return track(await connect(wsFactory(wsUrl, { headers: { cookie } })));
  }

  it('names the STOMP session after the user of the session cookie; a host route\'s sendToUser reaches it', async () => {
    const cookie = await login('alice');
    const client = await stompAs(cookie);
    expect(client.connected.headers['user-name']).to.equal('alice');
    const { messages } = await client.subscribe('/user/queue/notifications');
    const shipped = await fetch(`${base}/orders/42/ship`, { method: 'POST', headers: { cookie } });
    expect(shipped.status).to.equal(202);
    expect(await shipped.json()).to.include({ user: 'alice', routed: true });
    const message = await messages.next('the order notification');
    expect(JSON.parse(message.body)).to.deep.equal({ order: '42', status: 'shipped' });
  });

  it('refuses a STOMP session without the cookie with ERROR AUTHENTICATION_FAILED', async () => {
    const outcome = await tryConnect(wsFactory(wsUrl));
    expect(outcome.ok).to.equal(false);
    if (!outcome.ok) expect(outcome.error.headers.code).to.equal('AUTHENTICATION_FAILED');
  });

  it('authorize: an admin topic is open to alice (admin) and refused to bob (member) with ACCESS_DENIED', async () => {
    const alice = await stompAs(await login('alice'));
    await alice.subscribe('/topic/admin.alerts');
    const bob = await stompAs(await login('bob'));
    bob.client.subscribe('/topic/admin.alerts', () => undefined);
    const error = await bob.errors.next('the ERROR for bob');
    expect(error.headers.code).to.equal('ACCESS_DENIED');
  });

  it('onMessage: SEND /app/chat/lobby is published on /topic/chat with the room and the sender', async () => {
    const alice = await stompAs(await login('alice'));
    const { messages } = await alice.subscribe('/topic/chat');
    await alice.publish('/app/chat/lobby', JSON.stringify({ text: 'hi' }), { 'content-type': 'application/json' });
    expect(JSON.parse((await messages.next('the chat message')).body)).to.deep.equal({ room: 'lobby', from: 'alice', text: 'hi' });
  });

  it('onSubscribe: SUBSCRIBE /app/profile is answered once, to that subscription', async () => {
    const bob = await stompAs(await login('bob'));
    const { messages } = await bob.subscribe('/app/profile');
    expect(JSON.parse((await messages.next('the profile answer')).body)).to.deep.equal({ user: 'bob', since: 'today' });
  });

  it('leaves GET /users/:user to the host; the relay\'s API is under /relay and takes the session cookie', async () => {
    const alice = await login('alice');
    const bob = await login('bob');
    expect(await (await fetch(`${base}/users/alice`)).json()).to.have.property('profile', 'alice');
    expect((await fetch(`${base}/relay/users/alice`)).status, 'no cookie').to.equal(401);
    const presence = await fetch(`${base}/relay/users/alice`, { headers: { cookie: bob } });
    expect(presence.status).to.equal(200);
    expect(await presence.json()).to.include({ user: 'alice' });
    const publish = (cookie: string) => fetch(`${base}/relay/publish`, {
      method: 'POST', headers: { 'content-type': 'application/json', cookie },
      body: JSON.stringify({ destination: '/topic/news', payload: 'hello' }),
    });
    expect((await publish(bob)).status, 'bob is a member').to.equal(403);
    expect((await publish(alice)).status, 'alice is an admin').to.equal(202);
  });
});

/**
 * Anonymous sessions use user destinations as in Spring: each is its own "user", keyed by its
 * session id. `/user/queue/x` of an anonymous session receives `relay.sendToSession(null,
 * sessionId, '/queue/x', …)`, its handlers' `@SendToUser` replies and its error reports, and
 * nothing meant for another session.
 */
import { expect } from 'chai';
import { RawStomp, startEmbeddedRelay, trackClients, unique, wsClient, type TestRelay } from '../../harness/stomp-test-kit';

describe('anonymous sessions and user destinations', function () {
  this.timeout(20_000);
  let server: TestRelay;
  const track = trackClients();

  before(async () => {
    server = await startEmbeddedRelay({}, (relay) => {
      relay.onMessage('/whoami', { sendToUser: '/queue/replies' }, (msg) => ({ user: msg.user, session: msg.sessionId }));
      relay.onMessage('/boom', () => { throw new Error('x'); });
    });
  });
  after(async () => { await server.close(); });

  async function anonymous() {
    const client = track(await wsClient(server));
    expect(client.connected.headers['user-name']).to.equal(undefined);
    return { client, sessionId: client.connected.headers.session };
  }

  it('an anonymous session subscribes to /user/queue/x and gets what sendToSession(null, its id) sends, alone', async () => {
    const one = await anonymous();
    const two = await anonymous();
    const oneInbox = await one.client.subscribe('/user/queue/inbox');
    const twoInbox = await two.client.subscribe('/user/queue/inbox');
    const result = await server.relay.sendToSession(null, one.sessionId, '/queue/inbox', { n: 1 });
    expect(result).to.deep.equal({ destination: '/queue/inbox', routed: true });
    expect(JSON.parse((await oneInbox.messages.next('the message for session one')).body)).to.deep.equal({ n: 1 });
    await server.relay.sendToSession(null, two.sessionId, '/queue/inbox', { n: 2 });
    expect(JSON.parse((await twoInbox.messages.next('session two\'s own message')).body)).to.deep.equal({ n: 2 });
    expect(oneInbox.messages.all, 'session one got only its own').to.have.length(1);
  });

  it('says routed: false for a session that is gone or not subscribed', async () => {
    const result = await server.relay.sendToSession(null, 'no-such-session', '/queue/inbox', 'x');
    expect(result).to.deep.equal({ destination: '/queue/inbox', routed: false });
  });

  it('@SendToUser replies and error reports reach the anonymous sender', async () => {
    const { client, sessionId } = await anonymous();
    const replies = await client.subscribe('/user/queue/replies');
    const errors = await client.subscribe('/user/queue/errors');
    await client.publish('/app/whoami', '');
    expect(JSON.parse((await replies.messages.next('the reply')).body)).to.deep.equal({ user: null, session: sessionId });
    await client.publish('/app/boom', '');
    expect(JSON.parse((await errors.messages.next('the report')).body).code).to.equal('HANDLER_ERROR');
  });

  it('a SEND to /user/queue/x from an anonymous session reaches that session itself', async () => {
    const { client } = await anonymous();
    const notes = await client.subscribe('/user/queue/notes');
    await client.publish('/user/queue/notes', 'to myself');
    expect((await notes.messages.next('the note')).body).to.equal('to myself');
  });

  it('an anonymous session cannot subscribe to a named user\'s destination', async () => {
    const raw = track(await RawStomp.open(server.wsUrl));
    await raw.connect();
    raw.sendFrame('SUBSCRIBE', { id: 's', destination: `/user/${unique('alice')}/queue/x` });
    const error = await raw.expect('ERROR');
    expect(error.headers.code).to.equal('ACCESS_DENIED');
    await raw.waitClosed();
  });

  it('a user named like an anonymous session\'s key cannot read its messages', async () => {
    const { client, sessionId } = await anonymous();
    const inbox = await client.subscribe('/user/queue/inbox');
    const impostor = track(await wsClient(server, { login: sessionId }));
    const stolen = await impostor.subscribe('/user/queue/inbox');
    await server.relay.sendToSession(null, sessionId, '/queue/inbox', 'secret');
    await server.relay.sendToUser(sessionId, '/queue/inbox', 'for the user');
    expect((await inbox.messages.next('the anonymous session\'s message')).body).to.equal('secret');
    expect((await stolen.messages.next('the user\'s own message')).body).to.equal('for the user');
    expect(inbox.messages.all).to.have.length(1);
  });
});

/**
 * The HTTP API for backends on a real relay (embedded broker, dev mode: no tokens; scopes are
 * tested in http-api-auth.test.ts): `POST /push` to many users, `POST /publish`, `GET /users`
 * and `DELETE /users/:user/sessions`, with their bounds and their answers to bad input.
 */
import { expect } from 'chai';
import {
  RawStomp, api, push, sockjsClient, startRelay, trackClients, unique, wsClient,
  type JsonResponse, type TestRelay,
} from '../../harness/stomp-test-kit';

function expectJsonError(res: JsonResponse, status: number, code: string, says: RegExp): void {
  expect(res.status, res.text).to.equal(status);
  expect(res.body?.error?.code, res.text).to.equal(code);
  expect(res.body.error.message).to.match(says);
}

describe('server: HTTP API for backends', function () {
  let server: TestRelay;
  const track = trackClients();

  before(async () => { server = await startRelay({ pushMaxUsers: 3, userRouteWaitMs: 50, limits: { maxFrameBytes: 4096, maxHeaderLineBytes: 1024 } }); });
  after(async () => { await server.close(); });

  describe('POST /push (one payload, many users)', () => {
    it('delivers to every listed user and answers each user\'s outcome in request order', async () => {
      const alice = unique('alice');
      const bob = unique('bob');
      const nobody = unique('nobody');
      const aliceInbox = (await track(await wsClient(server, { login: alice })).subscribe('/user/queue/news')).messages;
      const bobInbox = (await track(await sockjsClient(server, 'xhr-streaming', { login: bob })).subscribe('/user/queue/news')).messages;

      const res = await api(server, 'POST', '/push', { users: [alice, nobody, bob], destination: '/queue/news', payload: { text: 'hi all' }, headers: { kind: 'digest' } });
      expect(res.status, res.text).to.equal(202);
      expect(res.body).to.deep.include({ destination: '/queue/news', routed: 2, offline: 1, failed: 0 });
      expect(res.body.results).to.deep.equal([
        { user: alice, routed: true, sessions: 1, instances: [{ instanceId: 'test-a', sessions: 1 }] },
        { user: nobody, routed: false, sessions: 0, instances: [] },
        { user: bob, routed: true, sessions: 1, instances: [{ instanceId: 'test-a', sessions: 1 }] },
      ]);
      for (const inbox of [aliceInbox, bobInbox]) {
        const m = await inbox.next('the push');
        expect(JSON.parse(m.body)).to.deep.equal({ text: 'hi all' });
        expect(m.headers.kind).to.equal('digest');
        expect(m.headers.destination).to.equal('/user/queue/news');
      }
    });

    it('sends once to a user listed twice (one result per distinct user)', async () => {
      const alice = unique('alice');
      const inbox = (await track(await wsClient(server, { login: alice })).subscribe('/user/queue/once')).messages;
      const res = await api(server, 'POST', '/push', { users: [alice, alice], destination: '/queue/once', payload: 'first' });
      expect(res.status, res.text).to.equal(202);
      expect(res.body.results.map((r: { user: string }) => r.user)).to.deep.equal([alice]);
      await api(server, 'POST', '/push', { users: [alice], destination: '/queue/once', payload: 'sentinel' });
      expect((await inbox.next('the first push')).body).to.equal('first');
      expect((await inbox.next('the sentinel')).body, 'no second copy before the sentinel').to.equal('sentinel');
    });

    it('reports a user who is online but takes nothing there as failed NOT_DELIVERED, and still delivers to the others', async () => {
      const alice = unique('alice');
      const elsewhere = unique('carol');
      const inbox = (await track(await wsClient(server, { login: alice })).subscribe('/user/queue/mixed')).messages;
      track(await wsClient(server, { login: elsewhere })); // connected, not subscribed to /user/queue/mixed
      const res = await api(server, 'POST', '/push', { users: [elsewhere, alice], destination: '/queue/mixed', payload: 'x' });
      expect(res.status, res.text).to.equal(202);
      expect(res.body).to.deep.include({ routed: 1, offline: 0, failed: 1 });
      expect(res.body.results[0].user).to.equal(elsewhere);
      expect(res.body.results[0].error.code).to.equal('NOT_DELIVERED');
      expect(res.body.results[0].error.message).to.match(/1 session/);
      expect(res.body.results[1]).to.deep.include({ user: alice, routed: true });
      expect((await inbox.next('alice\'s push')).body).to.equal('x');
    });

    it('answers more users than PUSH_MAX_USERS with 413 TOO_MANY_USERS, sending nothing', async () => {
      const alice = unique('alice');
      const inbox = (await track(await wsClient(server, { login: alice })).subscribe('/user/queue/bounded')).messages;
      const res = await api(server, 'POST', '/push', { users: [alice, 'b', 'c', 'd'], destination: '/queue/bounded', payload: 'too many' });
      expectJsonError(res, 413, 'TOO_MANY_USERS', /4 users.*limit is 3/);
      await api(server, 'POST', '/push', { users: [alice], destination: '/queue/bounded', payload: 'sentinel' });
      expect((await inbox.next('the sentinel')).body, 'the refused push sent nothing').to.equal('sentinel');
    });

    const badBodies: Array<[string, unknown, RegExp]> = [
      ['no users', { destination: '/queue/x', payload: 1 }, /"users" must be an array/],
      ['users that is not an array', { users: 'alice', destination: '/queue/x', payload: 1 }, /"users" must be an array/],
      ['an empty users array', { users: [], destination: '/queue/x', payload: 1 }, /at least one user/],
      ['a user that is not a string', { users: ['alice', 7], destination: '/queue/x', payload: 1 }, /users\[1\] must be a non-empty string/],
      ['an empty user name', { users: [''], destination: '/queue/x', payload: 1 }, /users\[0\] must be a non-empty string/],
      ['no destination', { users: ['alice'], payload: 1 }, /"destination"/],
      ['no payload', { users: ['alice'], destination: '/queue/x' }, /"payload"/],
      ['a destination outside the relayed prefixes', { users: ['alice'], destination: '/secret/x', payload: 1 }, /destination must start with/],
      ['a reserved header', { users: ['alice'], destination: '/queue/x', payload: 1, headers: { 'message-id': 'forged' } }, /reserved/],
      ['a body that is an array', [{ users: ['alice'] }], /JSON object/],
    ];
    for (const [what, body, says] of badBodies) {
      it(`answers ${what} with 400 BAD_REQUEST`, async () => {
        expectJsonError(await api(server, 'POST', '/push', body), 400, 'BAD_REQUEST', says);
      });
    }

    it('answers malformed JSON with 400 and an oversize body with 413 PAYLOAD_TOO_LARGE', async () => {
      expectJsonError(await api(server, 'POST', '/push', undefined, { raw: '{"users": [' }), 400, 'BAD_REQUEST', /not valid JSON/);
      expectJsonError(await api(server, 'POST', '/push', { users: ['a'], destination: '/queue/x', payload: 'x'.repeat(10_000) }), 413, 'PAYLOAD_TOO_LARGE', /4096 bytes/);
    });
  });

  describe('POST /publish', () => {
    it('publishes to a broker destination: subscribers receive payload and headers; 202', async () => {
      const topic = `/topic/${unique('news')}`;
      const inbox = (await track(await wsClient(server, { login: unique('reader') })).subscribe(topic)).messages;
      const res = await api(server, 'POST', '/publish', { destination: topic, payload: { headline: 'relay ships' }, headers: { edition: 'morning' } });
      expect(res.status, res.text).to.equal(202);
      expect(res.body).to.deep.equal({ destination: topic });
      const m = await inbox.next('the published message');
      expect(JSON.parse(m.body)).to.deep.equal({ headline: 'relay ships' });
      expect(m.headers.edition).to.equal('morning');
      expect(m.headers['content-type']).to.equal('application/json');
      expect(m.headers['x-relay-sender'], 'an HTTP publish has no STOMP sender').to.equal(undefined);
    });

    it('sends a string payload as text/plain', async () => {
      const topic = `/topic/${unique('plain')}`;
      const inbox = (await track(await wsClient(server, { login: unique('reader') })).subscribe(topic)).messages;
      expect((await api(server, 'POST', '/publish', { destination: topic, payload: 'just text' })).status).to.equal(202);
      const m = await inbox.next('the text message');
      expect(m.body).to.equal('just text');
      expect(m.headers['content-type']).to.match(/^text\/plain/);
    });

    const refused: Array<[string, string]> = [
      ['the presence registry', '/exchange/amq.direct/stomp-relay.registry'],
      ['a user\'s internal key', '/exchange/amq.direct/stomp-relay.user.alice.~2Fqueue~2Fx'],
      ['the internal exchange, percent-encoded', '/exchange/amq%2Edirect/x'],
      ['a temporary queue', '/temp-queue/replies'],
      ['a destination outside the relayed prefixes', '/secret/x'],
      ['a user destination', '/user/alice/queue/x'],
    ];
    for (const [what, destination] of refused) {
      it(`refuses ${what} with 403 DESTINATION_NOT_ALLOWED`, async () => {
        expectJsonError(await api(server, 'POST', '/publish', { destination, payload: 1 }), 403, 'DESTINATION_NOT_ALLOWED', /destination not allowed/);
      });
    }

    it('answers bad shapes and bad JSON with 400', async () => {
      expectJsonError(await api(server, 'POST', '/publish', { payload: 1 }), 400, 'BAD_REQUEST', /"destination"/);
      expectJsonError(await api(server, 'POST', '/publish', { destination: '/topic/x' }), 400, 'BAD_REQUEST', /"payload"/);
      expectJsonError(await api(server, 'POST', '/publish', { destination: '/topic/x', payload: 1, headers: ['x'] }), 400, 'BAD_REQUEST', /"headers"/);
      expectJsonError(await api(server, 'POST', '/publish', { destination: '/topic/x', payload: 1, headers: { 'x-relay-sender': 'mallory' } }), 400, 'BAD_REQUEST', /reserved/);
      expectJsonError(await api(server, 'POST', '/publish', undefined, { raw: 'nope' }), 400, 'BAD_REQUEST', /not valid JSON/);
    });
  });

  describe('header values every broker refuses', () => {
    // RabbitMQ answers these with an ERROR (STOMP) or a channel error (AMQP, the link that every
    // user push shares); the embedded broker agrees. They are the caller's mistake: 400 up front.
    const bad: Array<[string, Record<string, string>, RegExp]> = [
      ['a non-numeric expiration', { expiration: 'soon' }, /invalid expiration header: soon/],
      ['a negative expiration', { expiration: '-5' }, /invalid expiration header/],
      ['a priority above 255', { priority: '256' }, /invalid priority header: 256/],
      ['a temporary queue as reply-to', { 'reply-to': '/temp-queue/answers' }, /invalid reply-to header.*reply address/],
    ];
    for (const [what, headers, says] of bad) {
      it(`answers ${what} with 400 on POST /push/:user, /push and /publish, and delivers none of them`, async () => {
        const alice = unique('alice');
        const topic = `/topic/${unique('refused')}`;
        const client = track(await wsClient(server, { login: alice }));
        const userInbox = (await client.subscribe('/user/queue/refused')).messages;
        const topicInbox = (await client.subscribe(topic)).messages;

        expectJsonError(await push(server, alice, { destination: '/queue/refused', payload: 'bad', headers }), 400, 'BAD_REQUEST', says);
        expectJsonError(await api(server, 'POST', '/push', { users: [alice, unique('offline')], destination: '/queue/refused', payload: 'bad', headers }), 400, 'BAD_REQUEST', says);
        expectJsonError(await api(server, 'POST', '/publish', { destination: topic, payload: 'bad', headers }), 400, 'BAD_REQUEST', says);

        expect((await push(server, alice, { destination: '/queue/refused', payload: 'good', headers: { expiration: '60000', priority: '9' } })).status).to.equal(202);
        expect((await api(server, 'POST', '/publish', { destination: topic, payload: 'good' })).status).to.equal(202);
        expect((await userInbox.next('the good push')).body, 'nothing of the refused pushes came first').to.equal('good');
        expect((await topicInbox.next('the good publish')).body, 'nothing of the refused publish came first').to.equal('good');
      });
    }
  });

  describe('GET /users', () => {
    let listed: TestRelay;
    before(async () => { listed = await startRelay({ instanceId: 'list-a' }); });
    after(async () => { await listed.close(); });

    it('answers an empty list when nobody is connected', async () => {
      const res = await api(listed, 'GET', '/users');
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.equal({ users: [], nextCursor: null });
    });

    it('lists online users with their session counts, sorted by name, a page at a time', async () => {
      for (const login of ['carol', 'alice', 'bob', 'alice']) track(await wsClient(listed, { login }));
      const first = await api(listed, 'GET', '/users?limit=2');
      expect(first.status, first.text).to.equal(200);
      expect(first.body.users).to.deep.equal([
        { user: 'alice', sessions: 2, instances: [{ instanceId: 'list-a', sessions: 2 }] },
        { user: 'bob', sessions: 1, instances: [{ instanceId: 'list-a', sessions: 1 }] },
      ]);
      expect(first.body.nextCursor).to.be.a('string');
      const second = await api(listed, 'GET', `/users?limit=2&cursor=${encodeURIComponent(first.body.nextCursor)}`);
      expect(second.body.users.map((u: { user: string }) => u.user)).to.deep.equal(['carol']);
      expect(second.body.nextCursor).to.equal(null);
    });

    for (const query of ['limit=0', 'limit=1001', 'limit=ten', 'limit=1.5', 'cursor=%25%25', 'cursor=']) {
      it(`answers ?${query} with 400 BAD_REQUEST`, async () => {
        expectJsonError(await api(listed, 'GET', `/users?${query}`), 400, 'BAD_REQUEST', /limit|cursor/);
      });
    }
  });

  describe('DELETE /users/:user/sessions', () => {
    it('ends every session of the user with ERROR SESSION_REVOKED naming the reason; other users carry on', async () => {
      const alice = unique('alice');
      const bob = unique('bob');
      const raw = track(await RawStomp.open(server.wsUrl));
      await raw.connect({ login: alice });
      const overSockjs = track(await sockjsClient(server, 'xhr-polling', { login: alice }));
      const bobClient = track(await wsClient(server, { login: bob }));
      const bobInbox = (await bobClient.subscribe('/user/queue/after')).messages;

      const res = await api(server, 'DELETE', `/users/${encodeURIComponent(alice)}/sessions`, { reason: 'password changed' });
      expect(res.status, res.text).to.equal(202);
      expect(res.body).to.deep.equal({ user: alice, reason: 'password changed', sessions: 2, instances: [{ instanceId: 'test-a', sessions: 2 }] });

      const error = await raw.nextError();
      expect(error.headers.code).to.equal('SESSION_REVOKED');
      expect(error.headers.message).to.equal('session ended by the server: password changed');
      await raw.waitClosed();
      const sockjsError = await overSockjs.errors.next('the SockJS session\'s ERROR');
      expect(sockjsError.headers.code).to.equal('SESSION_REVOKED');
      await overSockjs.closed;

      expect((await api(server, 'GET', `/users/${encodeURIComponent(alice)}`)).body.sessions).to.equal(0);
      await api(server, 'POST', `/push/${encodeURIComponent(bob)}`, { destination: '/queue/after', payload: 'still here' });
      expect((await bobInbox.next('bob\'s push')).body).to.equal('still here');
    });

    it('gives a default reason when the body names none', async () => {
      const alice = unique('alice');
      const raw = track(await RawStomp.open(server.wsUrl));
      await raw.connect({ login: alice });
      const res = await api(server, 'DELETE', `/users/${encodeURIComponent(alice)}/sessions`);
      expect(res.status, res.text).to.equal(202);
      expect(res.body.reason).to.equal('disconnected by an administrator');
      expect((await raw.nextError()).headers.message).to.equal('session ended by the server: disconnected by an administrator');
    });

    it('answers 202 with sessions 0 for a user with no session', async () => {
      const res = await api(server, 'DELETE', `/users/${unique('nobody')}/sessions`, { reason: 'ban' });
      expect(res.status).to.equal(202);
      expect(res.body.sessions).to.equal(0);
    });

    it('answers a reason that is not a short single-line string with 400, ending nothing', async () => {
      const alice = unique('alice');
      const raw = track(await RawStomp.open(server.wsUrl));
      await raw.connect({ login: alice });
      for (const reason of [42, 'two\nlines', 'x'.repeat(201)]) {
        expectJsonError(await api(server, 'DELETE', `/users/${alice}/sessions`, { reason }), 400, 'BAD_REQUEST', /"reason"/);
      }
      expectJsonError(await api(server, 'DELETE', `/users/${alice}/sessions`, undefined, { raw: '{' }), 400, 'BAD_REQUEST', /not valid JSON/);
      // The first ERROR the session ever gets is the one of the valid request that follows.
      expect((await api(server, 'DELETE', `/users/${alice}/sessions`, { reason: 'now for real' })).status).to.equal(202);
      expect((await raw.nextError()).headers.message).to.equal('session ended by the server: now for real');
    });
  });
});

/**
 * Temporary reply queues through the relay (RabbitMQ's `/temp-queue/`,
 * https://www.rabbitmq.com/docs/stomp#d.tqd), with real stomp.js clients: a requester SENDs with
 * `reply-to: /temp-queue/<name>`, a responder answers to the `/reply-queue/...` it received, and the
 * answer comes back to the requester as a MESSAGE with `subscription` and `destination`
 * `/temp-queue/<name>`, which it never subscribed to (stomp.js: `onUnhandledMessage`).
 */
import { expect } from 'chai';
import type { IMessage } from '@stomp/stompjs';
import { sharedRabbitNode, type RabbitNode } from '../../harness/rabbitmq';
import {
  Inbox, closeAll, startRelay, unique, waitFor, within, wsClient, type TestClient, type TestRelay,
} from '../../harness/stomp-test-kit';

/** What a client receives outside its subscriptions: the replies to its temporary queues. */
function replies(c: TestClient): Inbox<IMessage> {
  const inbox = new Inbox<IMessage>();
  c.client.onUnhandledMessage = (m) => inbox.push(m);
  return inbox;
}

/** A responder: answers every request on `queue` to its reply-to, echoing a correlation header. */
async function respond(c: TestClient, queue: string, seen: string[] = []): Promise<string[]> {
  const { messages } = await c.subscribe(queue);
  void (async () => {
    for (;;) {
      const request = await messages.next('a request', 60_000).catch(() => undefined);
      if (request === undefined) return;
      const replyTo = request.headers['reply-to'];
      seen.push(replyTo);
      if (c.client.connected) {
        c.client.publish({ destination: replyTo, body: `answer to ${request.body}`, headers: { 'app-correlation': request.headers['app-correlation'] ?? '' } });
      }
    }
  })();
  return seen;
}

/** The ERROR a client gets for one frame (the session ends with it). */
async function errorFor(c: TestClient, send: () => void): Promise<{ code: string; message: string }> {
  send();
  const error = await c.errors.next('an ERROR frame');
  await within(c.closed, 'the session to close after its ERROR');
  return { code: error.headers.code, message: error.headers.message };
}

describe('temporary queues: two relays on RabbitMQ', function () {
  this.timeout(60_000);
  let node: RabbitNode;
  let a: TestRelay;
  let b: TestRelay;
  const clients: TestClient[] = [];

  before(async () => {
    node = await sharedRabbitNode();
    a = await startRelay({ ...node.relayOptions, instanceId: 'temp-a', serveDemo: false });
    b = await startRelay({ ...node.relayOptions, instanceId: 'temp-b', serveDemo: false });
  });

  afterEach(async () => {
    await closeAll(clients.splice(0));
  });

  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  async function client(instance: TestRelay): Promise<TestClient> {
    const c = await wsClient(instance);
    clients.push(c);
    return c;
  }

  async function replyQueues(): Promise<string[]> {
    return (await node.listQueues()).filter((q) => q.name.startsWith('stomp-relay.reply.')).map((q) => q.name);
  }

  it('brings the answer of a responder on relay B to the requester on relay A, on /temp-queue/answers, reusing one queue', async () => {
    const queue = `/queue/${unique('requests')}`;
    const responder = await client(b);
    const seen = await respond(responder, queue);
    const requester = await client(a);
    const answers = replies(requester);

    await requester.publish(queue, 'q1', { 'reply-to': '/temp-queue/answers', 'app-correlation': '1' });
    const first = await answers.next('the first answer');
    expect(first.body).to.equal('answer to q1');
    expect(first.headers.destination).to.equal('/temp-queue/answers');
    expect(first.headers.subscription).to.equal('/temp-queue/answers');
    expect(first.headers['app-correlation']).to.equal('1');
    expect(seen[0], 'the responder sees a reply queue, not the requester\'s name').to.match(/^\/reply-queue\/stomp-relay\.reply\./);

    await requester.publish(queue, 'q2', { 'reply-to': '/temp-queue/answers', 'app-correlation': '2' });
    const second = await answers.next('the second answer');
    expect(second.body).to.equal('answer to q2');
    expect(seen[1], 'one reply address per temporary queue name').to.equal(seen[0]);
    expect(await replyQueues()).to.include(seen[0].slice('/reply-queue/'.length));
  });

  it('deletes the session\'s reply queues on RabbitMQ when the session ends', async () => {
    const baseline = await replyQueues();
    const queue = `/queue/${unique('requests')}`;
    const responder = await client(b);
    await respond(responder, queue);
    const requester = await client(a);
    const answers = replies(requester);
    for (const name of ['/temp-queue/one', '/temp-queue/two']) {
      await requester.publish(queue, name, { 'reply-to': name });
      expect((await answers.next(`the answer on ${name}`)).headers.destination).to.equal(name);
    }
    expect((await replyQueues()).length).to.equal(baseline.length + 2);

    await requester.close();
    await waitFor(async () => (await replyQueues()).length === baseline.length, 'the reply queues to be deleted', 10_000);
  });

  it('lets no other session read the replies: temporary, reply and reply-address queues refuse SUBSCRIBE', async () => {
    const queue = `/queue/${unique('requests')}`;
    const responder = await client(b);
    const seen = await respond(responder, queue);
    const requester = await client(a);
    const answers = replies(requester);
    await requester.publish(queue, 'q', { 'reply-to': '/temp-queue/private' });
    await answers.next('the answer');
    const name = seen[0].slice('/reply-queue/'.length);

    const attempts: Array<[TestRelay, string, RegExp]> = [
      [a, '/temp-queue/private', /temporary queues take no SUBSCRIBE/],
      [b, seen[0], /reply queues can only be sent to/],
      [b, `/queue/${name}`, /reserved for reply addresses/],
      [a, `/amq/queue/${name}`, /reserved for reply addresses/],
    ];
    for (const [instance, destination, says] of attempts) {
      const thief = await client(instance);
      const error = await errorFor(thief, () => thief.client.subscribe(destination, () => undefined));
      expect(error.code, destination).to.equal('DESTINATION_NOT_ALLOWED');
      expect(error.message).to.match(says);
    }
    // The requester still gets its answers.
    await requester.publish(queue, 'again', { 'reply-to': '/temp-queue/private' });
    expect((await answers.next('the next answer')).body).to.equal('answer to again');
  });
});

describe('temporary queues: embedded broker', function () {
  let server: TestRelay;
  const clients: TestClient[] = [];

  before(async () => { server = await startRelay({ serveDemo: false }); });
  afterEach(async () => { await closeAll(clients.splice(0)); });
  after(async () => { await server?.close(); });

  async function client(relay: TestRelay = server): Promise<TestClient> {
    const c = await wsClient(relay);
    clients.push(c);
    return c;
  }

  it('keeps two sessions\' replies apart even when both name the same temporary queue', async () => {
    const queue = `/queue/${unique('requests')}`;
    const responder = await client();
    await respond(responder, queue);
    const [alice, bob] = [await client(), await client()];
    const [toAlice, toBob] = [replies(alice), replies(bob)];

    await alice.publish(queue, 'from alice', { 'reply-to': '/temp-queue/answers' });
    await bob.publish(queue, 'from bob', { 'reply-to': '/temp-queue/answers' });

    const [forAlice, forBob] = [await toAlice.next('alice\'s answer'), await toBob.next('bob\'s answer')];
    expect(forAlice.body).to.equal('answer to from alice');
    expect(forBob.body).to.equal('answer to from bob');
    expect(forAlice.headers.destination).to.equal('/temp-queue/answers');
    expect(forAlice.headers.subscription).to.equal('/temp-queue/answers');
    // Sentinel: one more round for alice; bob got nothing else meanwhile.
    await alice.publish(queue, 'again', { 'reply-to': '/temp-queue/answers' });
    expect((await toAlice.next('alice\'s second answer')).body).to.equal('answer to again');
    expect(toBob.pending).to.equal(0);
  });

  it('answers a request made inside a transaction once it commits', async () => {
    const queue = `/queue/${unique('requests')}`;
    await respond(await client(), queue);
    const requester = await client();
    const answers = replies(requester);
    const tx = requester.client.begin();
    requester.client.publish({ destination: queue, body: 'in tx', headers: { 'reply-to': '/temp-queue/tx', transaction: tx.id } });
    tx.commit();
    const answer = await answers.next('the answer');
    expect(answer.body).to.equal('answer to in tx');
    expect(answer.headers.destination).to.equal('/temp-queue/tx');
  });

  it('refuses SEND to a /temp-queue/ and an empty temporary queue name, with clear errors', async () => {
    const sender = await client();
    const error = await errorFor(sender, () => sender.client.publish({ destination: '/temp-queue/x', body: 'x' }));
    expect(error.code).to.equal('DESTINATION_NOT_ALLOWED');
    expect(error.message).to.match(/named in reply-to/);

    const empty = await client();
    const invalid = await errorFor(empty, () => empty.client.publish({ destination: `/queue/${unique('q')}`, body: 'x', headers: { 'reply-to': '/temp-queue/' } }));
    expect(invalid.code).to.equal('INVALID_HEADER');
  });

  it('counts temporary queues against the subscription limit', async () => {
    const small = await startRelay({ serveDemo: false, limits: { maxSubscriptionsPerSession: 2 } });
    try {
      const c = await client(small);
      await c.subscribe(`/topic/${unique('t')}`);
      const queue = `/queue/${unique('requests')}`;
      await c.publish(queue, 'one', { 'reply-to': '/temp-queue/one' });
      await c.publish(queue, 'one again', { 'reply-to': '/temp-queue/one' });
      const error = await errorFor(c, () => c.client.publish({ destination: queue, body: 'two', headers: { 'reply-to': '/temp-queue/two' } }));
      expect(error.code).to.equal('TOO_MANY_SUBSCRIPTIONS');
    } finally {
      await small.close();
    }
  });

  it('refuses reply-to /temp-queue/ when RELAY_PREFIXES leaves temporary queues out', async () => {
    const strict = await startRelay({ serveDemo: false, relayPrefixes: ['/topic/', '/queue/'] });
    try {
      const c = await client(strict);
      const error = await errorFor(c, () => c.client.publish({ destination: `/queue/${unique('q')}`, body: 'x', headers: { 'reply-to': '/temp-queue/a' } }));
      expect(error.code).to.equal('DESTINATION_NOT_ALLOWED');
      expect(error.message).to.match(/temporary queues are not relayed/);
    } finally {
      await strict.close();
    }
  });
});

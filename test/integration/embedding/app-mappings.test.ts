/**
 * Application mappings beyond exact destinations: templates (`relay.onMessage('/chat/{room}')`,
 * Spring's `@DestinationVariable`) and subscribe mappings (`relay.onSubscribe`, Spring's
 * `@SubscribeMapping`).
 */
import { expect } from 'chai';
import { createRelay } from '../../../server/relay';
import { silentLogger } from '../../../server/observability/logger';
import { RawStomp, startEmbeddedRelay, trackClients, unique, wsClient, type TestRelay } from '../../harness/stomp-test-kit';

describe('application mappings: destination templates', function () {
  this.timeout(20_000);
  let server: TestRelay;
  const track = trackClients();

  before(async () => {
    server = await startEmbeddedRelay({}, (relay) => {
      relay.onMessage('/chat/{room}', { sendToUser: '/queue/chat' }, (msg) => ({ room: msg.params.room, text: msg.text(), frozen: Object.isFrozen(msg.params) }));
      relay.onMessage('/chat/admin', { sendToUser: '/queue/chat' }, () => ({ room: 'the literal mapping' }));
      relay.onMessage('/shop/{shop}/order/{item}', { sendToUser: '/queue/chat' }, (msg) => ({ ...msg.params }));
      relay.onMessage('/events.#', { sendToUser: '/queue/chat' }, (msg) => ({ destination: msg.destination, params: { ...msg.params } }));
      relay.onMessage('/plain', { sendToUser: '/queue/chat' }, (msg) => ({ params: { ...msg.params } }));
    });
  });
  after(async () => { await server.close(); });

  async function reply(destination: string, body = ''): Promise<unknown> {
    const client = track(await wsClient(server, { login: unique('ann') }));
    const chat = await client.subscribe('/user/queue/chat');
    await client.publish(destination, body);
    return JSON.parse((await chat.messages.next(`the reply to ${destination}`)).body);
  }

  it('binds {room} as msg.params.room (frozen)', async () => {
    expect(await reply('/app/chat/lobby', 'hi')).to.deep.equal({ room: 'lobby', text: 'hi', frozen: true });
  });

  it('binds several variables', async () => {
    expect(await reply('/app/shop/berlin/order/42')).to.deep.equal({ shop: 'berlin', item: '42' });
  });

  it('prefers an exact mapping to a template, whatever the order they were registered in', async () => {
    expect(await reply('/app/chat/admin')).to.deep.equal({ room: 'the literal mapping' });
  });

  it('takes wildcards too (# for any rest), and gives exact mappings empty params', async () => {
    expect(await reply('/app/events.orders.created')).to.deep.equal({ destination: '/events.orders.created', params: {} });
    expect(await reply('/app/plain')).to.deep.equal({ params: {} });
  });

  it('reports a destination no template matches as NO_HANDLER (a variable takes no "/")', async () => {
    const client = track(await wsClient(server, { login: unique('ben') }));
    const errors = await client.subscribe('/user/queue/errors');
    await client.publish('/app/chat/a/b', 'x');
    expect(JSON.parse((await errors.messages.next('the report')).body).code).to.equal('NO_HANDLER');
  });

  it('refuses a malformed or repeated template when it is registered', () => {
    const relay = createRelay({ logger: silentLogger() });
    expect(() => relay.onMessage('/chat/{room', () => undefined)).to.throw(/not closed/);
    relay.onMessage('/chat/{room}', () => undefined);
    expect(() => relay.onMessage('/chat/{room}', () => undefined)).to.throw(/already registered/);
  });
});

describe('application mappings: relay.onSubscribe (@SubscribeMapping)', function () {
  this.timeout(20_000);
  let server: TestRelay;
  const track = trackClients();

  before(async () => {
    server = await startEmbeddedRelay({}, (relay) => {
      relay.onSubscribe('/snapshot/{id}', (sub) => {
        return { id: sub.params.id, user: sub.user, subscriptionId: sub.subscriptionId, destination: sub.destination, view: sub.headers['x-view'] ?? null };
      });
      relay.onSubscribe('/nothing', () => undefined);
      relay.onSubscribe('/broken', async () => { throw new Error('snapshot store down'); });
      relay.onSubscribe('/text', () => 'plain words');
    });
  });
  after(async () => { await server.close(); });

  async function raw(user: string): Promise<RawStomp> {
    const peer = track(await RawStomp.open(server.wsUrl));
    await peer.connect({ login: user });
    return peer;
  }

  it('answers a SUBSCRIBE once, directly to that subscription, before its RECEIPT', async () => {
    const user = unique('ann');
    const peer = await raw(user);
    peer.sendFrame('SUBSCRIBE', { id: 'snap-1', destination: '/app/snapshot/42', receipt: 'sub', 'x-view': 'compact' });
    const message = await peer.expect('MESSAGE', 'the snapshot');
    expect(message.headers).to.include({ subscription: 'snap-1', destination: '/app/snapshot/42', 'content-type': 'application/json' });
    expect(message.headers['message-id']).to.be.a('string').and.not.equal('');
    expect(JSON.parse(message.body.toString())).to.deep.equal({ id: '42', user, subscriptionId: 'snap-1', destination: '/snapshot/42', view: 'compact' });
    expect((await peer.expect('RECEIPT')).headers['receipt-id']).to.equal('sub');
    peer.sendFrame('UNSUBSCRIBE', { id: 'snap-1', receipt: 'unsub' });
    expect((await peer.expect('RECEIPT', 'the UNSUBSCRIBE receipt')).headers['receipt-id']).to.equal('unsub');
  });

  it('answers each subscription on its own, with stompjs', async () => {
    const client = track(await wsClient(server, { login: unique('ben') }));
    const first = await client.subscribe('/app/snapshot/1');
    expect(JSON.parse((await first.messages.next('the first snapshot')).body).id).to.equal('1');
    const second = await client.subscribe('/app/snapshot/2');
    expect(JSON.parse((await second.messages.next('the second snapshot')).body).id).to.equal('2');
    expect(first.messages.all, 'the first subscription was answered once').to.have.length(1);
    const text = await client.subscribe('/app/text');
    const m = await text.messages.next('the text answer');
    expect(m.body).to.equal('plain words');
    expect(m.headers['content-type']).to.match(/^text\/plain/);
  });

  it('sends nothing when the handler returns undefined, and still the RECEIPT', async () => {
    const peer = await raw(unique('cat'));
    peer.sendFrame('SUBSCRIBE', { id: 's', destination: '/app/nothing', receipt: 'sub' });
    expect((await peer.expect('RECEIPT', 'the RECEIPT, no MESSAGE before it')).headers['receipt-id']).to.equal('sub');
  });

  it('reports a failing handler or a missing one on /user/queue/errors, keeping the session', async () => {
    const client = track(await wsClient(server, { login: unique('dan') }));
    const errors = await client.subscribe('/user/queue/errors');
    await client.subscribe('/app/broken');
    expect(JSON.parse((await errors.messages.next('the handler error')).body)).to.deep.equal({
      code: 'HANDLER_ERROR', message: 'the handler for /app/broken failed (see the server log)', destination: '/app/broken',
    });
    await client.subscribe('/app/no-such-mapping');
    expect(JSON.parse((await errors.messages.next('the missing handler')).body).code).to.equal('NO_HANDLER');
    const snapshot = await client.subscribe('/app/snapshot/7');
    expect(JSON.parse((await snapshot.messages.next('a snapshot after the errors')).body).id).to.equal('7');
  });

  it('a client-ack subscription may ACK the answer', async () => {
    const peer = await raw(unique('eve'));
    peer.sendFrame('SUBSCRIBE', { id: 's', destination: '/app/snapshot/9', ack: 'client' });
    const message = await peer.expect('MESSAGE');
    expect(message.headers.ack).to.be.a('string');
    peer.sendFrame('ACK', { id: message.headers.ack, receipt: 'acked' });
    expect((await peer.expect('RECEIPT', 'the ACK accepted')).headers['receipt-id']).to.equal('acked');
  });
});

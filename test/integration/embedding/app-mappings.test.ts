/**
 * Application mappings beyond exact destinations: templates (`relay.onMessage('/chat/{room}')`,
 * Spring's `@DestinationVariable`).
 */
import { expect } from 'chai';
import { createRelay } from '../../../server/relay';
import { silentLogger } from '../../../server/observability/logger';
import { startEmbeddedRelay, trackClients, unique, wsClient, type TestRelay } from '../../harness/stomp-test-kit';

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

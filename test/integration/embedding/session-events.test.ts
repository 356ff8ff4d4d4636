/**
 * Session events (`relay.on('session:connect' | 'session:disconnect' | 'session:subscribe' |
 * 'session:unsubscribe', …)`; Spring's SessionConnectedEvent, SessionDisconnectEvent,
 * SessionSubscribeEvent, SessionUnsubscribeEvent), the mechanism presence itself uses.
 */
import { expect } from 'chai';
import pino from 'pino';
import type { RelaySessionEvents } from '../../../server/session/session-events';
import { Inbox, RawStomp, sockjsClient, startEmbeddedRelay, trackClients, unique, wsClient, type TestRelay } from '../../harness/stomp-test-kit';

type Recorded = { [E in keyof RelaySessionEvents]: { event: E } & RelaySessionEvents[E] }[keyof RelaySessionEvents];

describe('session events', function () {
  this.timeout(20_000);
  let server: TestRelay;
  const logged: string[] = [];
  const logLines = new Inbox<string>();
  const track = trackClients();
  /** Every event of the relay, in order. */
  const events = new Inbox<Recorded>();

  before(async () => {
    const logger = pino({ level: 'error' }, { write: (line: string) => { logged.push(line); logLines.push(line); } });
    server = await startEmbeddedRelay({
      logger,
      authorize: ({ destination }) => !destination.startsWith('/topic/forbidden'),
    }, (relay) => {
      for (const event of ['session:connect', 'session:disconnect', 'session:subscribe', 'session:unsubscribe'] as const) {
        relay.on(event, (e) => events.push({ event, ...e } as Recorded));
      }
      relay.onSubscribe('/snapshot', () => 'snapshot');
    });
  });
  after(async () => { await server.close(); });

  /** The next events of session `id` (others' are skipped), until `n` were seen. */
  async function eventsOf(sessionId: string, n: number): Promise<Recorded[]> {
    const out: Recorded[] = [];
    while (out.length < n) {
      const e = await events.next(`event ${out.length + 1} of ${n} of session ${sessionId} (got ${out.map((x) => x.event).join(', ')})`);
      if (e.sessionId === sessionId) out.push(e);
    }
    return out;
  }

  it('session:connect and session:disconnect name the session, its user, principal and transport', async () => {
    const user = unique('ann');
    const client = await wsClient(server, { login: user });
    const sessionId = client.connected.headers.session;
    const [connect] = await eventsOf(sessionId, 1);
    expect(connect).to.deep.include({ event: 'session:connect', sessionId, user, transport: 'ws' });
    expect(connect.principal).to.deep.equal({ name: user });
    expect(Object.isFrozen(connect.principal)).to.equal(true);
    await client.close();
    const [disconnect] = await eventsOf(sessionId, 1);
    expect(disconnect).to.deep.include({ event: 'session:disconnect', sessionId, user, transport: 'ws' });
  });

  it('names SockJS sessions too', async () => {
    const client = track(await sockjsClient(server, 'xhr-streaming', { login: unique('ben') }));
    const [connect] = await eventsOf(client.connected.headers.session, 1);
    expect(connect).to.deep.include({ event: 'session:connect', transport: 'sockjs' });
  });

  it('session:subscribe comes before the RECEIPT, with the destination as sent; session:unsubscribe on UNSUBSCRIBE', async () => {
    const user = unique('cat');
    const client = track(await wsClient(server, { login: user }));
    const sessionId = client.connected.headers.session;
    await eventsOf(sessionId, 1); // connect
    const sub = await client.subscribe('/user/queue/inbox', { id: 'inbox-1', ack: 'client' });
    expect(events.all.some((e) => e.sessionId === sessionId && e.event === 'session:subscribe'), 'the event is there once the RECEIPT is').to.equal(true);
    const [subscribe] = await eventsOf(sessionId, 1);
    expect(subscribe).to.deep.include({ event: 'session:subscribe', sessionId, user, subscriptionId: 'inbox-1', destination: '/user/queue/inbox', ack: 'client' });
    sub.subscription.unsubscribe();
    const [unsubscribe] = await eventsOf(sessionId, 1);
    expect(unsubscribe).to.deep.include({ event: 'session:unsubscribe', subscriptionId: 'inbox-1', destination: '/user/queue/inbox', reason: 'unsubscribe' });
  });

  it('a session that ends unsubscribes what it still held (reason disconnect), then disconnects', async () => {
    const client = await wsClient(server, { login: unique('dan') });
    const sessionId = client.connected.headers.session;
    await client.subscribe('/topic/a', { id: 'a' });
    await client.subscribe('/app/snapshot', { id: 'snap' });
    await client.close();
    const seen = await eventsOf(sessionId, 6);
    expect(seen.map((e) => [e.event, 'subscriptionId' in e ? e.subscriptionId : null, 'reason' in e ? e.reason : null])).to.deep.equal([
      ['session:connect', null, null],
      ['session:subscribe', 'a', null],
      ['session:subscribe', 'snap', null],
      ['session:unsubscribe', 'a', 'disconnect'],
      ['session:unsubscribe', 'snap', 'disconnect'],
      ['session:disconnect', null, null],
    ]);
  });

  it('a refused SUBSCRIBE makes no event', async () => {
    const raw = track(await RawStomp.open(server.wsUrl));
    const connected = await raw.connect({ login: unique('eve') });
    raw.sendFrame('SUBSCRIBE', { id: 'f', destination: '/topic/forbidden' });
    expect((await raw.expect('ERROR')).headers.code).to.equal('ACCESS_DENIED');
    const seen = await eventsOf(connected.headers.session, 2);
    expect(seen.map((e) => e.event)).to.deep.equal(['session:connect', 'session:disconnect']);
  });

  it('a listener that throws or rejects is logged and disturbs nobody; on() returns what removes the listener', async () => {
    const throwing = server.relay.on('session:subscribe', () => { throw new Error('listener bug'); });
    const rejecting = server.relay.on('session:subscribe', async () => { throw new Error('async listener bug'); });
    const client = track(await wsClient(server, { login: unique('fay') }));
    const topic = `/topic/${unique('t')}`;
    const sub = await client.subscribe(topic);
    await client.publish(topic, 'fine');
    expect((await sub.messages.next('the message')).body).to.equal('fine');
    for (const bug of ['"listener bug"', '"async listener bug"']) {
      while (!(await logLines.next(`the log line of the ${bug}`)).includes(bug));
    }
    throwing();
    rejecting();
    logged.length = 0;
    await client.subscribe(`/topic/${unique('t')}`);
    expect(logged.filter((l) => l.includes('listener bug'))).to.deep.equal([]);
  });

  it('refuses an unknown event name', () => {
    expect(() => server.relay.on('session:connected' as 'session:connect', () => undefined)).to.throw(/unknown event "session:connected"/);
  });
});

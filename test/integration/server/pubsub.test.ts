/**
 * Messaging through a real relay (embedded broker) with real clients: topics across transports,
 * queues with acknowledgements, transactions and receipts.
 */
import { expect } from 'chai';
import { captureLogs } from '../../harness/log-capture';
import {
  RawStomp, closeAll, metricValue, request, sockjsClient, startRelay, unique, waitFor, wsClient,
  type SockJsTransportName, type TestRelay,
  trackClients,
} from '../../harness/stomp-test-kit';

describe('server: publish/subscribe and queues', function () {
  let server: TestRelay;
  const track = trackClients();

  before(async () => { server = await startRelay(); });
  after(async () => { await server.close(); });

  for (const transport of ['xhr-streaming', 'xhr-polling'] as SockJsTransportName[]) {
    it(`carries a topic message from a ws client to a SockJS ${transport} client and back`, async () => {
      const ws = track(await wsClient(server, { login: 'alice' }));
      const sj = track(await sockjsClient(server, transport, { login: 'bob' }));
      const topic = `/topic/${unique('chat')}`;
      const wsSub = await ws.subscribe(topic);
      const sjSub = await sj.subscribe(topic);

      await ws.publish(topic, 'hello from ws', { 'x-app': 'demo', 'content-type': 'text/plain' });
      const atSockJs = await sjSub.messages.next('MESSAGE at the SockJS client');
      expect(atSockJs.body).to.equal('hello from ws');
      expect(atSockJs.headers.destination).to.equal(topic);
      expect(atSockJs.headers['x-app']).to.equal('demo');
      // Topics fan out: the publisher's own subscription gets it too.
      expect((await wsSub.messages.next('MESSAGE at the ws client')).body).to.equal('hello from ws');

      await sj.publish(topic, 'héllo from SockJS ✓');
      expect((await wsSub.messages.next('reply at the ws client')).body).to.equal('héllo from SockJS ✓');
      expect((await sjSub.messages.next('reply echoed to SockJS')).body).to.equal('héllo from SockJS ✓');
    });
  }

  it('carries 200 KiB text bodies both ways between ws and SockJS', async () => {
    const topic = `/topic/${unique('big')}`;
    const ws = track(await wsClient(server));
    const sj = track(await sockjsClient(server, 'xhr-streaming'));
    const wsSub = await ws.subscribe(topic);
    const sjSub = await sj.subscribe(topic);
    const big = (n: number) => Array.from({ length: n }, (_, i) => String.fromCharCode(0x41 + (i % 26))).join('') + ' ✓ end';
    const fromWs = big(200 * 1024);
    await ws.publish(topic, fromWs);
    expect((await sjSub.messages.next('big message at SockJS')).body === fromWs, 'intact at SockJS').to.equal(true);
    const fromSj = big(200 * 1024 + 7);
    await sj.publish(topic, fromSj);
    await wsSub.messages.next(); // its own first message
    expect((await wsSub.messages.next('big message at ws')).body === fromSj, 'intact at ws').to.equal(true);
  });

  it('stops delivering after UNSUBSCRIBE (RECEIPT first), and returns unacked queue messages', async () => {
    const topic = `/topic/${unique('unsub')}`;
    const queue = `/queue/${unique('unsub')}`;
    const c = track(await wsClient(server));
    const topicSub = await c.subscribe(topic);
    const queueSub = await c.subscribe(queue, { ack: 'client-individual' });
    const producer = track(await wsClient(server));
    await producer.publish(queue, 'held');
    expect((await queueSub.messages.next()).body).to.equal('held');

    // stompjs drops MESSAGEs for subscriptions it forgot; catch them to see what the server still sends.
    const stray: string[] = [];
    c.client.onUnhandledMessage = (m) => stray.push(`${m.headers.subscription}: ${m.body}`);
    const unsubscribed = new Promise<void>((resolve) => c.client.watchForReceipt('u1', () => resolve()));
    topicSub.subscription.unsubscribe({ receipt: 'u1' });
    queueSub.subscription.unsubscribe();
    await unsubscribed;
    const watcher = await c.subscribe(topic);
    await producer.publish(topic, 'after');
    expect((await watcher.messages.next()).body).to.equal('after');
    expect(stray, 'nothing is sent for the cancelled subscription').to.deep.equal([]);

    const other = track(await wsClient(server));
    const otherSub = await other.subscribe(queue);
    expect((await otherSub.messages.next('the unacked message back on the queue')).body).to.equal('held');
  });

  it('shares a queue between competing client-individual consumers and redelivers a NACKed message', async () => {
    const queue = `/queue/${unique('work')}`;
    const a = track(await wsClient(server));
    const b = track(await wsClient(server));
    const producer = track(await wsClient(server));
    const subA = await a.subscribe(queue, { ack: 'client-individual' });
    const subB = await b.subscribe(queue, { ack: 'client-individual' });

    for (let i = 0; i < 4; i++) await producer.publish(queue, `job-${i}`);
    await waitFor(() => subA.messages.all.length + subB.messages.all.length === 4, 'all 4 jobs delivered');
    const bodies = [...subA.messages.all, ...subB.messages.all].map((m) => m.body).sort();
    expect(bodies, 'each job reaches exactly one consumer').to.deep.equal(['job-0', 'job-1', 'job-2', 'job-3']);
    expect(subA.messages.all.length, 'both consumers take work').to.be.greaterThan(0);
    expect(subB.messages.all.length, 'both consumers take work').to.be.greaterThan(0);
    for (const m of [...subA.messages.all, ...subB.messages.all]) expect(m.headers.ack, 'STOMP 1.2 MESSAGE carries ack').to.be.a('string');

    // A rejects its first job: it goes back to the queue and is delivered again.
    const [rejected, ...keptByA] = await subA.messages.take(subA.messages.all.length);
    const keptByB = await subB.messages.take(subB.messages.all.length);
    rejected.nack();
    await waitFor(() => subA.messages.all.length + subB.messages.all.length === 5, 'the NACKed job redelivered');
    const again = subA.messages.pending > 0 ? await subA.messages.next() : await subB.messages.next();
    expect(again.body).to.equal(rejected.body);
    expect(again.headers.redelivered).to.equal('true');

    // Everything acked: nothing comes back to a later consumer (the sentinel arrives first).
    for (const m of [...keptByA, ...keptByB, again]) m.ack();
    await closeAll([a, b]);
    const c = track(await wsClient(server));
    const subC = await c.subscribe(queue);
    await producer.publish(queue, 'sentinel');
    expect((await subC.messages.next('sentinel')).body).to.equal('sentinel');
    expect(subC.messages.all.map((m) => m.body)).to.deep.equal(['sentinel']);
  });

  it('gives a client-individual message nobody acked to another consumer when its session ends', async () => {
    const queue = `/queue/${unique('orphan')}`;
    const a = track(await wsClient(server));
    const subA = await a.subscribe(queue, { ack: 'client-individual' });
    const producer = track(await wsClient(server));
    await producer.publish(queue, 'unfinished');
    expect((await subA.messages.next()).body).to.equal('unfinished');
    await a.close();

    const b = track(await wsClient(server));
    const subB = await b.subscribe(queue, { ack: 'client-individual' });
    const redelivered = await subB.messages.next('the unacked message at the next consumer');
    expect(redelivered.body).to.equal('unfinished');
    expect(redelivered.headers.redelivered).to.equal('true');
  });

  it('treats ack mode "client" as cumulative: ACK of the 2nd message settles the 1st too', async () => {
    const queue = `/queue/${unique('cumulative')}`;
    const a = track(await wsClient(server));
    const subA = await a.subscribe(queue, { ack: 'client' });
    const producer = track(await wsClient(server));
    for (const body of ['m1', 'm2', 'm3']) await producer.publish(queue, body);
    const [, m2] = await subA.messages.take(3, 'three messages');
    m2.ack();
    await a.close(); // m3 was never acked: back to the queue

    const b = track(await wsClient(server));
    const subB = await b.subscribe(queue);
    await producer.publish(queue, 'sentinel');
    const seen = await subB.messages.take(2, 'm3 then the sentinel');
    expect(seen.map((m) => m.body)).to.deep.equal(['m3', 'sentinel']);
  });

  it('delivers a committed transaction\'s messages in order, and only at COMMIT', async () => {
    const topic = `/topic/${unique('tx')}`;
    const consumer = track(await wsClient(server));
    const sub = await consumer.subscribe(topic);
    const producer = track(await wsClient(server));

    const tx = producer.client.begin();
    for (let i = 1; i <= 5; i++) producer.client.publish({ destination: topic, body: `tx-${i}`, headers: { transaction: tx.id } });
    // Sent outside the transaction after the transactional SENDs: it must overtake them.
    await producer.publish(topic, 'outside');
    expect((await sub.messages.next('the non-transactional message')).body).to.equal('outside');
    expect(sub.messages.pending, 'nothing of the open transaction is delivered').to.equal(0);

    tx.commit();
    const committed = await sub.messages.take(5, 'the committed messages');
    expect(committed.map((m) => m.body)).to.deep.equal(['tx-1', 'tx-2', 'tx-3', 'tx-4', 'tx-5']);
    expect(committed.every((m) => m.headers.transaction === undefined), 'transaction header is not passed on').to.equal(true);
  });

  it('delivers nothing of an aborted transaction, and the aborted id cannot be committed later', async () => {
    const topic = `/topic/${unique('abort')}`;
    const consumer = track(await wsClient(server));
    const sub = await consumer.subscribe(topic);
    const producer = track(await wsClient(server));

    const tx = producer.client.begin();
    producer.client.publish({ destination: topic, body: 'never-1', headers: { transaction: tx.id } });
    producer.client.publish({ destination: topic, body: 'never-2', headers: { transaction: tx.id } });
    tx.abort();
    await producer.publish(topic, 'sentinel');
    expect((await sub.messages.next('sentinel')).body).to.equal('sentinel');

    tx.commit();
    const error = await producer.errors.next('ERROR for committing an aborted transaction');
    expect(error.headers.code).to.equal('UNKNOWN_TRANSACTION');
    expect(error.headers.message).to.include(tx.id);
    await producer.closed;
    // Another publisher's sentinel proves nothing of the aborted transaction was released meanwhile.
    const other = track(await wsClient(server));
    await other.publish(topic, 'sentinel-2');
    expect((await sub.messages.next('second sentinel')).body).to.equal('sentinel-2');
    expect(sub.messages.all.map((m) => m.body)).to.deep.equal(['sentinel', 'sentinel-2']);
  });

  it('does not let a publisher forge message-id, subscription or ack of the receivers\' MESSAGE', async () => {
    const queue = `/queue/${unique('forge')}`;
    const reader = track(await wsClient(server));
    const sub = await reader.subscribe(queue, { ack: 'client-individual', id: 'mine' });
    const raw = track(await RawStomp.open(server.wsUrl));
    await raw.connect();
    raw.sendFrame('SEND', { destination: queue, 'message-id': 'forged-id', subscription: 'theirs', ack: 'forged-ack', receipt: 'r' }, 'x');
    await raw.expect('RECEIPT');
    const m = await sub.messages.next();
    expect(m.headers.subscription).to.equal('mine');
    expect(m.headers['message-id']).to.not.equal('forged-id');
    expect(m.headers.ack).to.not.equal('forged-ack');
    m.ack(); // the real ack id works: no ERROR follows
    await reader.publish(`/topic/${unique('after-ack')}`, 'still connected');
    expect(reader.errors.pending).to.equal(0);
  });

  it('drops a non-UTF-8 body for a SockJS subscriber (text only), counts it, and still delivers it over ws', async () => {
    const topic = `/topic/${unique('bytes')}`;
    const sj = track(await sockjsClient(server, 'xhr-streaming'));
    const sjSub = await sj.subscribe(topic);
    const ws = track(await wsClient(server));
    const wsSub = await ws.subscribe(topic);
    const metric = 'stomp_relay_undeliverable_messages_total{reason="NOT_UTF8_ON_TEXT_TRANSPORT"}';
    const before = metricValue((await request(`${server.http}/metrics`)).text, metric) ?? 0;

    const bytes = new Uint8Array([0xff, 0x00, 0xfe]);
    await ws.publish(topic, bytes);
    await ws.publish(topic, 'sentinel');
    expect(Buffer.from((await wsSub.messages.next()).binaryBody).equals(Buffer.from(bytes))).to.equal(true);
    expect((await sjSub.messages.next('sentinel at SockJS')).body).to.equal('sentinel');
    expect(sjSub.messages.all.length, 'SockJS got only the sentinel, nothing mangled').to.equal(1);
    expect(metricValue((await request(`${server.http}/metrics`)).text, metric)).to.equal(before + 1);
    expect(sj.client.connected, 'the SockJS session itself goes on').to.equal(true);
  });

  it('answers receipts for SUBSCRIBE, SEND and DISCONNECT, then closes after DISCONNECT', async () => {
    const raw = track(await RawStomp.open(server.wsUrl));
    await raw.connect();
    const topic = `/topic/${unique('receipts')}`;
    raw.sendFrame('SUBSCRIBE', { id: 's1', destination: topic, receipt: 'r-sub' });
    expect((await raw.expect('RECEIPT')).headers['receipt-id']).to.equal('r-sub');

    raw.sendFrame('SEND', { destination: topic, receipt: 'r-send' }, 'payload');
    const two = [await raw.frames.next(), await raw.frames.next()];
    const receipt = two.find((f) => f.command === 'RECEIPT');
    const message = two.find((f) => f.command === 'MESSAGE');
    expect(receipt?.headers['receipt-id']).to.equal('r-send');
    expect(message?.body.toString()).to.equal('payload');
    expect(message?.headers.subscription).to.equal('s1');
    expect(message?.headers.receipt, 'the sender\'s receipt header is not passed on').to.equal(undefined);

    raw.sendFrame('DISCONNECT', { receipt: 'r-bye' });
    expect((await raw.expect('RECEIPT')).headers['receipt-id']).to.equal('r-bye');
    await raw.waitClosed();
  });

  describe('slow consumers', () => {
    const LIMIT = 256 * 1024;
    const logs = captureLogs('info');
    let small: TestRelay;
    before(async () => { small = await startRelay({ limits: { maxBufferedBytes: LIMIT }, logger: logs.logger }); });
    after(async () => { await small.close(); });

    it('closes a subscriber that stops reading with ERROR SLOW_CONSUMER, without holding up the others', async () => {
      const topic = `/topic/${unique('flood')}`;
      const slow = track(await RawStomp.open(small.wsUrl));
      await slow.connect();
      slow.sendFrame('SUBSCRIBE', { id: 's', destination: topic, receipt: 'sub' });
      await slow.expect('RECEIPT');
      const fast = track(await wsClient(small));
      const fastSub = await fast.subscribe(topic);
      // The slow client stops reading: the server's writes to it pile up in the kernel, then in ws.
      (slow.socket as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();

      const publisher = track(await RawStomp.open(small.wsUrl));
      await publisher.connect();
      const chunk = Buffer.alloc(16 * 1024, 0x61);
      const tripped = async () =>
        (metricValue((await request(`${small.http}/metrics`)).text, 'stomp_relay_slow_consumer_disconnects_total') ?? 0) >= 1;
      let sent = 0;
      for (let batch = 0; batch < 100 && !(await tripped()); batch++) {
        for (let i = 0; i < 20; i++) publisher.sendFrame('SEND', { destination: topic, ...(i === 19 ? { receipt: `b${batch}` } : {}) }, chunk);
        sent += 20;
        await publisher.expect('RECEIPT', `receipt of batch ${batch}`);
      }
      expect(await tripped(), `slow consumer not closed after ${sent} messages of 16 KiB`).to.equal(true);
      // The limit itself, whatever the kernel buffers before the relay's own queue grows: closed at
      // the first write that found more than maxBufferedBytes queued, so at most one MESSAGE more.
      const closing = logs.records().filter((r) => r.msg === 'closing slow consumer');
      expect(closing, 'one slow consumer closed').to.have.length(1);
      expect(closing[0].bufferedAmount).to.be.a('number').within(LIMIT + 1, LIMIT + chunk.length + 1024);

      (slow.socket as unknown as { _socket: { resume(): void } })._socket.resume();
      const error = await slow.nextError(10_000);
      expect(error.headers.code).to.equal('SLOW_CONSUMER');
      expect(error.headers.message).to.match(/too slow/);
      await slow.waitClosed(10_000);

      await waitFor(() => fastSub.messages.all.length === sent, `the fast subscriber to get all ${sent} messages`, 10_000);
      expect(fast.client.connected).to.equal(true);
    });
  });
});

/**
 * Quorum queues and streams through the relay, as RabbitMQ's STOMP plugin offers them
 * (https://www.rabbitmq.com/docs/stomp#queue-types): `x-queue-type` and `x-stream-offset` pass
 * through on SUBSCRIBE and SEND to `/queue/` and `/amq/queue/`, against a real node.
 */
import { expect } from 'chai';
import { sharedRabbitNode, type RabbitNode } from '../../harness/rabbitmq';
import { startRelay, trackClients, unique, wsClient, type TestRelay } from '../../harness/stomp-test-kit';

/** Bound on a stream reader's RECEIPT and first messages: each starts a reader on the node (see below). */
const STREAM_WAIT_MS = 30_000;

describe('quorum queues and streams through the relay (RabbitMQ)', function () {
  this.timeout(60_000);
  let node: RabbitNode;
  let relay: TestRelay;
  const track = trackClients();

  before(async () => {
    node = await sharedRabbitNode();
    relay = await startRelay({ ...node.relayOptions, instanceId: 'queue-types' });
  });

  after(async () => {
    await relay?.close();
  });

  const client = async () => track(await wsClient(relay, { login: unique('user') }));
  const queueType = async (name: string) => (await node.listQueues()).find((q) => q.name === name)?.type;

  it('SUBSCRIBE to /queue/q with x-queue-type:quorum durable:true ack:client declares a quorum queue and consumes it', async () => {
    const name = unique('quorum');
    const consumer = await client();
    const { messages } = await consumer.subscribe(`/queue/${name}`, { 'x-queue-type': 'quorum', durable: 'true', ack: 'client' });
    expect(await queueType(name)).to.equal('quorum');
    const producer = await client();
    // A SEND to /queue/ declares the queue too, so it names the type; /amq/queue/ declares nothing.
    await producer.publish(`/queue/${name}`, 'one', { 'x-queue-type': 'quorum', persistent: 'true' });
    await producer.publish(`/amq/queue/${name}`, 'two', { persistent: 'true' });
    const [one, two] = await messages.take(2, 'both messages');
    expect([one.body, two.body]).to.deep.equal(['one', 'two']);
    two.ack(); // cumulative: acks both
    // Consumed for good: a second consumer on /amq/queue/ gets only what comes next.
    await consumer.close();
    const other = await (await client()).subscribe(`/amq/queue/${name}`, { ack: 'client-individual' });
    await producer.publish(`/amq/queue/${name}`, 'three');
    expect((await other.messages.next('the next message')).body).to.equal('three');
  });

  it('reads a stream from x-stream-offset:first with client acks and a prefetch-count', async () => {
    const name = unique('stream');
    const producer = await client();
    for (const body of ['s1', 's2', 's3']) await producer.publish(`/queue/${name}`, body, { 'x-queue-type': 'stream' });
    expect(await queueType(name)).to.equal('stream');
    const reader = await client();
    const { messages } = await reader.subscribe(`/queue/${name}`, {
      'x-queue-type': 'stream', durable: 'true', ack: 'client', 'prefetch-count': '2', 'x-stream-offset': 'first',
    }, STREAM_WAIT_MS);
    const got = [];
    for (let i = 0; i < 3; i++) {
      const m = await messages.next(`stream message ${i}`, STREAM_WAIT_MS);
      m.ack(); // credit for the next one (prefetch 2)
      got.push(m);
    }
    expect(got.map((m) => m.body)).to.deep.equal(['s1', 's2', 's3']);
    expect(got.map((m) => Number(m.headers['x-stream-offset']))).to.deep.equal([0, 1, 2]);
    // Another reader of the same stream, through /amq/queue/, from an offset. Its RECEIPT comes
    // after two stream readers started one after the other: the engine first probes the request
    // on its probe connection (SUBSCRIBE, then a sentinel behind it: request-risk.ts, probes run one
    // at a time), and only then subscribes on a pooled connection. Each start is a broker round
    // trip in which RabbitMQ opens the stream's segment and index files for a new reader; on a
    // loaded node the whole took more than 5 s.
    const { messages: fromTwo } = await (await client()).subscribe(`/amq/queue/${name}`, { ack: 'client-individual', 'prefetch-count': '10', 'x-stream-offset': 'offset=2' }, STREAM_WAIT_MS);
    expect((await fromTwo.next('the message at offset 2', STREAM_WAIT_MS)).body).to.equal('s3');
  });

  it('refuses a stream consumer with auto acks with a readable ERROR instead of RabbitMQ closing a shared connection', async () => {
    const name = unique('stream');
    const c = await client();
    c.client.subscribe(`/queue/${name}`, () => undefined, { 'x-queue-type': 'stream', 'prefetch-count': '10' });
    const error = await c.errors.next('an ERROR frame');
    expect(error.headers.code).to.equal('INVALID_HEADER');
    expect(error.headers.message).to.match(/ack.*is a stream, which takes only ack:client/);
  });
});

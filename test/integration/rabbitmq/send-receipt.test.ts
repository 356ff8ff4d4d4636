/**
 * A SEND with a `receipt` on the RabbitMQ engine is answered only once RabbitMQ answered the relay's
 * own SEND with its RECEIPT: never a receipt for a message the broker might not have. A TCP proxy
 * between the relay and RabbitMQ holds what RabbitMQ sends; a second relay, straight on the node,
 * shows when RabbitMQ has the message (so its RECEIPT exists, held in the proxy).
 */
import { expect } from 'chai';
import { parseBrokerUrl } from '../../../server/config';
import { sharedRabbitNode } from '../../harness/rabbitmq';
import { RawStomp, startRelay, trackClients, unique, wsClient, type TestRelay } from '../../harness/stomp-test-kit';
import { TcpProxy } from '../../harness/tcp-proxy';

describe('RabbitMQ engine: a SEND\'s RECEIPT waits for RabbitMQ\'s', function () {
  this.timeout(60_000);
  const track = trackClients();
  let proxy: TcpProxy | undefined;
  let proxied: TestRelay | undefined;
  let direct: TestRelay | undefined;

  before(async () => {
    const node = await sharedRabbitNode();
    const endpoint = parseBrokerUrl(node.brokerUrl);
    proxy = await TcpProxy.start({ host: endpoint.host, port: endpoint.port });
    const brokerUrl = `stomp://${endpoint.login}:${endpoint.passcode}@127.0.0.1:${proxy.port}/`;
    proxied = await startRelay({ brokerUrl, brokerAmqpUrl: node.amqpUrl, instanceId: 'receipt-proxied' });
    direct = await startRelay({ ...node.relayOptions, instanceId: 'receipt-direct' });
  });

  after(async () => {
    proxy?.releaseReplies();
    await proxied?.close();
    await direct?.close();
    await proxy?.close();
  });

  it('sends the client\'s RECEIPT only after RabbitMQ\'s RECEIPT reached the relay', async () => {
    const queue = `/queue/${unique('receipts')}`;
    const watcher = track(await wsClient(direct!, { login: unique('watcher') }));
    const { messages } = await watcher.subscribe(queue);
    const sender = track(await RawStomp.open(proxied!.wsUrl));
    await sender.connect({ login: unique('sender') });
    // A first SEND, answered in full: the queue exists and whatever the engine learns of a
    // destination on first use is known, so the held SEND below needs nothing but RabbitMQ's RECEIPT.
    sender.sendFrame('SEND', { destination: queue, receipt: 'first' }, 'first');
    expect((await sender.expect('RECEIPT', 'the first RECEIPT')).headers['receipt-id']).to.equal('first');
    expect((await messages.next('the first message')).body).to.equal('first');

    proxy!.holdReplies();
    sender.sendFrame('SEND', { destination: queue, receipt: 'held' }, 'held');
    expect((await messages.next('the held SEND, through RabbitMQ')).body, 'RabbitMQ took the SEND: its RECEIPT waits in the proxy').to.equal('held');
    // A frame the relay answers itself, sent after the SEND: a relay that answered the SEND without
    // waiting for RabbitMQ would have written that RECEIPT first, on the same socket.
    sender.sendFrame('BEGIN', { transaction: 't', receipt: 'begin' });
    const next = await sender.expect('RECEIPT', 'the BEGIN RECEIPT');
    expect(next.headers['receipt-id'], 'the SEND was answered while RabbitMQ\'s RECEIPT was held').to.equal('begin');

    proxy!.releaseReplies();
    expect((await sender.expect('RECEIPT', 'the SEND RECEIPT once RabbitMQ\'s went through')).headers['receipt-id']).to.equal('held');
  });
});

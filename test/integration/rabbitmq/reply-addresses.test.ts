/**
 * Reply addresses on a real RabbitMQ, beyond the shared contract: what RabbitMQ holds for them,
 * replies across relay instances, and surviving the loss of the pooled connection they ride on.
 */
import { expect } from 'chai';
import type { ReplyAddress } from '../../../server/broker/broker';
import type { ConnectionSlot } from '../../../server/broker/rabbitmq/connection-slot';
import { headers } from '../../../server/codec/frame';
import { RecordingSink } from '../../broker-suite/recording-sink';
import { publish } from '../../broker-suite/requests';
import { freshDestination, waitUntil } from '../../broker-suite/wait';
import { useRabbitBrokers } from './rabbit-brokers';

describe('RabbitMqBroker reply addresses on a real RabbitMQ', function () {
  this.timeout(60_000);
  const rabbit = useRabbitBrokers();
  const startBroker = (poolSize = 2) => rabbit.start(poolSize);

  const queueOf = (address: ReplyAddress): string => address.destination.slice('/reply-queue/'.length);

  it('is an exclusive, auto-delete, non-durable queue while open, and gone once closed', async () => {
    const broker = await startBroker();
    const address = await broker.openReplyAddress(new RecordingSink());
    const during = (await rabbit.node.listQueues()).find((q) => q.name === queueOf(address));
    expect(during, 'the queue exists').to.not.equal(undefined);
    expect(during).to.include({ exclusive: true, autoDelete: true, durable: false, consumers: 1 });

    await address.close();
    const after = (await rabbit.node.listQueues()).find((q) => q.name === queueOf(address));
    expect(after, 'the queue is deleted').to.equal(undefined);
  });

  it('takes replies sent through another relay instance', async () => {
    const [requesterSide, responderSide] = [await startBroker(), await startBroker()];
    const requests = freshDestination('/queue/');
    const requester = new RecordingSink('requester');
    const responder = new RecordingSink('responder');
    const address = await requesterSide.openReplyAddress(requester);
    await responderSide.subscribe({ destination: requests, ack: 'auto', headers: headers() }, responder);
    responder.onDeliver = (delivery) => {
      void publish(responderSide, delivery.message.headers['reply-to'], `answer to ${delivery.message.body.toString()}`);
    };

    await publish(requesterSide, requests, 'q1', { 'reply-to': address.destination });

    const [reply] = await requester.waitFor(1);
    expect(reply.message.body.toString()).to.equal('answer to q1');
    expect(reply.message.destination).to.equal(address.destination);
  });

  it('is cancelled with BROKER_UNAVAILABLE when its pooled connection drops, without disturbing the other connection', async () => {
    const broker = await startBroker(2);
    const lost = new RecordingSink('lost');
    const address = await broker.openReplyAddress(lost);
    await publish(broker, address.destination, 'before');
    await lost.waitFor(1);
    const opened = broker.connectionsOpened;

    // Drop the connection that consumes the queue; RabbitMQ deletes an exclusive queue with it.
    const slots = (broker as unknown as { slots: ConnectionSlot[] }).slots;
    const carrier = slots.find((slot) => slot.subscriptions.size > 0);
    const other = slots.find((slot) => slot !== carrier);
    expect(carrier, 'a pooled connection carries the address').to.not.equal(undefined);
    const otherConnection = other!.connection;
    carrier!.connection!.destroy('test: connection lost');

    await waitUntil(() => lost.cancellations.length > 0, () => 'no cancellation');
    expect(lost.cancellations.map((e) => e.code)).to.deep.equal(['BROKER_UNAVAILABLE']);
    // A new address works at once, and the surviving pooled connection was never touched.
    const fresh = new RecordingSink('fresh');
    const next = await broker.openReplyAddress(fresh);
    expect(next.destination).to.not.equal(address.destination);
    await publish(broker, next.destination, 'after');
    await fresh.waitFor(1);
    await publish(broker, address.destination, 'to the old address');
    expect(other!.connection, 'the other pooled connection is the same one').to.equal(otherConnection);
    await waitUntil(() => broker.openConnections === 2, () => `${broker.openConnections} open`);
    expect(broker.connectionsOpened, 'only the dropped connection was reopened').to.equal(opened + 1);
    expect(lost.bodies()).to.deep.equal(['before']);
    let queues = (await rabbit.node.listQueues()).map((q) => q.name);
    for (let i = 0; i < 50 && queues.includes(queueOf(address)); i++) queues = (await rabbit.node.listQueues()).map((q) => q.name);
    expect(queues).to.include(queueOf(next));
    expect(queues, 'the old queue went with its connection').to.not.include(queueOf(address));
    await next.close();
  });
});

/**
 * TempQueues: one reply address per temporary queue name, freed with the session, including the
 * races with a broker that answers late (fake broker: each openReplyAddress waits for the test).
 */
import { expect } from 'chai';
import type { Broker, Delivery, DeliverySink, ReplyAddress } from '../../../server/broker/broker';
import { headers } from '../../../server/codec/frame';
import { Errors, relayError, type RelayError } from '../../../server/errors';
import { TempQueues } from '../../../server/session/temp-queues';

interface PendingOpen {
  sink: DeliverySink;
  resolve(address: ReplyAddress): void;
  reject(err: unknown): void;
}

/** Only openReplyAddress is used; each call waits until the test settles it. */
class SlowBroker {
  readonly opens: PendingOpen[] = [];
  readonly closed: string[] = [];
  private next = 0;

  openReplyAddress(sink: DeliverySink): Promise<ReplyAddress> {
    return new Promise((resolve, reject) => this.opens.push({ sink, resolve, reject }));
  }

  /** Settles the oldest pending open with a fresh address. */
  grant(index = 0): string {
    const destination = `/reply-queue/r${++this.next}`;
    this.opens[index].resolve({ destination, close: async () => { this.closed.push(destination); } });
    return destination;
  }
}

function message(body: string): Delivery {
  return { message: { destination: '/reply-queue/x', headers: headers(), body: Buffer.from(body), messageId: body } };
}

describe('TempQueues', () => {
  let broker: SlowBroker;
  let replies: Array<[string, string]>;
  let lost: Array<[string, RelayError]>;
  let queues: TempQueues;

  beforeEach(() => {
    broker = new SlowBroker();
    replies = [];
    lost = [];
    queues = new TempQueues(broker as unknown as Broker, {
      reply: (name, delivery) => replies.push([name, delivery.message.body.toString()]),
      lost: (name, reason) => lost.push([name, reason]),
    });
  });

  it('opens one address per name, shared by requests made while it is opening and after', async () => {
    const first = queues.replyTo('/temp-queue/a');
    const concurrent = queues.replyTo('/temp-queue/a');
    expect(broker.opens).to.have.length(1);
    const destination = broker.grant();
    expect(await first).to.equal(destination);
    expect(await concurrent).to.equal(destination);
    expect(queues.replyTo('/temp-queue/a'), 'known now: no promise').to.equal(destination);
    expect(queues.size).to.equal(1);
  });

  it('hands replies to the name they were opened for', async () => {
    const a = queues.replyTo('/temp-queue/a');
    const b = queues.replyTo('/temp-queue/b');
    broker.grant(0);
    broker.grant(1);
    await Promise.all([a, b]);
    broker.opens[1].sink.deliver(message('for b'));
    broker.opens[0].sink.deliver(message('for a'));
    expect(replies).to.deep.equal([['/temp-queue/b', 'for b'], ['/temp-queue/a', 'for a']]);
  });

  it('closes every address when the session ends, and one that opens afterwards as soon as it does', async () => {
    const open = queues.replyTo('/temp-queue/a');
    const late = queues.replyTo('/temp-queue/b');
    const a = broker.grant(0);
    await open;
    await queues.closeAll();
    expect(broker.closed).to.deep.equal([a]);
    const b = broker.grant(1);
    await late;
    await Promise.resolve();
    expect(broker.closed).to.deep.equal([a, b]);
    broker.opens[0].sink.deliver(message('too late'));
    expect(replies, 'nothing after the session ended').to.deep.equal([]);
  });

  it('forgets a name whose opening failed, so the next request tries again', async () => {
    const failing = queues.replyTo('/temp-queue/a');
    broker.opens[0].reject(relayError(Errors.BROKER_UNAVAILABLE, 'down'));
    let error: unknown;
    await (failing as Promise<string>).catch((err) => { error = err; });
    expect((error as RelayError).code).to.equal('BROKER_UNAVAILABLE');
    expect(queues.size).to.equal(0);
    const retry = queues.replyTo('/temp-queue/a');
    expect(broker.opens).to.have.length(2);
    const destination = broker.grant(1);
    expect(await retry).to.equal(destination);
  });

  it('forgets an address the broker cancelled and opens a new one on the next request', async () => {
    const first = queues.replyTo('/temp-queue/a');
    broker.grant();
    await first;
    broker.opens[0].sink.cancelled(relayError(Errors.BROKER_UNAVAILABLE, 'connection lost'));
    expect(lost.map(([name, reason]) => [name, reason.code])).to.deep.equal([['/temp-queue/a', 'BROKER_UNAVAILABLE']]);
    broker.opens[0].sink.deliver(message('to the dead address'));
    expect(replies).to.deep.equal([]);
    const second = queues.replyTo('/temp-queue/a');
    expect(second, 'a new opening').to.be.instanceOf(Promise);
    const destination = broker.grant(1);
    expect(await second).to.equal(destination);
  });
});

import { expect } from 'chai';
import type { StompFrame } from '../../../server/codec/frame';
import { headers } from '../../../server/codec/frame';
import { silentLogger } from '../../../server/observability/logger';
import { BrokerSubscription } from '../../../server/broker/rabbitmq/broker-subscription';
import type { ConnectionSlot } from '../../../server/broker/rabbitmq/connection-slot';

/** A slot whose connection confirms every request and records what is sent. */
function fakeSlot(): { slot: ConnectionSlot; sent: StompFrame[] } {
  const sent: StompFrame[] = [];
  const connection = {
    closed: false,
    request: (frame: StompFrame) => { sent.push(frame); return Promise.resolve(); },
    send: (frame: StompFrame) => { sent.push(frame); },
  };
  const slot = { connection, subscriptions: new Map() } as unknown as ConnectionSlot;
  return { slot, sent };
}

const within = <T>(promise: Promise<T>, ms: number): Promise<T | 'stuck'> =>
  Promise.race([promise, new Promise<'stuck'>((resolve) => setTimeout(() => resolve('stuck'), ms))]);

describe('rabbitmq BrokerSubscription fences', () => {
  const shared = () => new BrokerSubscription({ destination: '/topic/t', ack: 'auto', headers: headers() }, '/topic/t', () => undefined, silentLogger());

  it('sends one marker for joiners that wait at the same time', async () => {
    const { slot, sent } = fakeSlot();
    const subscription = shared();
    await subscription.attach(slot, 's1');
    const first = subscription.fence(60_000);
    const second = subscription.fence(60_000);
    const markers = sent.filter((f) => f.command === 'SEND');
    expect(markers).to.have.length(1);
    subscription.onMessage({ command: 'MESSAGE', headers: headers({ subscription: 's1', 'x-stomp-relay-fence': markers[0].headers['x-stomp-relay-fence'] as string }), body: Buffer.alloc(0) });
    expect(await within(Promise.all([first, second]).then(() => 'done'), 500)).to.equal('done');
  });

  it('lets waiting joiners go when its connection drops, instead of holding them until the timeout', async () => {
    const { slot } = fakeSlot();
    const subscription = shared();
    await subscription.attach(slot, 's1');
    const waiting = subscription.fence(60_000);
    subscription.detach();
    expect(await within(waiting.then(() => 'done'), 500)).to.equal('done');
  });
});

import { expect } from 'chai';
import { headers } from '../../../server/codec/frame';
import { isReservedQueueName, percentDecoded, reservedNameRefusal } from '../../../server/broker/reserved-names';

describe('reserved names (one rule for both engines)', () => {
  const refusal = (command: 'SUBSCRIBE' | 'SEND', destination: string, init: Record<string, string> = {}) =>
    reservedNameRefusal(command, destination, headers(init));

  it('refuses the relay\'s and RabbitMQ\'s generated queue names under /queue/, /amq/queue/ and /reply-queue/', () => {
    for (const name of ['stomp-relay.s1.abc', 'stomp-relay.durable.x', 'stomp-relay.history.0', 'stomp-subscription-x', 'amq.gen-x']) {
      for (const destination of [`/queue/${name}`, `/amq/queue/${name}`, `/amq/queue/${name.replace('.', '%2E')}`, `%2Famq%2Fqueue%2F${name}`]) {
        for (const command of ['SUBSCRIBE', 'SEND'] as const) {
          expect(refusal(command, destination)?.code, `${command} ${destination}`).to.equal('DESTINATION_NOT_ALLOWED');
        }
      }
      expect(refusal('SEND', `/reply-queue/${name}`)?.code, name).to.equal('DESTINATION_NOT_ALLOWED');
    }
  });

  it('keeps reply addresses reachable only by SEND to /reply-queue/', () => {
    expect(refusal('SEND', '/reply-queue/stomp-relay.reply.abc')).to.equal(undefined);
    for (const d of ['/queue/stomp-relay.reply.abc', '/amq/queue/stomp-relay.reply.abc']) {
      expect(refusal('SUBSCRIBE', d)?.message, d).to.include('reserved for reply addresses');
      expect(refusal('SEND', d)?.message, d).to.include('send replies to /reply-queue/stomp-relay.reply.abc');
    }
  });

  it('refuses a reserved x-queue-name on SUBSCRIBE only (on a SEND it is an application header)', () => {
    expect(refusal('SUBSCRIBE', '/topic/t', { 'x-queue-name': 'stomp-relay.s1.abc' })?.code).to.equal('DESTINATION_NOT_ALLOWED');
    expect(refusal('SUBSCRIBE', '/topic/t', { 'x-queue-name': '%73tomp-subscription-x' })?.code).to.equal('DESTINATION_NOT_ALLOWED');
    expect(refusal('SUBSCRIBE', '/topic/t', { 'x-queue-name': 'mine' })).to.equal(undefined);
    expect(refusal('SUBSCRIBE', '/topic/t', { 'x-queue-name': '100%' })).to.equal(undefined);
    expect(refusal('SEND', '/topic/t', { 'x-queue-name': 'stomp-relay.s1.abc' })).to.equal(undefined);
  });

  it('refuses RabbitMQ\'s internal exchanges, and subscriptions to the headers exchanges', () => {
    for (const d of ['/exchange/amq.rabbitmq.trace/#', '/exchange/amq.rabbitmq.log', '/exchange/amq%2Erabbitmq.event/x']) {
      expect(refusal('SUBSCRIBE', d)?.code, d).to.equal('DESTINATION_NOT_ALLOWED');
      expect(refusal('SEND', d)?.code, d).to.equal('DESTINATION_NOT_ALLOWED');
    }
    for (const d of ['/exchange/amq.headers', '/exchange/amq.match/k']) {
      expect(refusal('SUBSCRIBE', d)?.code, d).to.equal('DESTINATION_NOT_ALLOWED');
      expect(refusal('SEND', d), d).to.equal(undefined);
    }
  });

  it('lets through what only looks alike, and everything else', () => {
    for (const d of ['/queue/stomp-relay-x', '/queue/my.stomp-relay.x', '/topic/stomp-relay.x', '/exchange/amq.topic/stomp-relay.x', '/exchange/amq.fanout', '/exchange/amq.rabbitmqx/k', '/exchange/amq.direct/k']) {
      expect(refusal('SUBSCRIBE', d), d).to.equal(undefined);
    }
  });

  it('refuses a destination whose percent-escapes do not decode (nobody can tell what it names)', () => {
    expect(refusal('SEND', '/amq/queue/stomp%2-relay.x')?.code).to.equal('DESTINATION_NOT_ALLOWED');
    expect(percentDecoded('/a%2')).to.equal(undefined);
    expect(percentDecoded('/a%2Fb')).to.equal('/a/b');
    expect(isReservedQueueName('amq.gen-1')).to.equal(true);
    expect(isReservedQueueName('amq.mine')).to.equal(false);
  });
});

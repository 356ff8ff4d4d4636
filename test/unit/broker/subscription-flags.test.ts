import { expect } from 'chai';
import { headers } from '../../../server/codec/frame';
import type { SubscribeRequest } from '../../../server/broker/broker';
import {
  DURABLE_QUEUE_PREFIX, durableQueueName, engineDurableQueue, isExclusiveQueueRequest, resolveDurableTopic, stompBoolean,
} from '../../../server/broker/subscription-flags';
import { isReservedQueueName } from '../../../server/broker/reserved-names';
import { RelayError } from '../../../server/errors';

describe('subscription flags (read as RabbitMQ 3.10 reads them, by both engines)', () => {
  const request = (destination: string, init: Record<string, string>, user: string | null = 'alice', id = 'news'): SubscribeRequest =>
    ({ destination, ack: 'auto', headers: headers(init), subscriber: { session: 's1', user: user ?? undefined, id } });

  it('reads true/True and false/False only; anything else is neither', () => {
    expect(['true', 'True'].map(stompBoolean)).to.deep.equal([true, true]);
    expect(['false', 'False'].map(stompBoolean)).to.deep.equal([false, false]);
    expect(['TRUE', 'FALSE', 'tRuE', 'yes', '1', ''].map(stompBoolean)).to.deep.equal(Array(6).fill('other'));
    expect(stompBoolean(undefined)).to.equal(undefined);
  });

  it('knows which SUBSCRIBEs make RabbitMQ declare an exclusive queue', () => {
    for (const init of [{ exclusive: 'true' }, { durable: 'false' }, { persistent: 'False' }, { durable: 'false', 'auto-delete': 'true', exclusive: 'true' }]) {
      expect(isExclusiveQueueRequest('/queue/q', headers(init)), JSON.stringify(init)).to.equal(true);
    }
    for (const init of [{}, { durable: 'false', exclusive: 'false' }, { exclusive: 'TRUE' }, { durable: 'FALSE' }, { 'auto-delete': 'true' }]) {
      expect(isExclusiveQueueRequest('/queue/q', headers(init)), JSON.stringify(init)).to.equal(false);
    }
    // Only /queue/ declares: the plugin ignores `exclusive` on an existing queue, and topics get their own.
    expect(isExclusiveQueueRequest('/amq/queue/q', headers({ exclusive: 'true' }))).to.equal(false);
    expect(isExclusiveQueueRequest('/topic/t', headers({ durable: 'false' }))).to.equal(false);
  });

  it('names a durable topic subscription after its user, destination and id, under a reserved prefix', () => {
    const name = durableQueueName('alice', '/topic/news', 'news');
    expect(name.startsWith(DURABLE_QUEUE_PREFIX)).to.equal(true);
    expect(isReservedQueueName(name)).to.equal(true);
    expect(durableQueueName('alice', '/topic/news', 'news'), 'deterministic: every instance finds the same queue').to.equal(name);
    expect(durableQueueName('bob', '/topic/news', 'news')).to.not.equal(name);
    expect(durableQueueName('alice', '/topic/other', 'news')).to.not.equal(name);
    expect(durableQueueName('alice', '/topic/news', 'news2')).to.not.equal(name);
    // No separator to forge: the parts are encoded as a JSON array.
    expect(durableQueueName('a","/topic/b', '/topic/c', 'd')).to.not.equal(durableQueueName('a', '/topic/b","/topic/c', 'd'));
    expect(durableQueueName('x'.repeat(10_000), '/topic/t', 'y'.repeat(10_000)).length).to.be.below(255);
  });

  it('gives a durable /topic/ subscription its user\'s queue, and leaves everything else as it is', () => {
    const resolved = resolveDurableTopic(request('/topic/news', { durable: 'true', 'auto-delete': 'false' }));
    expect(resolved.headers['x-queue-name']).to.equal(durableQueueName('alice', '/topic/news', 'news'));
    expect(resolved.headers['auto-delete']).to.equal('false');
    expect(engineDurableQueue(resolved)).to.equal(resolved.headers['x-queue-name']);
    for (const unchanged of [
      request('/topic/news', {}), request('/topic/news', { durable: 'false' }), request('/queue/q', { durable: 'true' }),
      request('/topic/news', { durable: 'true', 'x-queue-name': 'mine' }), request('/exchange/amq.topic/k', { durable: 'true', 'x-queue-name': 'mine' }),
    ]) {
      expect(resolveDurableTopic(unchanged), unchanged.destination).to.equal(unchanged);
      expect(engineDurableQueue(unchanged)).to.equal(undefined);
    }
  });

  it('refuses durable subscriptions it cannot keep per user: anonymous, or on /exchange/ without x-queue-name', () => {
    expect(() => resolveDurableTopic(request('/topic/news', { persistent: 'true' }, null))).to.throw(RelayError, /anonymous/);
    expect(() => resolveDurableTopic({ destination: '/topic/news', ack: 'auto', headers: headers({ durable: 'true' }) })).to.throw(RelayError, /anonymous/);
    expect(() => resolveDurableTopic(request('/exchange/amq.topic/k', { durable: 'true' }))).to.throw(RelayError, /x-queue-name/);
  });
});

import { expect } from 'chai';
import { headers } from '../../../server/codec/frame';
import { messageHeaders, sendHeaders, shareKey, subscribeHeaders } from '../../../server/broker/rabbitmq/subscription-headers';

describe('rabbitmq subscription headers', () => {
  const request = (destination: string, ack: 'auto' | 'client' | 'client-individual' = 'auto', init: Record<string, string> = {}) =>
    ({ destination, ack, headers: headers(init) });

  it('shares auto-ack topic and exchange subscriptions with equal headers, whatever their order', () => {
    const a = shareKey(request('/topic/t', 'auto', { selector: "a = 'b'", 'x-foo': '1' }));
    const b = shareKey(request('/topic/t', 'auto', { 'x-foo': '1', selector: "a = 'b'" }));
    expect(a).to.be.a('string').and.equal(b);
    expect(shareKey(request('/topic/t'))).to.not.equal(a);
    expect(shareKey(request('/exchange/amq.topic/t'))).to.be.a('string');
  });

  it('never shares queues, client acks or durable subscriptions', () => {
    expect(shareKey(request('/queue/q'))).to.equal(undefined);
    expect(shareKey(request('/amq/queue/q'))).to.equal(undefined);
    expect(shareKey(request('/topic/t', 'client-individual'))).to.equal(undefined);
    expect(shareKey(request('/topic/t', 'auto', { durable: 'true' }))).to.equal(undefined);
    expect(shareKey(request('/topic/t', 'auto', { persistent: 'true' }))).to.equal(undefined);
  });

  it('SUBSCRIBE: the engine sets id, destination and ack; client mode becomes client-individual', () => {
    const out = subscribeHeaders(request('/queue/q', 'client', { id: 'evil', receipt: 'r', 'prefetch-count': '5' }), 's7');
    expect({ ...out }).to.deep.equal({ 'prefetch-count': '5', id: 's7', destination: '/queue/q', ack: 'client-individual' });
  });

  it('SUBSCRIBE: client acks always carry a prefetch-count (RabbitMQ keeps the channel\'s last one otherwise)', () => {
    expect(subscribeHeaders(request('/queue/q', 'client-individual'), 's1')['prefetch-count']).to.equal('0');
    expect(subscribeHeaders(request('/queue/q', 'client'), 's1')['prefetch-count']).to.equal('0');
    expect(subscribeHeaders(request('/queue/q', 'auto'), 's1')['prefetch-count']).to.equal(undefined);
    expect(shareKey(request('/topic/t', 'auto', { durable: 'True', 'x-queue-name': 'q' }))).to.equal(undefined);
  });

  it('SEND: drops the client\'s receipt, transaction and content-length, keeps application headers', () => {
    const out = sendHeaders('/topic/t', headers({ receipt: 'r', transaction: 'tx', 'content-length': '3', destination: '/queue/other', 'x-app': 'v' }));
    expect({ ...out }).to.deep.equal({ 'x-app': 'v', destination: '/topic/t' });
  });

  it('MESSAGE: hides the broker connection\'s headers from clients', () => {
    const out = messageHeaders({
      command: 'MESSAGE',
      headers: headers({ subscription: 's1', 'message-id': 'm', ack: 'a', destination: '/topic/t', 'content-length': '1', 'content-type': 'text/plain', redelivered: 'true' }),
      body: Buffer.from('x'),
    });
    expect({ ...out }).to.deep.equal({ 'content-type': 'text/plain', redelivered: 'true' });
  });
});

import { expect } from 'chai';
import { headers } from '../../../server/codec/frame';
import { isWholeNumber } from '../../../server/broker/header-values';
import { assessPublish, assessSubscribe, dependsOnBrokerState, type Assessment } from '../../../server/broker/rabbitmq/request-risk';

describe('rabbitmq request risk', () => {
  const sub = (destination: string, init: Record<string, string> = {}): Assessment =>
    assessSubscribe({ destination, ack: 'auto', headers: headers(init) });
  const send = (destination: string, init: Record<string, string> = {}): Assessment => assessPublish(destination, headers(init));
  const verdict = (a: Assessment) => a.verdict;
  const code = (a: Assessment) => (a.verdict === 'refuse' ? a.error.code : undefined);
  const key = (a: Assessment) => (a.verdict === 'probe' ? a.key : undefined);

  it('lets plain topic and built-in exchange traffic through without a probe', () => {
    expect(verdict(sub('/topic/chat'))).to.equal('safe');
    expect(verdict(sub('/topic/chat', { selector: "a = 'b'", 'prefetch-count': '10', durable: 'false' }))).to.equal('safe');
    expect(verdict(sub('/exchange/amq.topic/chat.*'))).to.equal('safe');
    expect(verdict(send('/topic/chat', { 'content-type': 'text/plain', 'x-app': 'whatever' }))).to.equal('safe');
    expect(verdict(send('/exchange/amq.direct/k'))).to.equal('safe');
    expect(verdict(send('/amq/queue/anything'))).to.equal('safe');
    expect(verdict(send('/reply-queue/amq.gen-abc'))).to.equal('safe');
  });

  it('probes what depends on the broker: queues, /amq/queue/, other exchanges, named or argumented topic queues', () => {
    for (const a of [
      sub('/queue/jobs'), sub('/amq/queue/jobs'), sub('/exchange/mine/k'), sub('/exchange/amq.other/k'),
      sub('/topic/t', { 'x-queue-name': 'q' }), sub('/topic/t', { 'x-message-ttl': '10' }), sub('/topic/t', { durable: 'maybe' }),
      send('/queue/jobs'), send('/exchange/mine/k'),
    ]) expect(verdict(a)).to.equal('probe');
  });

  it('keys a queue by its declaration, so a different declaration is probed again', () => {
    expect(key(send('/queue/jobs', { 'x-app': '1' }))).to.equal(key(send('/queue/jobs')));
    expect(key(send('/queue/jobs', { 'x-max-length': '5' }))).to.not.equal(key(send('/queue/jobs')));
    // A SEND and a SUBSCRIBE that declare the same queue the same way share the verdict.
    expect(key(send('/queue/jobs', { 'auto-delete': 'true' }))).to.equal(key(sub('/queue/jobs', { 'auto-delete': 'true' })));
    expect(key(sub('/queue/jobs', { 'prefetch-count': '3' }))).to.equal(key(sub('/queue/jobs')));
  });

  it('verifies an exchange once for every routing key, SEND and SUBSCRIBE', () => {
    expect(key(send('/exchange/mine/a'))).to.equal(key(send('/exchange/mine/b.c')));
    expect(key(sub('/exchange/mine/z'))).to.equal(key(send('/exchange/mine/a')));
  });

  it('refuses what can never work through shared connections, without a round trip', () => {
    expect(code(sub('/temp-queue/replies'))).to.equal('DESTINATION_NOT_ALLOWED');
    expect(code(send('/temp-queue/replies'))).to.equal('DESTINATION_NOT_ALLOWED');
    expect(code(sub('/reply-queue/x'))).to.equal('DESTINATION_NOT_ALLOWED');
    expect(code(sub('/queue/jobs', { exclusive: 'true' }))).to.equal('DESTINATION_NOT_ALLOWED');
    expect(code(send('/queue/jobs', { exclusive: 'true' }))).to.equal('DESTINATION_NOT_ALLOWED');
    for (const d of ['/nowhere/x', '/queue/', '/topic/', '/exchange/', '/exchange//k', 'topic/x']) {
      expect(code(sub(d)), d).to.equal('DESTINATION_NOT_ALLOWED');
    }
  });

  it('keeps reply queues SEND-only and temporary queues off the pooled connections (reserved names: reserved-names.test.ts)', () => {
    expect(verdict(send('/reply-queue/stomp-relay.reply.abc'))).to.equal('safe');
    expect(verdict(send('/queue/jobs', { 'reply-to': '/reply-queue/stomp-relay.reply.abc' }))).to.equal('probe');
    expect(code(send('/topic/t', { 'reply-to': '/temp-queue/answers' }))).to.equal('INVALID_HEADER');
    expect(code(sub('/reply-queue/stomp-relay.reply.abc'))).to.equal('DESTINATION_NOT_ALLOWED');
  });

  it('reads flags as RabbitMQ does: durable/persistent false on /queue/ means an exclusive queue', () => {
    const transient: Array<Record<string, string>> = [{ durable: 'false' }, { persistent: 'false' }, { durable: 'False' }, { persistent: 'False', 'auto-delete': 'true' }, { exclusive: 'True' }];
    for (const init of transient) {
      expect(code(sub('/queue/q', init)), JSON.stringify(init)).to.equal('DESTINATION_NOT_ALLOWED');
      expect(code(send('/queue/q', init)), JSON.stringify(init)).to.equal('DESTINATION_NOT_ALLOWED');
    }
    expect(verdict(sub('/queue/q', { durable: 'false', exclusive: 'false' }))).to.equal('probe');
    expect(verdict(send('/queue/q', { persistent: 'false', exclusive: 'False' }))).to.equal('probe');
    // /amq/queue/ declares nothing; topics get their own non-exclusive queue.
    expect(verdict(sub('/amq/queue/q', { durable: 'false' }))).to.equal('probe');
    expect(verdict(sub('/topic/t', { durable: 'False' }))).to.equal('safe');
    expect(verdict(send('/topic/t', { persistent: 'false' }))).to.equal('safe');
    // `persistent` on a SEND sets the queue's durability: part of what is verified.
    expect(key(send('/queue/jobs', { persistent: 'true' }))).to.not.equal(key(send('/queue/jobs')));
    // RabbitMQ 3.10 reads no other spelling (FALSE, TRUE): such requests are verified, not sent blind.
    expect(verdict(sub('/queue/q', { durable: 'FALSE' }))).to.equal('probe');
    expect(verdict(sub('/topic/t', { durable: 'TRUE' }))).to.equal('probe');
    expect(verdict(sub('/queue/q', { exclusive: 'TRUE' }))).to.equal('probe');
  });

  it('refuses durable topic subscriptions unless a queue is named (the engines name their users\' first: subscription-flags.ts)', () => {
    for (const d of ['/topic/t', '/exchange/amq.topic/k', '/exchange/mine/k']) {
      expect(code(sub(d, { durable: 'true' })), d).to.equal('DESTINATION_NOT_ALLOWED');
      expect(code(sub(d, { persistent: 'True' })), d).to.equal('DESTINATION_NOT_ALLOWED');
      expect(verdict(sub(d, { durable: 'true', 'x-queue-name': 'mine' })), d).to.equal('probe');
    }
    expect(verdict(send('/topic/t', { persistent: 'true' }))).to.equal('safe');
  });

  it('refuses header values RabbitMQ cannot parse', () => {
    expect(code(send('/topic/t', { priority: '256' }))).to.equal('INVALID_HEADER');
    expect(code(send('/topic/t', { priority: '-1' }))).to.equal('INVALID_HEADER');
    expect(code(send('/topic/t', { expiration: '1e3' }))).to.equal('INVALID_HEADER');
    expect(code(sub('/queue/q', { 'prefetch-count': 'ten' }))).to.equal('INVALID_HEADER');
    expect(verdict(send('/topic/t', { priority: '9', expiration: '60000' }))).to.equal('safe');
  });

  it('passes quorum and stream declarations through to the probe, with client acks and a prefetch-count for streams', () => {
    const as = (ack: 'auto' | 'client' | 'client-individual', destination: string, init: Record<string, string>): Assessment =>
      assessSubscribe({ destination, ack, headers: headers(init) });
    expect(verdict(as('client', '/queue/q1', { 'x-queue-type': 'quorum', durable: 'true' }))).to.equal('probe');
    expect(verdict(as('auto', '/queue/q1', { 'x-queue-type': 'quorum' }))).to.equal('probe');
    expect(verdict(send('/queue/q1', { 'x-queue-type': 'quorum' }))).to.equal('probe');
    expect(verdict(as('client', '/queue/s1', { 'x-queue-type': 'stream', 'prefetch-count': '10', 'x-stream-offset': 'first' }))).to.equal('probe');
    expect(verdict(as('client-individual', '/amq/queue/s1', { 'prefetch-count': '1', 'x-stream-offset': 'offset=42' }))).to.equal('probe');
  });

  it('refuses stream consumers RabbitMQ would refuse by closing the connection: auto acks, no prefetch-count', () => {
    const as = (ack: 'auto' | 'client' | 'client-individual', destination: string, init: Record<string, string>): Assessment =>
      assessSubscribe({ destination, ack, headers: headers(init) });
    const refusal = (a: Assessment) => (a.verdict === 'refuse' ? `${a.error.code} ${a.error.message}` : a.verdict);
    // Named a stream by its declaration (/queue/ + x-queue-type) or by a stream offset (any queue).
    expect(refusal(as('auto', '/queue/s1', { 'x-queue-type': 'stream', 'prefetch-count': '10' }))).to.match(/^INVALID_HEADER .*ack.*client/);
    expect(refusal(as('auto', '/amq/queue/s1', { 'x-stream-offset': 'first' }))).to.match(/^INVALID_HEADER .*ack.*client/);
    expect(refusal(as('client', '/queue/s1', { 'x-queue-type': 'stream' }))).to.match(/^INVALID_HEADER .*prefetch-count.*1 or more/);
    expect(refusal(as('client-individual', '/queue/s1', { 'x-queue-type': 'stream', 'prefetch-count': '0' }))).to.match(/^INVALID_HEADER .*prefetch-count/);
    expect(refusal(as('client', '/amq/queue/s1', { 'x-stream-offset': 'next' }))).to.match(/^INVALID_HEADER .*prefetch-count/);
  });

  it('reads x-stream-offset as RabbitMQ does, refusing values it would crash on or ignore', () => {
    const offset = (value: string): Assessment =>
      assessSubscribe({ destination: '/amq/queue/s1', ack: 'client', headers: headers({ 'prefetch-count': '5', 'x-stream-offset': value }) });
    for (const value of ['first', 'last', 'next', 'offset=0', 'offset=42', 'timestamp=1700000000']) expect(verdict(offset(value)), value).to.equal('probe');
    for (const value of ['offset=abc', 'offset=-1', 'timestamp=', 'timestamp=1.5', '42', '10m', 'First']) {
      expect(code(offset(value)), value).to.equal('INVALID_HEADER');
    }
  });

  it('isWholeNumber takes decimal digits only, up to a bound', () => {
    expect(isWholeNumber('0', 5)).to.equal(true);
    expect(isWholeNumber('5', 5)).to.equal(true);
    expect(isWholeNumber('6', 5)).to.equal(false);
    for (const bad of ['', ' 1', '1 ', '+1', '0x1', '1.0', '9'.repeat(17)]) expect(isWholeNumber(bad, Infinity), bad).to.equal(false);
  });
});

describe('dependsOnBrokerState (which restored subscriptions are verified again after an outage)', () => {
  const request = (destination: string) => ({ destination, ack: 'auto' as const, headers: headers() });

  it('is true for what must already exist: /amq/queue/ and non-built-in exchanges', () => {
    expect(dependsOnBrokerState(request('/amq/queue/orders'))).to.equal(true);
    expect(dependsOnBrokerState(request('/exchange/billing/invoice.*'))).to.equal(true);
  });

  it('is false for what the subscription declares itself: /queue/, /topic/ and built-in exchanges', () => {
    expect(dependsOnBrokerState(request('/queue/jobs'))).to.equal(false);
    expect(dependsOnBrokerState(request('/topic/news'))).to.equal(false);
    expect(dependsOnBrokerState(request('/exchange/amq.direct/stomp-relay.user.ann'))).to.equal(false);
  });

  it('is true for /queue/ too on a cluster, where a classic queue goes down with its node', () => {
    expect(dependsOnBrokerState(request('/queue/jobs'), true)).to.equal(true);
    expect(dependsOnBrokerState(request('/topic/news'), true)).to.equal(false);
  });
});

import { expect } from 'chai';
import type { ConsumeMessage } from 'amqplib';
import { TokenIssuer, parseToken, partitionOf, tokenTime } from '../../../server/broker/rabbitmq/amqp/history-token';
import { HISTORY_DESTINATION_HEADER, HISTORY_TOKEN_HEADER, collect, type ReadEntry, type ScanRequest } from '../../../server/broker/rabbitmq/amqp/stream-scan';

describe('RabbitMQ history tokens and partitions', () => {
  it('puts a destination in the same partition every time, and spreads destinations over all of them', () => {
    expect(partitionOf('/exchange/amq.direct/stomp-relay.user.alice.x', 4)).to.equal(partitionOf('/exchange/amq.direct/stomp-relay.user.alice.x', 4));
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) seen.add(partitionOf(`/exchange/amq.direct/stomp-relay.user.u${i}.x`, 4));
    expect([...seen].sort()).to.deep.equal([0, 1, 2, 3]);
    for (let i = 0; i < 50; i++) expect(partitionOf(`d${i}`, 7)).to.be.within(0, 6);
  });

  it('issues unique tokens that say their partition and time, and reads them back', () => {
    const issuer = new TokenIssuer(4);
    const a = issuer.next(2, 1_700_000_000_000);
    const b = issuer.next(2, 1_700_000_000_000);
    expect(a).to.not.equal(b);
    expect(parseToken(a, 4, 1_700_000_001_000, 5000)).to.deep.equal({ partitions: 4, partition: 2, at: 1_700_000_000_000 });
    expect(tokenTime(b)).to.equal(1_700_000_000_000);
  });

  it('refuses tokens that are not ours: malformed, another partition count, from the future', () => {
    const token = new TokenIssuer(4).next(1, 1_000_000);
    expect(parseToken(token, 8, 1_000_000, 5000), 'another partition count').to.equal(undefined);
    expect(parseToken(token, 4, 1_000_000 - 10_000, 5000), 'from the future').to.equal(undefined);
    for (const bad of ['', 'x', 'r1.4.0.zz', 'r2.4.0.a.deadbeef.1', 'r1.4.9.a.deadbeef.1', 'r1.4.0.a.DEADBEEF.1', `r1.4.0.a.deadbeef.${'1'.repeat(60)}`]) {
      expect(parseToken(bad, 4, 1_000_000, 5000), bad).to.equal(undefined);
    }
  });
});

describe('RabbitMQ history: picking replays out of what a reader read (collect)', () => {
  const issuer = new TokenIssuer(1);
  let clock = 1_000_000;
  function entry(destination: string | undefined, body = ''): ReadEntry {
    const token = issuer.next(0, clock++);
    const headers: Record<string, string> = { [HISTORY_TOKEN_HEADER]: token, n: body };
    if (destination !== undefined) headers[HISTORY_DESTINATION_HEADER] = destination;
    const msg = { content: Buffer.from(body), fields: { exchange: '', routingKey: 'stomp-relay.history.0' }, properties: { headers } } as unknown as ConsumeMessage;
    return { token, destination, msg };
  }
  function request(destination: string, token: string | undefined, after = 0): ScanRequest {
    return { destination, token, after, expired: false, found: false, overflow: false, messages: [] };
  }
  const bodies = (r: ScanRequest) => r.messages.map((m) => m.body.toString());

  it('gives each request what its destination got after its token, in order, without the relay headers', () => {
    const entries = [entry('/a', 'a0'), entry('/b', 'b0'), entry('/a', 'a1'), entry(undefined), entry('/a', 'a2')];
    const fromA0 = request('/a', entries[0].token);
    const fromB0 = request('/b', entries[1].token);
    collect(entries, [fromA0, fromB0], 10);
    expect(bodies(fromA0)).to.deep.equal(['a1', 'a2']);
    expect(fromA0.found).to.equal(true);
    expect(bodies(fromB0)).to.deep.equal([]);
    expect(fromA0.messages[0].headers).to.include({ n: 'a1', 'resume-token': entries[2].token });
    expect(fromA0.messages[0].headers).to.not.have.any.keys(HISTORY_TOKEN_HEADER, HISTORY_DESTINATION_HEADER);
  });

  it('starts after a token of another destination in the same stream (a fence, say)', () => {
    const entries = [entry('/a', 'a0'), entry(undefined), entry('/a', 'a1')];
    const fromFence = request('/a', entries[1].token);
    collect(entries, [fromFence], 10);
    expect(bodies(fromFence)).to.deep.equal(['a1']);
  });

  it('keeps the newest messages and says it overflowed beyond twice the bound', () => {
    const entries = [entry('/a', 'start'), ...Array.from({ length: 25 }, (_, i) => entry('/a', `m${i}`))];
    const r = request('/a', entries[0].token);
    collect(entries, [r], 5);
    expect(r.overflow).to.equal(true);
    expect(bodies(r).slice(-5)).to.deep.equal(['m20', 'm21', 'm22', 'm23', 'm24']);
  });

  it('a token never seen: not found, with what came after its time', () => {
    const entries = [entry('/a', 'old'), entry('/a', 'new')];
    const unseen = request('/a', 'r1.1.0.zz.deadbeef.1', tokenTime(entries[0].token)!);
    collect(entries, [unseen], 10);
    expect(unseen.found).to.equal(false);
    expect(bodies(unseen)).to.deep.equal(['new']);
  });

  it('collects nothing for a request without a valid token', () => {
    const entries = [entry('/a', 'x')];
    const invalid = request('/a', undefined);
    collect(entries, [invalid], 10);
    expect(invalid.messages).to.deep.equal([]);
  });
});

import { expect } from 'chai';
import { BROKER_DESTINATION_PREFIXES, isTempQueue, parseDestination, underPrefix } from '../../../server/broker/destinations';
import { routeDestination } from '../../../server/broker/memory/destination';

describe('destinations (one reading of the prefixes for both engines and the session)', () => {
  it('splits a destination into its prefix kind and the rest', () => {
    expect(parseDestination('/topic/a.b')).to.deep.equal({ kind: 'topic', name: 'a.b' });
    expect(parseDestination('/queue/q')).to.deep.equal({ kind: 'queue', name: 'q' });
    expect(parseDestination('/amq/queue/q')).to.deep.equal({ kind: 'amq-queue', name: 'q' });
    expect(parseDestination('/reply-queue/r')).to.deep.equal({ kind: 'reply-queue', name: 'r' });
    expect(parseDestination('/temp-queue/t')).to.deep.equal({ kind: 'temp-queue', name: 't' });
    expect(parseDestination('/exchange/amq.topic/k.x')).to.deep.equal({ kind: 'exchange', name: 'amq.topic/k.x', exchange: 'amq.topic' });
    expect(parseDestination('/exchange/ex')).to.deep.equal({ kind: 'exchange', name: 'ex', exchange: 'ex' });
    expect(parseDestination('/queue/')).to.deep.equal({ kind: 'queue', name: '' });
    expect(parseDestination('/other/x')).to.deep.equal({ kind: 'unknown', name: '/other/x' });
  });

  it('serves the default relay prefixes, temporary and reply queues included', () => {
    expect(BROKER_DESTINATION_PREFIXES).to.deep.equal(['/topic/', '/queue/', '/exchange/', '/amq/queue/', '/temp-queue/', '/reply-queue/']);
    expect(isTempQueue('/temp-queue/x')).to.equal(true);
    expect(isTempQueue('/queue/temp-queue/x')).to.equal(false);
    expect(underPrefix('/topic/x', ['/queue/', '/topic/'])).to.equal(true);
    expect(underPrefix('/topic/', ['/topic/'])).to.equal(false);
  });

  it('keeps the embedded broker\'s reading of names on top of it', () => {
    expect(routeDestination('/topic/a.*')).to.deep.equal({ kind: 'topic', key: '/topic/a.*' });
    expect(routeDestination('/amq/queue/q')).to.deep.equal({ kind: 'queue', name: 'q' });
    expect(routeDestination('/reply-queue/r')).to.deep.equal({ kind: 'reply', name: 'r' });
    expect(routeDestination('/exchange/ex')).to.deep.equal({ kind: 'topic', key: '/exchange/ex' });
    expect(routeDestination('/exchange/ex/')).to.deep.equal({ kind: 'topic', key: '/exchange/ex/' });
    expect(routeDestination('/exchange/ex/k')).to.deep.equal({ kind: 'topic', key: '/exchange/ex/k' });
    for (const refused of ['/exchange/', '/exchange//k', '/exchange/ex/k/z', '/topic/', '/topic/a/b', '/queue/a/b', '/temp-queue/t', '/other/x']) {
      expect(routeDestination(refused), refused).to.equal(undefined);
    }
  });
});

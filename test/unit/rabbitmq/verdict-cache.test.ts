import { expect } from 'chai';
import { Errors, relayError } from '../../../server/errors';
import { VerdictCache } from '../../../server/broker/rabbitmq/verdict-cache';

describe('rabbitmq VerdictCache', () => {
  let now = 0;
  const cache = (maxEntries = 3) => new VerdictCache({ okTtlMs: 1000, refusedTtlMs: 100, maxEntries, now: () => now });
  beforeEach(() => { now = 0; });

  it('remembers verified and refused requests for their own TTLs', () => {
    const c = cache();
    const refusal = relayError(Errors.DESTINATION_NOT_ALLOWED, 'x');
    c.set('ok', null);
    c.set('no', refusal);
    now = 99;
    expect(c.get('ok')).to.equal(null);
    expect(c.get('no')).to.equal(refusal);
    now = 100;
    expect(c.get('no')).to.equal(undefined);
    expect(c.get('ok')).to.equal(null);
    now = 1000;
    expect(c.get('ok')).to.equal(undefined);
    expect(c.size).to.equal(0);
  });

  it('holds at most maxEntries, evicting the least recently verified', () => {
    const c = cache(3);
    for (const key of ['a', 'b', 'c']) c.set(key, null);
    c.set('a', null); // verified again: now the newest
    c.set('d', null);
    expect(c.size).to.equal(3);
    expect(c.get('b')).to.equal(undefined);
    expect(c.get('a')).to.equal(null);
    expect(c.get('d')).to.equal(null);
  });

  it('forgets a key on request', () => {
    const c = cache();
    c.set('a', null);
    c.delete('a');
    expect(c.get('a')).to.equal(undefined);
  });
});

import { expect } from 'chai';
import { DestinationPattern } from '../../server/destination-pattern';

const match = (pattern: string, destination: string, wildcards = false) => {
  const params = DestinationPattern.parse(pattern).match(destination, { wildcards });
  return params === null ? null : { ...params };
};

describe('destination patterns', () => {
  it('a literal matches only itself', () => {
    expect(match('/topic/news', '/topic/news')).to.deep.equal({});
    expect(match('/topic/news', '/topic/news2')).to.equal(null);
    expect(match('/topic/a.b', '/topic/aXb'), 'a "." is not a regex dot').to.equal(null);
  });

  it('{name} binds one or more characters other than "/", the fewest that let the rest match', () => {
    expect(match('/chat/{room}', '/chat/lobby')).to.deep.equal({ room: 'lobby' });
    expect(match('/chat/{room}', '/chat/a.b')).to.deep.equal({ room: 'a.b' });
    expect(match('/chat/{room}', '/chat/a/b')).to.equal(null);
    expect(match('/chat/{room}', '/chat/')).to.equal(null);
    expect(match('/user/{user}/queue/#', '/user/alice.smith/queue/inbox')).to.deep.equal({ user: 'alice.smith' });
    expect(match('/topic/tenant.{tenant}.#', '/topic/tenant.acme.news.eu')).to.deep.equal({ tenant: 'acme' });
    expect(match('/a/{x}-{y}', '/a/1-2-3')).to.deep.equal({ x: '1', y: '2-3' });
  });

  it('* is one word; # is any number of words, none included, with the separator before it', () => {
    expect(match('/topic/orders.*', '/topic/orders.eu')).to.deep.equal({});
    expect(match('/topic/orders.*', '/topic/orders.eu.north')).to.equal(null);
    expect(match('/topic/orders.*', '/topic/orders.')).to.equal(null);
    for (const d of ['/queue/admin', '/queue/admin.jobs', '/queue/admin.jobs.nightly']) expect(match('/queue/admin.#', d), d).to.deep.equal({});
    expect(match('/queue/admin.#', '/queue/administrator')).to.equal(null);
    expect(match('/topic/#.news', '/topic/news')).to.deep.equal({});
    expect(match('/topic/#.news', '/topic/eu.north.news')).to.deep.equal({});
    expect(match('/topic/#.news', '/topic/xnews')).to.equal(null);
    expect(match('/topic/a.#.z', '/topic/a.z')).to.deep.equal({});
    expect(match('/topic/a.#.z', '/topic/a.b.c.z')).to.deep.equal({});
    expect(match('/app/#', '/app/chat/7')).to.deep.equal({});
  });

  it('with wildcards, a destination matches only where the pattern covers all its wildcards could mean', () => {
    expect(match('/topic/orders.*', '/topic/orders.*', true)).to.deep.equal({});
    expect(match('/topic/orders.*', '/topic/orders.#', true)).to.equal(null);
    expect(match('/topic/orders.#', '/topic/orders.#', true)).to.deep.equal({});
    expect(match('/topic/tenant.{t}.#', '/topic/tenant.*.news', true)).to.equal(null);
    expect(match('/topic/tenant.{t}.#', '/topic/tenant.#', true)).to.equal(null);
    expect(match('/topic/tenant.{t}.#', '/topic/tenant.acme.*', true)).to.deep.equal({ t: 'acme' });
    expect(match('/topic/tenant.{t}.#', '/topic/tenant.*.news', false), 'without the option, * is a character').to.deep.equal({ t: '*' });
  });

  it('refuses malformed patterns, saying why', () => {
    const why = (pattern: string) => { try { DestinationPattern.parse(pattern); return 'parsed'; } catch (err) { return (err as Error).message; } };
    expect(why('topic/x')).to.match(/must start with "\/"/);
    expect(why('/chat/{room')).to.match(/not closed/);
    expect(why('/chat/room}')).to.match(/closes nothing/);
    expect(why('/chat/{1room}')).to.match(/not a variable name/);
    expect(why('/chat/{}')).to.match(/not a variable name/);
    expect(why('/a/{x}/{x}')).to.match(/appears twice/);
    expect(why('/a/{x}{y}')).to.match(/follows another variable/);
    expect(why('/topic/orders*')).to.match(/whole word/);
    expect(why('/topic/#x')).to.match(/whole word/);
  });
});

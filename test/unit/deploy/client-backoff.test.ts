import { expect } from 'chai';
import { backoffDelay, DEFAULT_RECONNECT, validateReconnect } from '../../../client/src/backoff';
import { resolveBase, sockJsUrl, webSocketUrl } from '../../../client/src/endpoints';

describe('browser client: reconnect backoff', () => {
  const bounds = { initialMs: 100, maxMs: 1000 };

  it('reconnects at once for the first attempt and then within a ceiling that doubles up to maxMs', () => {
    const almostOne = () => 0.999999;
    expect(backoffDelay(0, bounds, almostOne)).to.equal(0);
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, bounds, almostOne))).to.deep.equal([99, 199, 399, 799, 999, 999]);
  });

  it('spreads clients over the whole window (full jitter), down to zero', () => {
    expect(backoffDelay(4, bounds, () => 0)).to.equal(0);
    expect(backoffDelay(4, bounds, () => 0.5)).to.equal(400);
  });

  it('stays finite and capped for clients that failed thousands of times', () => {
    const d = backoffDelay(5000, DEFAULT_RECONNECT, () => 0.999999);
    expect(d).to.be.at.most(DEFAULT_RECONNECT.maxMs).and.at.least(DEFAULT_RECONNECT.maxMs - 1);
  });

  it('rejects bounds that make no sense, with the values in the message', () => {
    expect(() => validateReconnect({ initialMs: 0 })).to.throw(RangeError, /initialMs=0/);
    expect(() => validateReconnect({ initialMs: 500, maxMs: 100 })).to.throw(RangeError, /maxMs=100/);
    expect(validateReconnect({ maxMs: 5000 })).to.deep.equal({ initialMs: DEFAULT_RECONNECT.initialMs, maxMs: 5000 });
  });
});

describe('browser client: endpoint URLs', () => {
  it("resolves '' and paths against the page origin, and keeps absolute http(s) URLs", () => {
    expect(resolveBase('', 'https://app.example.com')).to.equal('https://app.example.com');
    expect(resolveBase('/relay/', 'https://app.example.com')).to.equal('https://app.example.com/relay');
    expect(resolveBase('http://127.0.0.1:8080/', undefined)).to.equal('http://127.0.0.1:8080');
    expect(() => resolveBase('', undefined)).to.throw(TypeError, /no page origin/);
    expect(() => resolveBase('ws://x', 'https://a')).to.throw(TypeError, /http\(s\)/);
  });

  it('maps http to ws and https to wss for /ws, and puts the token on the SockJS URL encoded', () => {
    expect(webSocketUrl('http://h:1')).to.equal('ws://h:1/ws');
    expect(webSocketUrl('https://h')).to.equal('wss://h/ws');
    expect(sockJsUrl('https://h', undefined)).to.equal('https://h/sockjs');
    expect(sockJsUrl('https://h', 'a.b c&d')).to.equal('https://h/sockjs?access_token=a.b%20c%26d');
  });
});

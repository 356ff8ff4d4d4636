import { expect } from 'chai';
import { bindingFor, presentedBy, satisfies } from '../../../server/transport/sockjs-credential';

/** Which later requests may use a SockJS session, given the request that opened it. */
describe('transport: SockJS session binding', () => {
  const open = (url: string, headers: Record<string, string> = {}) => bindingFor(presentedBy(url, headers));
  const may = (binding: ReturnType<typeof open>, url: string, headers: Record<string, string> = {}) => satisfies(presentedBy(url, headers), binding);

  it('binds to the access_token query parameter, whatever else the query holds', () => {
    const b = open('/sockjs/1/s/xhr?access_token=T1');
    expect(b.kind).to.equal('token');
    expect(may(b, '/sockjs/1/s/xhr_send?access_token=T1')).to.equal(true);
    expect(may(b, '/sockjs/1/s/xhr?t=123&access_token=T1')).to.equal(true);
    expect(may(b, '/sockjs/1/s/xhr')).to.equal(false);
    expect(may(b, '/sockjs/1/s/xhr?access_token=T2')).to.equal(false);
    expect(may(b, '/sockjs/1/s/xhr?access_token=T1&access_token=T2'), 'a second token is another credential').to.equal(false);
    expect(may(b, '/sockjs/1/s/xhr?access_token=T1', { authorization: 'Bearer T1' }), 'nor is a token plus a header').to.equal(false);
  });

  it('binds to the Authorization header', () => {
    const b = open('/sockjs/1/s/xhr', { authorization: 'Bearer A' });
    expect(may(b, '/sockjs/1/s/xhr', { authorization: 'Bearer A' })).to.equal(true);
    expect(may(b, '/sockjs/1/s/xhr', { authorization: 'Bearer B' })).to.equal(false);
    expect(may(b, '/sockjs/1/s/xhr?access_token=A')).to.equal(false);
  });

  it('prefers a token over cookies, so cookies that change do not matter then', () => {
    const b = open('/sockjs/1/s/xhr?access_token=T', { cookie: 'a=1' });
    expect(may(b, '/sockjs/1/s/xhr?access_token=T', { cookie: 'a=2; b=3' })).to.equal(true);
  });

  it('without a token, binds to every cookie of the opening request (new ones may be added)', () => {
    const b = open('/sockjs/1/s/xhr', { cookie: 'sid=abc; theme=dark' });
    expect(b.kind).to.equal('cookies');
    expect(may(b, '/sockjs/1/s/xhr', { cookie: 'theme=dark; sid=abc' })).to.equal(true);
    expect(may(b, '/sockjs/1/s/xhr', { cookie: 'sid=abc; theme=dark; seen=1' })).to.equal(true);
    expect(may(b, '/sockjs/1/s/xhr', { cookie: 'sid=abc' })).to.equal(false);
    expect(may(b, '/sockjs/1/s/xhr', { cookie: 'sid=abd; theme=dark' })).to.equal(false);
    expect(may(b, '/sockjs/1/s/xhr')).to.equal(false);
  });

  it('binds to nothing when the opening request carried nothing (the id alone protects the session)', () => {
    const b = open('/sockjs/1/s/xhr');
    expect(b.kind).to.equal('none');
    expect(may(b, '/sockjs/1/s/xhr?access_token=anything', { cookie: 'x=1' })).to.equal(true);
  });
});

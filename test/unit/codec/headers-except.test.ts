import { expect } from 'chai';
import { headers, headersExcept } from '../../../server/codec/frame';

describe('headersExcept (the one "copy headers except a set")', () => {
  const source = headers({ destination: '/topic/a', receipt: 'r1', 'x-app': '1', 'X-Stomp-Relay-Target': 's', 'content-type': 'text/plain' });

  it('leaves out the names of a set and keeps the rest, in a null-prototype copy', () => {
    const out = headersExcept(source, new Set(['destination', 'receipt']));
    expect(Object.getPrototypeOf(out)).to.equal(null);
    expect({ ...out }).to.deep.equal({ 'x-app': '1', 'X-Stomp-Relay-Target': 's', 'content-type': 'text/plain' });
    expect(source.destination, 'the source is not changed').to.equal('/topic/a');
  });

  it('takes several sets and tests, then sets the extra headers over the copy', () => {
    const out = headersExcept(source, [new Set(['destination']), (name) => name.toLowerCase().startsWith('x-stomp-relay-')], headers({ receipt: 'r2', id: '7' }));
    expect({ ...out }).to.deep.equal({ receipt: 'r2', 'x-app': '1', 'content-type': 'text/plain', id: '7' });
  });
});

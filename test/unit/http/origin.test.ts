/**
 * The Origin allowlist matches whole origins (scheme, host and port), never a prefix or a part of
 * one: `http://good.example.evil.com` is another site. Scheme and host compare case-insensitively
 * (browsers send them lower-case; an operator may not write them so), a trailing `/` in the
 * configured entry is forgiven, and `*` alone allows any Origin.
 */
import { expect } from 'chai';
import type { IncomingMessage } from 'node:http';
import { OriginPolicy } from '../../../server/http/origin';

const from = (origin?: string) => ({ headers: origin === undefined ? {} : { origin } }) as IncomingMessage;

describe('http: OriginPolicy', () => {
  const policy = new OriginPolicy(['http://good.example', 'https://app.example:8443']);

  it('allows a configured origin exactly', () => {
    expect(policy.allows(from('http://good.example'))).to.equal(true);
    expect(policy.allows(from('https://app.example:8443'))).to.equal(true);
  });

  it('refuses origins that merely start or end like an allowed one', () => {
    for (const origin of [
      'http://good.example.evil.com',
      'http://good.examplex',
      'http://good.example:8080',
      'http://good.example@evil.com',
      'http://evil.com/http://good.example',
      'http://notgood.example',
      'http://sub.good.example',
      'http://good.exampl',
      'http://good',
    ]) expect(policy.allows(from(origin)), origin).to.equal(false);
  });

  it('tells ports and schemes apart', () => {
    for (const origin of ['https://good.example', 'ws://good.example', 'https://app.example', 'https://app.example:443', 'https://app.example:84', 'http://app.example:8443']) {
      expect(policy.allows(from(origin)), origin).to.equal(false);
    }
  });

  it('compares scheme and host case-insensitively, both in the list and in the header', () => {
    expect(policy.allows(from('HTTP://Good.Example'))).to.equal(true);
    expect(new OriginPolicy(['https://App.Example']).allows(from('https://app.example'))).to.equal(true);
  });

  it('forgives a trailing slash in a configured entry', () => {
    const slashed = new OriginPolicy(['http://good.example/']);
    expect(slashed.allows(from('http://good.example'))).to.equal(true);
    expect(slashed.allows(from('http://good.example.evil.com'))).to.equal(false);
  });

  it('refuses the opaque origin `null` (sandboxed frames, file: pages) unless it is listed', () => {
    expect(policy.allows(from('null'))).to.equal(false);
  });

  it('with `*` allows any Origin; `*` as part of an entry is no wildcard', () => {
    expect(new OriginPolicy(['*']).allows(from('http://anything.example:1234'))).to.equal(true);
    expect(new OriginPolicy(['http://good.example', '*']).allows(from('null'))).to.equal(true);
    const partial = new OriginPolicy(['http://*.good.example', 'http://good.example*']);
    for (const origin of ['http://a.good.example', 'http://good.example.evil.com', 'http://good.examplex']) {
      expect(partial.allows(from(origin)), origin).to.equal(false);
    }
  });

  it('lets a request without Origin through (not a browser: no ambient credentials)', () => {
    expect(policy.allows(from(undefined))).to.equal(true);
  });
});

/**
 * Scope matching for the HTTP API: a scope is a whole word of the token's `scope` string (OAuth 2:
 * space-separated) or an entry of its `scp` array, never a substring of another scope.
 */
import { expect } from 'chai';
import { hasScope } from '../../../server/auth/jwt';

describe('auth: hasScope', () => {
  it('grants a scope named as a word of `scope`', () => {
    expect(hasScope({ scope: 'push' }, 'push')).to.equal(true);
    expect(hasScope({ scope: 'read push write' }, 'push')).to.equal(true);
  });

  it('does not grant `push` to `nopush`, `pushx`, `push:read` or `pushers`', () => {
    for (const scope of ['nopush', 'pushx', 'push:read', 'pushers', 'read nopush', 'no-push admin']) {
      expect(hasScope({ scope }, 'push'), scope).to.equal(false);
    }
  });

  it('splits on any whitespace, so tabs and doubled spaces do not hide a scope', () => {
    expect(hasScope({ scope: 'read  push' }, 'push')).to.equal(true);
    expect(hasScope({ scope: 'read\tpush' }, 'push')).to.equal(true);
    expect(hasScope({ scope: ' push ' }, 'push')).to.equal(true);
  });

  it('grants an entry of an `scp` array, and no substring of one', () => {
    expect(hasScope({ scp: ['read', 'push'] }, 'push')).to.equal(true);
    expect(hasScope({ scp: ['nopush'] }, 'push')).to.equal(false);
    expect(hasScope({ scp: 'read push' }, 'push')).to.equal(true);
  });

  it('grants nothing without a scope claim, or with one of another type', () => {
    expect(hasScope({}, 'push')).to.equal(false);
    expect(hasScope({ scope: 7 }, 'push')).to.equal(false);
    expect(hasScope({ scope: '' }, '')).to.equal(false);
  });
});

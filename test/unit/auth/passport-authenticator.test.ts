import { expect } from 'chai';
import passport from 'passport';
import { PassportAuthenticator } from '../../../server/auth/passport-authenticator';
import { headers } from '../../../server/codec/frame';

type StrategyThis = { success(u: unknown): void; fail(c?: unknown): void; redirect(url: string): void; error(e: Error): void };

function authenticatorWith(behaviour: (this: StrategyThis) => void) {
  const pp = new passport.Passport();
  pp.use('test', { name: 'test', authenticate(this: StrategyThis) { behaviour.call(this); } } as unknown as passport.Strategy);
  return new PassportAuthenticator({ passport: pp, strategy: 'test' });
}

const request = { connectHeaders: headers(), handshake: { remoteAddress: '127.0.0.1', url: '/ws', headers: {} } };

async function outcome(auth: PassportAuthenticator): Promise<string> {
  return auth.authenticate(request).then((p) => `user ${p?.name}`, (e: { code?: string }) => `error ${e.code}`);
}

describe('PassportAuthenticator (a host application\'s passport strategy for STOMP sessions)', () => {
  it('names the session after the user the strategy authenticated', async () => {
    expect(await outcome(authenticatorWith(function () { this.success({ username: 'hana' }); }))).to.equal('user hana');
  });

  it('refuses with AUTHENTICATION_FAILED when the strategy fails, errors or redirects (never hangs)', async () => {
    expect(await outcome(authenticatorWith(function () { this.fail({ message: 'no cookie' }); }))).to.equal('error AUTHENTICATION_FAILED');
    expect(await outcome(authenticatorWith(function () { this.error(new Error('db down')); }))).to.equal('error AUTHENTICATION_FAILED');
    expect(await outcome(authenticatorWith(function () { this.redirect('/login'); }))).to.equal('error AUTHENTICATION_FAILED');
  });

  it('refuses a user object it cannot take a name from', async () => {
    expect(await outcome(authenticatorWith(function () { this.success({ roles: ['admin'] }); }))).to.equal('error AUTHENTICATION_FAILED');
  });
});

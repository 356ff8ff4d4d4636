import { expect } from 'chai';
import passport from 'passport';
import { PassportAuthenticator } from '../../../server/auth/passport-authenticator';
import { headers } from '../../../server/codec/frame';

type StrategyThis = { success(u: unknown): void; fail(c?: unknown): void; redirect(url: string): void; error(e: Error): void; pass(): void };

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

  it('runs its middleware in order on the handshake request before the strategy, which sees what they left', async () => {
    const pp = new passport.Passport();
    pp.use('test', {
      name: 'test',
      authenticate(this: StrategyThis, req: { steps?: string[] }) { this.success({ username: (req.steps ?? []).join('+') }); },
    } as unknown as passport.Strategy);
    const step = (name: string) => (req: import('node:http').IncomingMessage, _res: unknown, next: (err?: unknown) => void) => {
      const r = req as { steps?: string[] };
      (r.steps ??= []).push(name);
      setImmediate(next);
    };
    const auth = new PassportAuthenticator({ passport: pp, strategy: 'test', middleware: [step('session'), step('other')] });
    expect(await outcome(auth)).to.equal('user session+other');
  });

  it('refuses with AUTHENTICATION_FAILED when a middleware passes an error on', async () => {
    const pp = new passport.Passport();
    pp.use('test', { name: 'test', authenticate(this: StrategyThis) { this.success({ username: 'hana' }); } } as unknown as passport.Strategy);
    const auth = new PassportAuthenticator({
      passport: pp, strategy: 'test',
      middleware: [(_req, _res, next) => next(new Error('session store down'))],
    });
    expect(await outcome(auth)).to.equal('error AUTHENTICATION_FAILED');
  });

  it('takes the user a passing strategy left on the request (passport\'s session strategy), and refuses when it left none', async () => {
    const passing = (user: unknown) => {
      const pp = new passport.Passport();
      pp.use('test', {
        name: 'test',
        authenticate(this: StrategyThis, req: { user?: unknown }) { if (user !== undefined) req.user = user; this.pass(); },
      } as unknown as passport.Strategy);
      return new PassportAuthenticator({ passport: pp, strategy: 'test' });
    };
    expect(await outcome(passing({ name: 'ines' }))).to.equal('user ines');
    expect(await outcome(passing(undefined))).to.equal('error AUTHENTICATION_FAILED');
  });
});

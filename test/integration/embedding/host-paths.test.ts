/**
 * What an embedded relay claims of the host application: with `httpPrefix` its HTTP routes live
 * under that path and leave the host's own `/users/:user` alone; without it they are where the CLI
 * serves them (the documented default). And an embedded relay without auth warns as the CLI does.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import express from 'express';
import { createRelay, type CreateRelayOptions, type Relay } from '../../../server/relay';
import { silentLogger } from '../../../server/observability/logger';
import { PassportAuthenticator } from '../../../server/auth/passport-authenticator';
import { captureLogs } from '../../harness/log-capture';
import passport from 'passport';

interface Host {
  relay: Relay;
  base: string;
  close(): Promise<void>;
}

/** A host app that mounts the relay first and its own `GET /users/:user` after it. */
async function host(options: CreateRelayOptions): Promise<Host> {
  const relay = createRelay({ logger: silentLogger(), serveDemo: false, shutdownGraceMs: 1_000, ...options });
  const app = express();
  app.use(relay.router);
  app.get('/users/:user', (req, res) => { res.json({ host: true, user: req.params.user }); });
  const server = http.createServer(app);
  relay.attach(server);
  await relay.start();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    relay,
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      await relay.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('an embedded relay and the host application\'s paths', function () {
  describe('with httpPrefix: \'/relay\'', () => {
    let h: Host;
    before(async () => { h = await host({ httpPrefix: '/relay' }); });
    after(() => h.close());

    it('leaves the host\'s GET /users/:user to the host', async () => {
      const res = await fetch(`${h.base}/users/alice`);
      expect(res.status).to.equal(200);
      expect(await res.json()).to.deep.equal({ host: true, user: 'alice' });
    });

    it('serves the relay\'s routes under the prefix', async () => {
      const user = await fetch(`${h.base}/relay/users/alice`);
      expect(user.status).to.equal(200);
      expect(await user.json()).to.include({ user: 'alice' });
      expect((await fetch(`${h.base}/relay/healthz`)).status).to.equal(200);
      const push = await fetch(`${h.base}/relay/push/alice`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ destination: '/queue/x', payload: 1 }),
      });
      expect(push.status).to.equal(202);
    });

    it('answers nothing of its own at the root', async () => {
      expect((await fetch(`${h.base}/healthz`)).status).to.equal(404);
      expect((await fetch(`${h.base}/push/alice`, { method: 'POST' })).status).to.equal(404);
    });
  });

  describe('without httpPrefix (the default, as the CLI)', () => {
    let h: Host;
    before(async () => { h = await host({}); });
    after(() => h.close());

    it('serves its routes at the root, /users/:user included, ahead of routes mounted after it', async () => {
      expect((await fetch(`${h.base}/healthz`)).status).to.equal(200);
      const res = await fetch(`${h.base}/users/alice`);
      expect(await res.json()).to.not.have.property('host');
    });
  });

  it('refuses an httpPrefix that is not a path with INVALID_CONFIG', () => {
    for (const httpPrefix of ['relay', '/re lay', '/a//b', '/relay?x=1']) {
      expect(() => createRelay({ logger: silentLogger(), httpPrefix }), httpPrefix).to.throw(/httpPrefix must be a path/)
        .with.property('code', 'INVALID_CONFIG');
    }
  });
});

describe('an embedded relay without auth', () => {
  const DEV_MODE = 'AUTH_JWT_SECRET is not set: dev mode. The CONNECT login header names the user and pushes need no token. Do not run this in production.';
  const warnings = (options: CreateRelayOptions) => {
    const logs = captureLogs('info');
    createRelay({ ...options, logger: logs.logger });
    return logs.records().filter((r) => r.level === 40).map((r) => r.msg);
  };

  it('logs the CLI\'s dev-mode warning', () => {
    expect(warnings({})).to.include(DEV_MODE);
  });

  it('logs no dev-mode warning with a JWT secret', () => {
    expect(warnings({ authJwtSecret: 'a-secret-of-the-host-application' })).to.deep.equal([]);
  });

  it('with the host\'s authenticator, warns only that the HTTP API needs no token, until it has a strategy too', () => {
    const pp = new passport.Passport();
    const authenticator = new PassportAuthenticator({ passport: pp, strategy: 'session' });
    expect(warnings({ authenticator })).to.deep.equal([
      'AUTH_JWT_SECRET is not set: the HTTP API (POST /push, /publish, /users...) needs no token. Set it before exposing that API.',
    ]);
    expect(warnings({ authenticator, pushAuth: { passport: pp, strategy: 'session' } })).to.deep.equal([]);
  });
});

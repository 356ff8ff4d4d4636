/**
 * An embedding host that keeps the HTTP API off its public port: `relay.publicRouter` on the
 * public server (with `attach` for /ws and /sockjs), `relay.adminRouter` on an internal one.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import express from 'express';
import { createRelay, type Relay } from '../../../server/relay';
import { silentLogger } from '../../../server/observability/logger';
import { RawStomp, api, request } from '../../harness/stomp-test-kit';

async function listen(app: express.Express): Promise<{ server: http.Server; url: string }> {
  const server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('relay embedded with publicRouter and adminRouter on two servers', function () {
  let relay: Relay;
  let publicSide: { server: http.Server; url: string };
  let adminSide: { server: http.Server; url: string };

  before(async () => {
    relay = createRelay({ logger: silentLogger(), serveDemo: false });
    const publicApp = express();
    publicApp.get('/hello', (_req, res) => { res.send('host'); });
    publicApp.use(relay.publicRouter);
    const adminApp = express();
    adminApp.use(relay.adminRouter);
    publicSide = await listen(publicApp);
    adminSide = await listen(adminApp);
    relay.attach(publicSide.server);
    await relay.start();
  });

  after(async () => {
    await relay.close();
    for (const side of [publicSide, adminSide]) await new Promise<void>((r) => side.server.close(() => r()));
  });

  it('serves health and the host\'s routes on the public server, and no admin route there', async () => {
    expect((await request(`${publicSide.url}/healthz`)).status).to.equal(200);
    expect((await (await fetch(`${publicSide.url}/hello`)).text())).to.equal('host');
    for (const path of ['/metrics', '/openapi.json', '/users']) expect((await request(`${publicSide.url}${path}`)).status, path).to.equal(404);
    expect((await api(publicSide.url, 'POST', '/push/alice', { destination: '/queue/x', payload: 1 })).status).to.equal(404);
  });

  it('serves the HTTP API, metrics and OpenAPI on the admin server; a push there reaches a session on the public one', async () => {
    const raw = await RawStomp.open(`${publicSide.url.replace('http', 'ws')}/ws`);
    try {
      await raw.connect({ login: 'alice' });
      raw.sendFrame('SUBSCRIBE', { id: 's', destination: '/user/queue/x', receipt: 'r' });
      await raw.expect('RECEIPT');
      const res = await api(adminSide.url, 'POST', '/push/alice', { destination: '/queue/x', payload: 'from the admin side' });
      expect(res.status, res.text).to.equal(202);
      expect((await raw.expect('MESSAGE')).body.toString()).to.equal('from the admin side');
    } finally {
      await raw.close();
    }
    expect((await request(`${adminSide.url}/metrics`)).status).to.equal(200);
    expect((await request(`${adminSide.url}/openapi.json`)).body.openapi).to.match(/^3\.1/);
    expect((await request(`${adminSide.url}/healthz`)).status, 'health stays public').to.equal(404);
  });
});

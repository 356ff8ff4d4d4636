/**
 * ADMIN_PORT: the HTTP API, `/metrics` and `/openapi.json` on a second port only; the public port
 * keeps `/ws`, `/sockjs`, `/client`, `/`, `/healthz`, `/readyz` and answers 404 for the admin
 * routes. Which route is which comes from the OpenAPI document's tags, so a route added later is
 * checked too.
 */
import { expect } from 'chai';
import { api, request, sockjsClient, startRelay, trackClients, unique, wsClient, type TestRelay } from '../../harness/stomp-test-kit';
import { concrete, documented, type OpenApi, type Operation } from '../../harness/openapi-routes';

describe('server: ADMIN_PORT', function () {
  let server: TestRelay;
  let admin: string;
  let operations: Array<[string, string, Operation]>;
  const track = trackClients();

  before(async () => {
    server = await startRelay({ adminPort: 0 });
    expect(server.admin, 'the relay listens on an admin port').to.be.a('string');
    admin = server.admin!;
    const res = await request(`${admin}/openapi.json`);
    expect(res.status).to.equal(200);
    operations = [...documented(res.body as OpenApi)].map(([key, op]) => {
      const [method, path] = key.split(' ');
      return [method, concrete(path, op), op];
    });
  });
  after(async () => { await server.close(); });

  const tagged = (tag: string) => operations.filter(([, , op]) => op.tags?.includes(tag));

  it('answers every admin route on the public port with a JSON 404', async () => {
    expect(tagged('admin').length).to.be.at.least(8);
    for (const [method, path] of tagged('admin')) {
      const res = await api(server, method, path, method === 'GET' ? undefined : {});
      expect(res.status, `${method} ${path} on the public port`).to.equal(404);
      expect(res.body?.error?.code, `${method} ${path}`).to.equal('NOT_FOUND');
    }
  });

  it('serves every admin route on the admin port', async () => {
    for (const [method, path] of tagged('admin')) {
      const res = await api(admin, method, path, method === 'GET' ? undefined : {});
      expect(res.status, `${method} ${path} on the admin port: ${res.text.slice(0, 200)}`).to.not.equal(404);
    }
    const metrics = await request(`${admin}/metrics`);
    expect(metrics.text).to.match(/^# TYPE stomp_relay_sessions gauge$/m);
  });

  it('serves every public route on the public port, and none on the admin port', async () => {
    expect(tagged('public').map(([m, p]) => `${m} ${p}`)).to.include.members(['GET /healthz', 'GET /readyz', 'GET /ws', 'GET /']);
    for (const [method, path] of tagged('public')) {
      expect((await api(server, method, path)).status, `${method} ${path} on the public port`).to.not.equal(404);
      expect((await api(admin, method, path)).status, `${method} ${path} on the admin port`).to.equal(404);
    }
  });

  it('carries STOMP over /ws and /sockjs on the public port, and a push sent to the admin port reaches them', async () => {
    const alice = unique('alice');
    const overWs = (await track(await wsClient(server, { login: alice })).subscribe('/user/queue/split')).messages;
    const overSockjs = (await track(await sockjsClient(server, 'xhr-streaming', { login: alice })).subscribe('/user/queue/split')).messages;
    const res = await api(admin, 'POST', `/push/${alice}`, { destination: '/queue/split', payload: 'via the admin port' });
    expect(res.status, res.text).to.equal(202);
    expect(res.body.sessions).to.equal(2);
    for (const inbox of [overWs, overSockjs]) expect((await inbox.next('the push')).body).to.equal('via the admin port');
  });

  it('refuses an admin port equal to the public port at start, with a readable message', async () => {
    const err = await startRelay({ port: 8999, adminPort: 8999 }).then(() => undefined, (e: Error) => e);
    expect(err?.message).to.match(/ADMIN_PORT must differ from PORT/);
  });
});

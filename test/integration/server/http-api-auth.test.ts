/**
 * Scopes of the HTTP API on a real relay with AUTH_JWT_SECRET: every route asks for its scope
 * (`push`, `publish`, `admin`), matched as a whole word of the token's `scope` (or an entry of its
 * `scp` array), never as a substring.
 */
import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import { api, startRelay, unique, type TestRelay } from '../../harness/stomp-test-kit';

const SECRET = 'integration-secret-0123456789';
const token = (scope: string) => jwt.sign({ sub: 'backend', scope }, SECRET, { algorithm: 'HS256', expiresIn: '5m' });

interface RouteCase {
  method: string;
  path: () => string;
  body?: unknown;
  /** Scopes any one of which grants the route. */
  scopes: string[];
  /** Status when granted. */
  ok: number;
}

const ROUTES: RouteCase[] = [
  { method: 'POST', path: () => `/push/${unique('u')}`, body: { destination: '/queue/x', payload: 1 }, scopes: ['push'], ok: 202 },
  { method: 'POST', path: () => '/push', body: { users: [unique('u')], destination: '/queue/x', payload: 1 }, scopes: ['push'], ok: 202 },
  { method: 'POST', path: () => '/publish', body: { destination: '/topic/x', payload: 1 }, scopes: ['publish'], ok: 202 },
  { method: 'GET', path: () => `/users/${unique('u')}`, scopes: ['push', 'admin'], ok: 200 },
  { method: 'GET', path: () => '/users', scopes: ['admin'], ok: 200 },
  { method: 'DELETE', path: () => `/users/${unique('u')}/sessions`, body: { reason: 'test' }, scopes: ['admin'], ok: 202 },
];

const ALL_SCOPES = ['push', 'publish', 'admin'];

describe('server: HTTP API scopes (JWT)', function () {
  let server: TestRelay;
  before(async () => { server = await startRelay({ authJwtSecret: SECRET }); });
  after(async () => { await server.close(); });

  for (const route of ROUTES) {
    const name = `${route.method} ${route.path().replace(/u-[0-9a-f]{8}/, ':user')}`;
    describe(name, () => {
      it('answers without a token with 401 UNAUTHORIZED', async () => {
        const res = await api(server, route.method, route.path(), route.body);
        expect(res.status, res.text).to.equal(401);
        expect(res.body.error.code).to.equal('UNAUTHORIZED');
      });

      it(`answers a token with only other scopes (and look-alikes of ${route.scopes.join('/')}) with 403 FORBIDDEN naming the scope`, async () => {
        const others = ALL_SCOPES.filter((s) => !route.scopes.includes(s));
        const lookAlikes = route.scopes.flatMap((s) => [`no${s}`, `${s}x`, `${s}:read`]);
        const res = await api(server, route.method, route.path(), route.body, { token: token([...others, ...lookAlikes].join(' ')) });
        expect(res.status, res.text).to.equal(403);
        expect(res.body.error.code).to.equal('FORBIDDEN');
        for (const s of route.scopes) expect(res.body.error.message).to.include(`"${s}"`);
      });

      for (const scope of route.scopes) {
        it(`answers ${route.ok} with scope "${scope}" among others`, async () => {
          const res = await api(server, route.method, route.path(), route.body, { token: token(`read ${scope} write`) });
          expect(res.status, res.text).to.equal(route.ok);
        });
      }
    });
  }

  it('leaves health, readiness, metrics and the OpenAPI document open', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics', '/openapi.json']) {
      expect((await api(server, 'GET', path)).status, path).to.equal(200);
    }
  });
});

/**
 * The HTTP API's body-taking routes (`POST /push/:user`, `POST /push`, `POST /publish`) answered
 * before express on a server the relay owns (server/http/direct-routes.ts): in standalone mode,
 * under `httpPrefix`, and on the ADMIN_PORT server, every answer (success, bad input, limits, auth)
 * comes without express ever seeing the request; what is not plainly one of these routes, and the
 * embedded `relay.router`, still go through express with the same answers.
 *
 * A relay with a host strategy (`pushAuth`) keeps express for these routes too.
 *
 * Which requests reached express is observed by wrapping express's `app.handle` (every express app
 * made while a block runs: the relay's own and the test's host app), so a request the direct path
 * did not take shows up there.
 */
import { gzipSync } from 'node:zlib';
import { expect } from 'chai';
import express from 'express';
import jwt from 'jsonwebtoken';
import passport from 'passport';
import {
  api, metricValue, request, startEmbeddedRelay, startRelay, trackClients, unique, wsClient, type TestRelay,
} from '../../harness/stomp-test-kit';

const SECRET = 'direct-routes-secret-0123456789';
const token = (scope: string) => jwt.sign({ sub: 'backend', scope }, SECRET, { algorithm: 'HS256', expiresIn: '5m' });

/** Records `METHOD url` of every request an express app handles, for apps made while it is installed. */
function expressSeen(): { seen: string[]; install(): void; restore(): void } {
  const application = express.application as unknown as { handle: (...args: unknown[]) => unknown };
  const original = application.handle;
  const seen: string[] = [];
  return {
    seen,
    install() {
      application.handle = function (this: unknown, ...args: unknown[]) {
        const req = args[0] as { method: string; url: string };
        seen.push(`${req.method} ${req.url}`);
        return original.apply(this, args);
      };
    },
    restore() {
      application.handle = original;
    },
  };
}

function expectError(res: { status: number; body: any; headers: Headers }, status: number, code: string, says: RegExp): void {
  expect(res.status, JSON.stringify(res.body)).to.equal(status);
  expect(res.headers.get('content-type')).to.equal('application/json; charset=utf-8');
  expect(res.body?.error?.code).to.equal(code);
  expect(res.body.error.message).to.match(says);
}

const message = { destination: '/queue/direct', payload: { text: 'hi' } };

describe('server: HTTP API answered before express (direct routes)', function () {
  const express = expressSeen();
  const track = trackClients();
  beforeEach(() => { express.seen.length = 0; });

  describe('standalone, dev mode', () => {
    let server: TestRelay;
    before(async () => {
      express.install();
      server = await startRelay({ limits: { maxFrameBytes: 4096, maxHeaderLineBytes: 1024 } });
    });
    after(async () => {
      express.restore();
      await server.close();
    });

    it('delivers a push to the user\'s sessions and answers 202, express seeing nothing of it', async () => {
      const alice = unique('alice');
      const inbox = (await track(await wsClient(server, { login: alice })).subscribe('/user/queue/direct')).messages;
      express.seen.length = 0;
      const res = await api(server, 'POST', `/push/${alice}`, message);
      expect(res.status, res.text).to.equal(202);
      expect(res.headers.get('content-type')).to.equal('application/json; charset=utf-8');
      expect(res.body).to.deep.include({ user: alice, destination: '/queue/direct', routed: true, sessions: 1 });
      expect(JSON.parse((await inbox.next('the push')).body)).to.deep.equal({ text: 'hi' });
      expect(express.seen).to.deep.equal([]);
      // The wrapper does see what the relay's express app answers: the check above can fail.
      expect((await request(`${server.http}/healthz`)).status).to.equal(200);
      expect(express.seen).to.deep.equal(['GET /healthz']);
    });

    it('answers bad bodies with the same 400s, without express', async () => {
      expectError(await api(server, 'POST', '/push/alice', undefined, { raw: '{"destination": ' }), 400, 'BAD_REQUEST', /not valid JSON/);
      expectError(await api(server, 'POST', '/push/alice', ['/queue/x']), 400, 'BAD_REQUEST', /JSON object/);
      expectError(await api(server, 'POST', '/push/alice', { payload: 1 }), 400, 'BAD_REQUEST', /"destination"/);
      expectError(await api(server, 'POST', '/push/alice', { destination: '/secret/x', payload: 1 }), 400, 'BAD_REQUEST', /destination must start with/);
      expectError(await api(server, 'POST', '/push/alice', { ...message, headers: { 'message-id': 'forged' } }), 400, 'BAD_REQUEST', /reserved/);
      expectError(await api(server, 'POST', '/push', { users: 'alice', ...message }), 400, 'BAD_REQUEST', /"users" must be an array/);
      expectError(await api(server, 'POST', '/publish', { destination: '/topic/x' }), 400, 'BAD_REQUEST', /"payload"/);
      expect(express.seen).to.deep.equal([]);
    });

    it('answers a body over the limit with 413 PAYLOAD_TOO_LARGE, whether declared or streamed, without express', async () => {
      expectError(await api(server, 'POST', '/push/alice', { ...message, payload: 'x'.repeat(10_000) }), 413, 'PAYLOAD_TOO_LARGE', /4096 bytes/);
      // Chunked (no content-length): the limit is found while the body streams in.
      const chunked = new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(JSON.stringify({ ...message, payload: 'y'.repeat(8_000) })));
          controller.close();
        },
      });
      const streamed = await request(`${server.http}/push/alice`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chunked, duplex: 'half' } as RequestInit);
      expectError(streamed, 413, 'PAYLOAD_TOO_LARGE', /4096 bytes/);
      expect(express.seen).to.deep.equal([]);
    });

    it('reads gzip bodies and refuses unsupported charsets as express did, without express', async () => {
      const gzipped = await request(`${server.http}/push/${unique('u')}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
        body: gzipSync(JSON.stringify(message)),
      });
      expect(gzipped.status, gzipped.text).to.equal(202);
      const latin1 = await request(`${server.http}/push/${unique('u')}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=iso-8859-1' },
        body: JSON.stringify(message),
      });
      expectError(latin1, 415, 'BAD_REQUEST', /charset unsupported/);
      expect(express.seen).to.deep.equal([]);
    });

    it('answers POST /push and POST /publish without express', async () => {
      const batch = await api(server, 'POST', '/push', { users: [unique('u'), unique('u')], ...message });
      expect(batch.status, batch.text).to.equal(202);
      expect(batch.body).to.deep.include({ destination: '/queue/direct', routed: 0, offline: 2, failed: 0 });
      const published = await api(server, 'POST', '/publish', { destination: '/topic/direct', payload: 1 });
      expect(published.status, published.text).to.equal(202);
      expect(published.body).to.deep.equal({ destination: '/topic/direct' });
      expectError(await api(server, 'POST', '/publish', { destination: '/secret/x', payload: 1 }), 403, 'DESTINATION_NOT_ALLOWED', /secret/);
      expect(express.seen).to.deep.equal([]);
    });

    it('counts its requests and pushes in the same metrics as express did', async () => {
      const metrics = async () => (await request(`${server.http}/metrics`)).text;
      const accepted = 'stomp_relay_http_requests_total{method="POST",route="/push/:user",status_code="202"}';
      const refused = 'stomp_relay_http_requests_total{method="POST",route="/push/:user",status_code="400"}';
      const offline = 'stomp_relay_pushes_total{outcome="offline"}';
      const before = await metrics();
      await api(server, 'POST', `/push/${unique('u')}`, message);
      await api(server, 'POST', '/push/alice', { payload: 1 });
      const after = await metrics();
      expect(metricValue(after, accepted)).to.equal((metricValue(before, accepted) ?? 0) + 1);
      expect(metricValue(after, refused)).to.equal((metricValue(before, refused) ?? 0) + 1);
      expect(metricValue(after, offline)).to.equal((metricValue(before, offline) ?? 0) + 1);
      expect(express.seen.filter((r) => r.startsWith('POST'))).to.deep.equal([]);
    });

    it('leaves to express what is not plainly one of its routes, which answers as before', async () => {
      const user = unique('u');
      for (const path of [`/PUSH/${user}`, `/push/${user}/`]) {
        const res = await api(server, 'POST', path, message);
        expect(res.status, `${path}: ${res.text}`).to.equal(202);
      }
      expectError(await api(server, 'POST', '/push/%E0%A4%A', message), 400, 'BAD_REQUEST', /malformed request/);
      expectError(await api(server, 'PUT', `/push/${user}`, message), 404, 'NOT_FOUND', /PUT/);
      expect(express.seen).to.deep.equal([`POST /PUSH/${user}`, `POST /push/${user}/`, 'POST /push/%E0%A4%A', `PUT /push/${user}`]);
    });
  });

  describe('standalone with AUTH_JWT_SECRET', () => {
    let server: TestRelay;
    before(async () => {
      express.install();
      server = await startRelay({ authJwtSecret: SECRET });
    });
    after(async () => {
      express.restore();
      await server.close();
    });

    it('answers 401 without a token, 403 without the scope, 202 with it, without express', async () => {
      expectError(await api(server, 'POST', '/push/alice', message), 401, 'UNAUTHORIZED', /bearer token/);
      expectError(await api(server, 'POST', '/push/alice', message, { token: 'not.a.jwt' }), 401, 'UNAUTHORIZED', /./);
      expectError(await api(server, 'POST', '/push/alice', message, { token: token('publish pushx') }), 403, 'FORBIDDEN', /"push"/);
      expectError(await api(server, 'POST', '/publish', { destination: '/topic/x', payload: 1 }, { token: token('push') }), 403, 'FORBIDDEN', /"publish"/);
      expect((await api(server, 'POST', `/push/${unique('u')}`, message, { token: token('read push') })).status).to.equal(202);
      expect((await api(server, 'POST', '/publish', { destination: '/topic/x', payload: 1 }, { token: token('publish') })).status).to.equal(202);
      expect(express.seen).to.deep.equal([]);
    });
  });

  describe('standalone under httpPrefix', () => {
    let server: TestRelay;
    before(async () => {
      express.install();
      server = await startRelay({ httpPrefix: '/relay', serveDemo: false });
    });
    after(async () => {
      express.restore();
      await server.close();
    });

    it('answers /relay/push/:user without express, and leaves /push/:user to express (404)', async () => {
      const res = await api(server, 'POST', `/relay/push/${unique('u')}`, message);
      expect(res.status, res.text).to.equal(202);
      expectError(await api(server, 'POST', '/relay/push/alice', { payload: 1 }), 400, 'BAD_REQUEST', /"destination"/);
      expect(express.seen).to.deep.equal([]);
      expectError(await api(server, 'POST', '/push/alice', message), 404, 'NOT_FOUND', /push/);
      expect(express.seen).to.deep.equal(['POST /push/alice']);
    });
  });

  describe('ADMIN_PORT', () => {
    let server: TestRelay;
    before(async () => {
      express.install();
      server = await startRelay({ adminPort: 0, authJwtSecret: SECRET, limits: { maxFrameBytes: 4096, maxHeaderLineBytes: 1024 } });
    });
    after(async () => {
      express.restore();
      await server.close();
    });

    it('answers pushes, refusals and limits on the admin port without express', async () => {
      const alice = unique('alice');
      const inbox = (await track(await wsClient(server, { connectHeaders: { passcode: jwt.sign({ sub: alice }, SECRET, { expiresIn: '5m' }) } })).subscribe('/user/queue/direct')).messages;
      express.seen.length = 0;
      const res = await api(server.admin!, 'POST', `/push/${alice}`, message, { token: token('push') });
      expect(res.status, res.text).to.equal(202);
      expect(res.body.sessions).to.equal(1);
      expect(JSON.parse((await inbox.next('the push')).body)).to.deep.equal({ text: 'hi' });
      expectError(await api(server.admin!, 'POST', `/push/${alice}`, message), 401, 'UNAUTHORIZED', /bearer token/);
      expectError(await api(server.admin!, 'POST', '/push/alice', { ...message, payload: 'x'.repeat(10_000) }, { token: token('push') }), 413, 'PAYLOAD_TOO_LARGE', /4096/);
      expect(express.seen).to.deep.equal([]);
    });

    it('leaves the public port\'s /push to express, which answers 404', async () => {
      expectError(await api(server, 'POST', '/push/alice', message, { token: token('push') }), 404, 'NOT_FOUND', /push/);
      expect(express.seen).to.deep.equal(['POST /push/alice']);
    });
  });

  describe('standalone with a host passport strategy (pushAuth)', () => {
    let server: TestRelay;
    before(async () => {
      express.install();
      // A strategy that reads what express adds to a request (req.query): it must get express's request.
      const pp = new passport.Passport();
      pp.use('api-key', {
        authenticate(this: { success(user: unknown): void; fail(info: unknown): void }, req: { query?: Record<string, unknown> }) {
          if (req.query?.key === 'k') this.success({ name: 'backend' });
          else this.fail({ message: 'no key' });
        },
      } as unknown as passport.Strategy);
      server = await startRelay({ pushAuth: { passport: pp, strategy: 'api-key' } });
    });
    after(async () => {
      express.restore();
      await server.close();
    });

    it('keeps express for the HTTP API, so the strategy sees express\'s request', async () => {
      const user = unique('u');
      expect((await api(server, 'POST', `/push/${user}?key=k`, message)).status).to.equal(202);
      expectError(await api(server, 'POST', `/push/${user}`, message), 401, 'UNAUTHORIZED', /no key/);
      expect(express.seen).to.deep.equal([`POST /push/${user}?key=k`, `POST /push/${user}`]);
    });
  });

  describe('library mode (relay.router in a host express app)', () => {
    let server: TestRelay;
    before(async () => {
      express.install();
      // The harness mounts relay.router on a host express app and calls relay.attach(server) on
      // the host's server: the host's middleware must see every push, so nothing answers first.
      server = await startEmbeddedRelay({ authJwtSecret: SECRET, limits: { maxFrameBytes: 4096, maxHeaderLineBytes: 1024 } });
    });
    after(async () => {
      express.restore();
      await server.close();
    });

    it('goes through the host\'s express app, with the same answers', async () => {
      const user = unique('u');
      expect((await api(server, 'POST', `/push/${user}`, message, { token: token('push') })).status).to.equal(202);
      expectError(await api(server, 'POST', '/push/alice', message), 401, 'UNAUTHORIZED', /bearer token/);
      expectError(await api(server, 'POST', '/push/alice', { payload: 1 }, { token: token('push') }), 400, 'BAD_REQUEST', /"destination"/);
      expectError(await api(server, 'POST', '/push/alice', { ...message, payload: 'x'.repeat(10_000) }, { token: token('push') }), 413, 'PAYLOAD_TOO_LARGE', /4096/);
      expect(express.seen).to.deep.equal([`POST /push/${user}`, 'POST /push/alice', 'POST /push/alice', 'POST /push/alice']);
    });
  });
});

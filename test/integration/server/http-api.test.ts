/**
 * The relay's HTTP side on a real server: push API validation (dev mode), health, readiness,
 * metrics, the Origin allowlist on both endpoints, and the static client and demo.
 */
import { expect } from 'chai';
import WebSocket from 'ws';
import {
  RawStomp, connect, metricValue, push, request, sockjsClient, sockjsFactory, startRelay, unique, waitFor, within, wsClient, wsFactory,
  type TestRelay,
  trackClients,
} from '../../harness/stomp-test-kit';

describe('server: HTTP API', function () {
  let server: TestRelay;
  const track = trackClients();

  before(async () => { server = await startRelay({ limits: { maxFrameBytes: 4096, maxHeaderLineBytes: 1024 } }); });
  after(async () => { await server.close(); });

  describe('POST /push/:user validation', () => {
    function expectJsonError(res: { status: number; body: any }, status: number, code: string, says: RegExp) {
      expect(res.status, JSON.stringify(res.body)).to.equal(status);
      expect(res.body?.error?.code).to.equal(code);
      expect(res.body.error.message).to.match(says);
    }

    it('answers malformed JSON with 400 BAD_REQUEST', async () => {
      expectJsonError(await push(server, 'alice', undefined, { raw: '{"destination": "/queue/x", ' }), 400, 'BAD_REQUEST', /not valid JSON/);
    });

    it('answers a body that is not an object with 400', async () => {
      expectJsonError(await push(server, 'alice', ['/queue/x', 'hi']), 400, 'BAD_REQUEST', /JSON object/);
      expectJsonError(await push(server, 'alice', 'just a string'), 400, 'BAD_REQUEST', /JSON object/);
    });

    it('answers a missing destination or payload with 400 naming the field', async () => {
      expectJsonError(await push(server, 'alice', { payload: 'x' }), 400, 'BAD_REQUEST', /"destination"/);
      expectJsonError(await push(server, 'alice', { destination: '/queue/x' }), 400, 'BAD_REQUEST', /"payload"/);
    });

    it('answers a destination outside the relayed prefixes with 400', async () => {
      expectJsonError(await push(server, 'alice', { destination: '/secret/x', payload: 1 }), 400, 'BAD_REQUEST', /destination must start with/);
      expectJsonError(await push(server, 'alice', { destination: '/queue/', payload: 1 }), 400, 'BAD_REQUEST', /destination must start with/);
    });

    it('answers reserved or malformed headers with 400', async () => {
      expectJsonError(await push(server, 'alice', { destination: '/queue/x', payload: 1, headers: { 'message-id': 'forged' } }), 400, 'BAD_REQUEST', /reserved/);
      expectJsonError(await push(server, 'alice', { destination: '/queue/x', payload: 1, headers: 'x' }), 400, 'BAD_REQUEST', /"headers"/);
      expectJsonError(await push(server, 'alice', { destination: '/queue/x', payload: 1, headers: { 'bad\nname': 'v' } }), 400, 'BAD_REQUEST', /invalid header name/);
    });

    it('answers an oversize body with 413 PAYLOAD_TOO_LARGE', async () => {
      const res = await push(server, 'alice', { destination: '/queue/x', payload: 'x'.repeat(10_000) });
      expectJsonError(res, 413, 'PAYLOAD_TOO_LARGE', /4096 bytes/);
    });

    it('accepts a push for a user with no sessions (202, sessions 0): delivery never depends on presence', async () => {
      const res = await push(server, unique('nobody'), { destination: '/queue/x', payload: 'into the void' });
      expect(res.status).to.equal(202);
      expect(res.body.sessions).to.equal(0);
    });

    it('answers a plain HTTP GET /ws (no Upgrade) with 426 UPGRADE_REQUIRED, not 404', async () => {
      const res = await request(`${server.http}/ws`);
      expect(res.status).to.equal(426);
      expect(res.body.error.code).to.equal('UPGRADE_REQUIRED');
      expect(res.body.error.message).to.match(/WebSocket/);
    });

    it('answers unknown routes with a JSON 404', async () => {
      const res = await request(`${server.http}/no/such/route`);
      expect(res.status).to.equal(404);
      expect(res.body.error.code).to.equal('NOT_FOUND');
    });
  });

  describe('health, readiness and metrics', () => {
    it('GET /healthz answers 200 with the instance id', async () => {
      const res = await request(`${server.http}/healthz`);
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.equal({ status: 'ok', instanceId: 'test-a' });
    });

    it('GET /instance names the instance, the broker kind and how many instances it knows (one, here)', async () => {
      const res = await request(`${server.http}/instance`);
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.equal({ instanceId: 'test-a', broker: 'memory', instances: 1 });
    });

    it('GET /readyz answers 200 with the embedded broker ready', async () => {
      const res = await request(`${server.http}/readyz`);
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.include({ status: 'ready', accepting: true });
      expect(res.body.broker).to.deep.equal({ kind: 'memory', ready: true });
    });

    it('GET /metrics reports sessions per transport and frames in, following what clients do', async () => {
      const metrics = async () => (await request(`${server.http}/metrics`)).text;
      const ws = 'stomp_relay_sessions{transport="ws"}';
      const sockjs = 'stomp_relay_sessions{transport="sockjs"}';
      const sends = 'stomp_relay_frames_in_total{command="SEND"}';
      const base = await metrics();
      const wsBase = metricValue(base, ws) ?? 0;
      const sockjsBase = metricValue(base, sockjs) ?? 0;
      const sendBase = metricValue(base, sends) ?? 0;

      const a = track(await wsClient(server));
      track(await wsClient(server));
      track(await sockjsClient(server, 'xhr-streaming'));
      await a.publish(`/topic/${unique('m')}`, 'counted');
      const during = await metrics();
      expect(metricValue(during, ws)).to.equal(wsBase + 2);
      expect(metricValue(during, sockjs)).to.equal(sockjsBase + 1);
      expect(metricValue(during, sends)).to.equal(sendBase + 1);
      expect(metricValue(during, 'stomp_relay_frames_in_total{command="CONNECT"}')).to.be.at.least(3);
      expect(during).to.match(/^stomp_relay_broker_ready 1$/m);

      await a.close();
      await waitFor(async () => metricValue(await metrics(), ws) === wsBase + 1, 'the ws session gauge to drop');
    });
  });

  describe('static files', () => {
    it('serves the browser client bundle (run `npm run build` first if this fails)', async () => {
      const res = await request(`${server.http}/client/stomp-relay-client.js`);
      expect(res.status, 'dist/client/stomp-relay-client.js missing: run `npm run build`').to.equal(200);
      expect(res.headers.get('content-type')).to.match(/javascript/);
      expect(res.text.length).to.be.greaterThan(1000);
    });

    it('points SockJS iframe transports at the sockjs-client it serves itself, not a CDN', async () => {
      const iframe = await request(`${server.http}/sockjs/iframe.html`);
      expect(iframe.text).to.include('src="/client/sockjs.min.js"');
      const script = await request(`${server.http}/client/sockjs.min.js`);
      expect(script.status, 'dist/client/sockjs.min.js missing: run `npm run build`').to.equal(200);
      expect(script.text).to.include('SockJS');
    });

    it('answers a missing static file with a JSON 404 that names no server path', async () => {
      const res = await request(`${server.http}/client/no-such-file.js`);
      expect(res.status).to.equal(404);
      expect(res.body.error.code).to.equal('NOT_FOUND');
      expect(res.text).to.not.match(/ENOENT|\/dist\//);
    });

    it('serves the demo page at /', async () => {
      const res = await request(`${server.http}/`);
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.match(/text\/html/);
    });
  });

  describe('Origin allowlist', () => {
    let guarded: TestRelay;
    before(async () => { guarded = await startRelay({ allowedOrigins: ['http://good.example'] }); });
    after(async () => { await guarded.close(); });

    /** The status a WebSocket handshake from `origin` is answered with (rejects if it opens). */
    async function handshakeStatus(origin: string): Promise<number> {
      const socket = new WebSocket(guarded.wsUrl, ['v12.stomp'], { headers: { Origin: origin } });
      const status = await within(new Promise<number>((resolve, reject) => {
        socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        socket.once('open', () => reject(new Error(`handshake from Origin ${origin} was accepted`)));
        socket.once('error', () => undefined);
      }), 'the handshake answer');
      socket.terminate();
      return status;
    }

    it('answers a WebSocket handshake from another Origin with 403', async () => {
      expect(await handshakeStatus('http://evil.example')).to.equal(403);
    });

    it('answers 403 to Origins that only begin like the allowed one (another host, port or scheme)', async () => {
      for (const origin of ['http://good.example.evil.com', 'http://good.example:8080', 'https://good.example']) {
        expect(await handshakeStatus(origin), origin).to.equal(403);
      }
    });

    it('accepts a WebSocket session from an allowed Origin', async () => {
      const client = track(await connect(wsFactory(guarded.wsUrl, { headers: { Origin: 'http://good.example' } }), { login: 'alice' }));
      expect(client.connected.headers['user-name']).to.equal('alice');
    });

    it('accepts a client that sends no Origin (not a browser: it carries no ambient credentials)', async () => {
      const raw = track(await RawStomp.open(guarded.wsUrl));
      expect((await raw.connect()).command).to.equal('CONNECTED');
    });

    it('answers SockJS requests from another Origin with 403 JSON ORIGIN_NOT_ALLOWED', async () => {
      const info = await request(`${guarded.sockjsUrl}/info`, { headers: { Origin: 'http://evil.example' } });
      expect(info.status).to.equal(403);
      expect(info.body.error.code).to.equal('ORIGIN_NOT_ALLOWED');
      expect(info.body.error.message).to.include('http://evil.example');
      const stream = await request(`${guarded.sockjsUrl}/000/abcdefgh/xhr_streaming`, { method: 'POST', headers: { Origin: 'http://evil.example' } });
      expect(stream.status, 'session requests too, not just /info').to.equal(403);
    });

    it('answers a SockJS WebSocket handshake from another Origin with 403', async () => {
      const socket = new WebSocket(`ws://127.0.0.1:${guarded.port}/sockjs/000/abcdefgh/websocket`, { headers: { Origin: 'http://evil.example' } });
      const status = await within(new Promise<number>((resolve, reject) => {
        socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        socket.once('open', () => reject(new Error('accepted')));
        socket.once('error', () => undefined);
      }), 'the handshake answer');
      socket.terminate();
      expect(status).to.equal(403);
    });

    it('answers SockJS /info from an allowed Origin, and a SockJS session works', async () => {
      const info = await request(`${guarded.sockjsUrl}/info`, { headers: { Origin: 'http://good.example' } });
      expect(info.status).to.equal(200);
      expect(info.body).to.have.property('websocket');
      const client = track(await connect(sockjsFactory(guarded.sockjsUrl, 'xhr-polling'), { login: 'bob' }));
      expect(client.connected.headers['user-name']).to.equal('bob');
    });
  });
});

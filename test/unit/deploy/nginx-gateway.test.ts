/**
 * deploy/nginx.conf, run by the real nginx in front of small upstream servers standing in for
 * relay instances (their public ports and their admin ports): WebSocket upgrades pass through, a
 * SockJS session's requests all reach one instance, streaming responses are not buffered, an
 * instance that is down is skipped, the admin routes are served only on the admin gateway, and the
 * access log never holds an `access_token`.
 */
import { expect } from 'chai';
import { once } from 'node:events';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import WebSocket, { WebSocketServer } from 'ws';
import { nginxUnavailableReason, startNginx, type NginxGateway } from '../../harness/nginx';
import { waitFor } from '../../harness/stomp-test-kit';
import { requireTool } from '../../harness/unavailable';

interface Upstream {
  name: string;
  address: string;
  server: Server;
  /** Headers of every request that reached this instance. */
  seen: IncomingHttpHeaders[];
}

async function startUpstream(name: string): Promise<Upstream> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    if (req.url?.endsWith('/xhr_streaming')) {
      // Like SockJS: a first chunk at once, then the response stays open for later frames.
      res.writeHead(200, { 'content-type': 'application/javascript' });
      res.write(`o ${name}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end(name);
  });
  const wss = new WebSocketServer({ server, handleProtocols: (p) => (p.has('v12.stomp') ? 'v12.stomp' : false) });
  wss.on('connection', (ws, req) => {
    seen.push(req.headers);
    ws.send(`hello from ${name}`);
    ws.on('message', (data) => ws.send(`${name} echo ${data.toString()}`));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return { name, address: `127.0.0.1:${address.port}`, server, seen };
}

async function stopUpstream(u: Upstream): Promise<void> {
  if (!u.server.listening) return;
  u.server.closeAllConnections();
  u.server.close();
  await once(u.server, 'close');
}

function get(url: string): Promise<string> {
  return fetch(url).then((r) => r.text());
}

async function openWebSocket(url: string): Promise<{ ws: WebSocket; first: string }> {
  const ws = new WebSocket(url, ['v12.stomp', 'v11.stomp']);
  const [data] = (await once(ws, 'message')) as [Buffer];
  return { ws, first: data.toString() };
}

describe('deploy/nginx.conf in front of two instances (real nginx)', function () {
  this.timeout(20_000);
  let a: Upstream;
  let b: Upstream;
  let adminA: Upstream;
  let adminB: Upstream;
  let gateway: NginxGateway;

  before(async function () {
    requireTool(this, nginxUnavailableReason());
  });

  beforeEach(async () => {
    a = await startUpstream('A');
    b = await startUpstream('B');
    adminA = await startUpstream('admin-A');
    adminB = await startUpstream('admin-B');
    gateway = await startNginx({ upstreams: [a.address, b.address], adminUpstreams: [adminA.address, adminB.address] });
  });

  afterEach(async () => {
    await gateway?.stop();
    await Promise.all([a, b, adminA, adminB].filter(Boolean).map(stopUpstream));
  });

  it('upgrades /ws to a WebSocket with the STOMP subprotocol, and forwards frames both ways', async () => {
    const { ws, first } = await openWebSocket(`${gateway.url.replace('http', 'ws')}/ws?access_token=t`);
    try {
      expect(ws.protocol).to.equal('v12.stomp');
      const instance = first.slice('hello from '.length);
      ws.send('ping');
      const [echo] = (await once(ws, 'message')) as [Buffer];
      expect(echo.toString()).to.equal(`${instance} echo ping`);
      const headers = [...a.seen, ...b.seen].at(-1)!;
      expect(headers['x-forwarded-for']).to.equal('127.0.0.1');
      expect(headers.host).to.equal(`127.0.0.1:${gateway.port}`);
    } finally {
      ws.close();
    }
  });

  it('sends every request of one SockJS session to the same instance, and spreads sessions over both', async () => {
    const bySession = new Map<string, Set<string>>();
    for (let s = 0; s < 16; s++) {
      const session = `session${s}x${Math.random().toString(36).slice(2, 8)}`;
      const answers = new Set<string>();
      for (const transport of ['xhr_send', 'xhr', 'xhr_send', 'xhr']) {
        answers.add(await get(`${gateway.url}/sockjs/123/${session}/${transport}`));
      }
      bySession.set(session, answers);
    }
    for (const [session, answers] of bySession) expect([...answers], session).to.have.length(1);
    const used = new Set([...bySession.values()].map((s) => [...s][0]));
    expect([...used].sort()).to.deep.equal(['A', 'B']);
  });

  it('passes SockJS xhr_streaming chunks to the client while the instance keeps the response open', async () => {
    const chunk = await new Promise<string>((resolve, reject) => {
      const req = request(`${gateway.url}/sockjs/1/stream1/xhr_streaming`, { method: 'POST' }, (res) => {
        res.once('data', (d: Buffer) => {
          resolve(d.toString());
          req.destroy();
        });
      });
      req.on('error', reject);
      req.end();
    });
    // The upstream never ends this response: the chunk can only have arrived unbuffered.
    expect(chunk).to.match(/^o [AB]\n$/);
  });

  it('upgrades the SockJS websocket transport on /sockjs, keeping its session affinity', async () => {
    const instance = await get(`${gateway.url}/sockjs/7/sessionws/xhr_send`);
    const { ws, first } = await openWebSocket(`${gateway.url.replace('http', 'ws')}/sockjs/7/sessionws/websocket`);
    ws.close();
    expect(first).to.equal(`hello from ${instance}`);
  });

  it('routes health checks to an instance\'s public port, and the push API only through the admin gateway to its admin port', async () => {
    expect(await get(`${gateway.url}/healthz`)).to.match(/^[AB]$/);
    const body = '{"destination":"/queue/x","payload":1}';
    const res = await fetch(`${gateway.adminUrl}/push/alice`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(res.status).to.equal(200);
    expect(await res.text()).to.match(/^admin-[AB]$/);
  });

  it('answers the admin routes on the public gateway with a JSON 404 of its own, forwarding nothing', async () => {
    const before = a.seen.length + b.seen.length + adminA.seen.length + adminB.seen.length;
    for (const [method, path] of [['POST', '/push/alice'], ['POST', '/push'], ['POST', '/publish'], ['GET', '/users'], ['GET', '/users/alice'],
      ['DELETE', '/users/alice/sessions'], ['GET', '/metrics'], ['GET', '/openapi.json'], ['GET', '/push/../metrics'], ['GET', '/%6Detrics']]) {
      const res = await fetch(`${gateway.url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: method === 'GET' ? undefined : '{}' });
      expect(res.status, `${method} ${path}`).to.equal(404);
      expect(((await res.json()) as { error: { code: string } }).error.code, `${method} ${path}`).to.equal('NOT_FOUND');
    }
    expect(a.seen.length + b.seen.length + adminA.seen.length + adminB.seen.length, 'no upstream saw those requests').to.equal(before);
    // Look-alikes of admin routes are not admin routes: they reach the instances as usual.
    expect(await get(`${gateway.url}/pushed-content.html`)).to.match(/^[AB]$/);
  });

  it('never writes an access_token (or any query string) to the access log', async () => {
    const secret = `secret${Math.random().toString(36).slice(2)}`;
    expect(await get(`${gateway.url}/healthz?access_token=${secret}`)).to.match(/^[AB]$/);
    const { ws } = await openWebSocket(`${gateway.url.replace('http', 'ws')}/ws?access_token=${secret}`);
    ws.close();
    await once(ws, 'close');
    await fetch(`${gateway.url}/sockjs/info?access_token=${secret}`, { headers: { referer: `http://app.example/page?access_token=${secret}` } }).then((r) => r.text());
    // nginx writes a line when a request ends (the WebSocket's when it closed): wait for all three.
    let log = '';
    await waitFor(async () => {
      log = await gateway.accessLog();
      return /GET \/healthz /.test(log) && /GET \/ws /.test(log) && /GET \/sockjs\/info /.test(log);
    }, 'the three access log lines');
    expect(log).to.not.include(secret);
    expect(log).to.not.include('access_token');
    expect(log).to.include('"http://app.example/page"');
  });

  it('skips an instance that is down, so new connections still succeed', async () => {
    await stopUpstream(a);
    const answers = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const { ws, first } = await openWebSocket(`${gateway.url.replace('http', 'ws')}/ws`);
      answers.add(first);
      ws.close();
    }
    expect([...answers]).to.deep.equal(['hello from B']);
  });
});

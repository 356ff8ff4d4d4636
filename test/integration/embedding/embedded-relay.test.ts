/**
 * The relay embedded in a host express application that authenticates with its own passport
 * strategy (a session cookie), for STOMP sessions over WebSocket and SockJS and for the push API.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import express from 'express';
import passport from 'passport';
import WebSocket from 'ws';
import { createRelay, type Relay } from '../../../server/relay';
import { PassportAuthenticator } from '../../../server/auth/passport-authenticator';
import { silentLogger } from '../../../server/observability/logger';
import { StompParser } from '../../../server/codec/parser';
import { encodeFrame } from '../../../server/codec/serializer';
import { headers, type StompFrame } from '../../../server/codec/frame';

/** The host's strategy: cookie `sid=<token>` names a user from its session table. */
const SESSIONS: Record<string, string> = { 'token-alice': 'alice', 'token-bob': 'bob' };

function cookieStrategy() {
  return {
    name: 'cookie',
    authenticate(this: { success(u: unknown): void; fail(c?: unknown): void }, req: http.IncomingMessage) {
      const match = /(?:^|;\s*)sid=([^;]+)/.exec(req.headers.cookie ?? '');
      const user = match ? SESSIONS[match[1]] : undefined;
      if (user) this.success({ username: user });
      else this.fail({ message: 'no session cookie' });
    },
  };
}

/** Frames the server sends on one raw WebSocket. */
function rawStomp(url: string, wsHeaders: Record<string, string>) {
  const frames: StompFrame[] = [];
  const waiters: Array<() => void> = [];
  const ws = new WebSocket(url, ['v12.stomp'], { headers: wsHeaders });
  const parser = new StompParser({ onFrame: (f) => { frames.push(f); waiters.splice(0).forEach((w) => w()); } });
  ws.on('message', (d: Buffer) => parser.push(d));
  const opened = new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  return {
    ws,
    async send(command: string, h: Record<string, string>, body = ''): Promise<void> {
      await opened;
      ws.send(encodeFrame({ command, headers: headers(h), body: Buffer.from(body) }, '1.2'));
    },
    async next(command: string, timeoutMs = 5000): Promise<StompFrame> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const i = frames.findIndex((f) => f.command === command);
        if (i !== -1) return frames.splice(i, 1)[0];
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no ${command} frame; got ${frames.map((f) => f.command).join(',')}`);
        await new Promise<void>((r) => { const t = setTimeout(r, left); waiters.push(() => { clearTimeout(t); r(); }); });
      }
    },
  };
}

describe('relay embedded in a host express app with its own passport strategy', function () {
  this.timeout(20_000);
  let relay: Relay;
  let server: http.Server;
  let base: string;

  before(async () => {
    const pp = new passport.Passport();
    pp.use('cookie', cookieStrategy() as unknown as passport.Strategy);
    const app = express();
    app.get('/hello', (_req, res) => { res.send('from the host'); });
    relay = createRelay({
      logger: silentLogger(),
      serveDemo: false,
      authenticator: new PassportAuthenticator({ passport: pp, strategy: 'cookie' }),
      pushAuth: { passport: pp, strategy: 'cookie' },
    });
    relay.onMessage('/hello', { sendToUser: '/topic/greetings' }, (msg) => `hello, ${msg.user}: ${msg.text()}`);
    app.use(relay.router);
    server = http.createServer(app);
    relay.attach(server);
    await relay.start();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await relay.close();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('keeps serving the host application\'s own routes', async () => {
    expect(await (await fetch(`http://${base}/hello`)).text()).to.equal('from the host');
  });

  it('leaves other WebSocket endpoints the host adds after attach() working', async () => {
    const hostWss = new WebSocket.Server({ noServer: true });
    const onUpgrade = (req: http.IncomingMessage, socket: import('node:stream').Duplex, head: Buffer) => {
      if (req.url === '/host-ws') hostWss.handleUpgrade(req, socket, head, (ws) => ws.send('host socket'));
    };
    server.on('upgrade', onUpgrade);
    try {
      const ws = new WebSocket(`ws://${base}/host-ws`);
      const first = await new Promise<string>((resolve, reject) => {
        ws.once('message', (d: Buffer) => resolve(d.toString()));
        ws.once('error', reject);
      });
      expect(first).to.equal('host socket');
      ws.close();
    } finally {
      server.off('upgrade', onUpgrade);
      hostWss.close();
    }
  });

  it('names the WebSocket session\'s user from the host\'s session cookie', async () => {
    const c = rawStomp(`ws://${base}/ws`, { Cookie: 'sid=token-alice' });
    await c.send('CONNECT', { 'accept-version': '1.2', host: 'x' });
    expect((await c.next('CONNECTED')).headers['user-name']).to.equal('alice');
    c.ws.close();
  });

  it('refuses a WebSocket session without the cookie with ERROR AUTHENTICATION_FAILED', async () => {
    const c = rawStomp(`ws://${base}/ws`, {});
    await c.send('CONNECT', { 'accept-version': '1.2', host: 'x', login: 'alice' });
    const error = await c.next('ERROR');
    expect(error.headers.code).to.equal('AUTHENTICATION_FAILED');
    expect(error.headers.message).to.match(/cookie/);
  });

  it('sees the cookie of a SockJS xhr session too (SockJS itself drops it)', async () => {
    const session = `/sockjs/000/${Math.random().toString(36).slice(2)}`;
    const cookie = { Cookie: 'sid=token-bob' };
    expect(await (await fetch(`http://${base}${session}/xhr`, { method: 'POST', headers: cookie })).text()).to.equal('o\n');
    const connect = encodeFrame({ command: 'CONNECT', headers: headers({ 'accept-version': '1.2', host: 'x' }), body: Buffer.alloc(0) }, '1.2').toString();
    const sent = await fetch(`http://${base}${session}/xhr_send`, { method: 'POST', headers: { 'content-type': 'text/plain', ...cookie }, body: JSON.stringify([connect]) });
    expect(sent.status).to.equal(204);
    const reply = await (await fetch(`http://${base}${session}/xhr`, { method: 'POST', headers: cookie })).text();
    expect(reply.startsWith('a[')).to.equal(true);
    const frame = (JSON.parse(reply.slice(1)) as string[])[0];
    expect(frame).to.match(/^CONNECTED\n/);
    expect(frame).to.include('user-name:bob\n');
  });

  it('runs an application handler and sends its reply to the sender\'s user destination (@SendToUser)', async () => {
    const c = rawStomp(`ws://${base}/ws`, { Cookie: 'sid=token-alice' });
    await c.send('CONNECT', { 'accept-version': '1.2', host: 'x' });
    await c.next('CONNECTED');
    await c.send('SUBSCRIBE', { id: 'g', destination: '/user/topic/greetings', receipt: 'sub' });
    await c.next('RECEIPT');
    await c.send('SEND', { destination: '/app/hello', receipt: 'sent' }, 'world');
    await c.next('RECEIPT');
    const message = await c.next('MESSAGE');
    expect(message.body.toString()).to.equal('hello, alice: world');
    expect(message.headers.destination).to.equal('/user/topic/greetings');
    c.ws.close();
  });

  it('authenticates pushes with the host strategy: 401 without the cookie, 202 with it', async () => {
    const body = JSON.stringify({ destination: '/queue/x', payload: 'hi' });
    const denied = await fetch(`http://${base}/push/alice`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(denied.status).to.equal(401);
    expect(((await denied.json()) as { error: { code: string } }).error.code).to.equal('UNAUTHORIZED');
    const ok = await fetch(`http://${base}/push/alice`, { method: 'POST', headers: { 'content-type': 'application/json', Cookie: 'sid=token-bob' }, body });
    expect(ok.status).to.equal(202);
  });

  it("grants a host strategy's users only the push scope unless authorize() says more: publish and admin routes answer 403", async () => {
    const cookie = { 'content-type': 'application/json', Cookie: 'sid=token-bob' };
    const publish = await fetch(`http://${base}/publish`, { method: 'POST', headers: cookie, body: JSON.stringify({ destination: '/topic/x', payload: 1 }) });
    expect(publish.status).to.equal(403);
    expect(((await publish.json()) as { error: { message: string } }).error.message).to.include('"publish"');
    const revoke = await fetch(`http://${base}/users/alice/sessions`, { method: 'DELETE', headers: cookie });
    expect(revoke.status).to.equal(403);
    const list = await fetch(`http://${base}/users`, { headers: cookie });
    expect(list.status).to.equal(403);
    expect((await fetch(`http://${base}/users/alice`, { headers: cookie })).status, 'one user\'s presence comes with push').to.equal(200);
  });
});

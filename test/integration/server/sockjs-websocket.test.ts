/**
 * SockJS's WebSocket transports on a real relay, now on the relay's own `ws` machinery
 * (server/transport/sockjs-websocket.ts; frame-level comparison with sockjs itself is in
 * test/unit/transport/sockjs-websocket.test.ts): sockjs-client 1.6 doing a STOMP session, the
 * oversize message's 1009, SockJS messages that are JSON but not strings,
 * and the credential binding of SockJS session ids when a WebSocket names one.
 */
import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import * as net from 'node:net';
import { WebSocket } from 'ws';
import {
  SockJsXhr, closeAll, connect, encodeRawFrame, request, sockjsFactory, startRelay, unique, within, wsClient,
  type TestClient, type TestRelay,
} from '../../harness/stomp-test-kit';

const SECRET = 'integration-secret-0123456789';
const MAX_WS_MESSAGE = 64 * 1024;
const token = (sub: string) => jwt.sign({ sub }, SECRET, { algorithm: 'HS256', expiresIn: '5m' });
const stomp = (command: string, headers: Record<string, string> = {}, body = '') => encodeRawFrame(command, headers, body).toString('utf8');

describe('SockJS WebSocket transports on the relay', () => {
  let server: TestRelay;
  const open: Array<{ close(): Promise<void> }> = [];
  before(async () => {
    server = await startRelay({ authJwtSecret: SECRET, limits: { maxWsMessageBytes: MAX_WS_MESSAGE } });
  });
  after(async () => { await server.close(); });
  afterEach(async () => { await closeAll(open.splice(0)); });

  /** A /ws client of its own, to show the relay is still up and delivering. */
  async function relayStillDelivers(): Promise<void> {
    const user = unique('bystander');
    const client: TestClient = await wsClient(server, { connectHeaders: { passcode: token(user) } });
    open.push(client);
    const topic = `/topic/${unique('alive')}`;
    const sub = await client.subscribe(topic);
    await client.publish(topic, 'alive');
    expect((await sub.messages.next()).body).to.equal('alive');
  }

  it('carries a STOMP session for sockjs-client 1.6 over its websocket transport: CONNECT, SUBSCRIBE, MESSAGE (text sockjs quotes), close', async () => {
    const alice = unique('alice');
    const url = `${server.sockjsUrl}?access_token=${token(alice)}`;
    const client = await connect(sockjsFactory(url, 'websocket'));
    open.push(client);
    expect(client.connected.headers['user-name']).to.equal(alice);
    const topic = `/topic/${unique('chat')}`;
    const sub = await client.subscribe(topic);
    const body = 'line\u2028sep\u2029 zw\u200c bom\ufeff 😀 𐀀 "quoted" \\ é';
    await client.publish(topic, body);
    expect((await sub.messages.next()).body).to.equal(body);
    await client.close();
    expect(client.client.connected).to.equal(false);
  });

  it('closes the framed WebSocket on a message above MAX_WS_MESSAGE_BYTES (1009, as sockjs did) and stays up', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/sockjs/1/${unique('s')}/websocket`);
    const closed = new Promise<[number, string]>((resolve) => ws.on('close', (code, reason) => resolve([code, reason.toString()])));
    ws.on('message', (data) => { if (data.toString() === 'o') ws.send(JSON.stringify(['z'.repeat(MAX_WS_MESSAGE)])); });
    expect(await within(closed, 'the close')).to.deep.equal([1009, 'WebSocket frame length too large']);
    await relayStillDelivers();
  });

  it('closes a SockJS session whose xhr_send carries JSON that is not strings ([1]) with c[3000,"Broken framing."], and stays up', async () => {
    const base = `${server.sockjsUrl}/1/${unique('s')}`;
    const xhr = new SockJsXhr(base);
    expect((await xhr.poll()).kinds).to.deep.equal(['o']);
    const sent = await request(`${base}/xhr_send`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '[1]' });
    expect(sent.status).to.equal(204);
    expect((await xhr.poll()).text).to.equal('c[3000,"Broken framing."]\n');
    await relayStillDelivers();
  });

  it('closes a framed WebSocket sending [1] as broken framing (3000) and stays up', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/sockjs/1/${unique('s')}/websocket`);
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    ws.on('message', (data) => { if (data.toString() === 'o') ws.send('[1]'); });
    expect(await within(closed, 'the close')).to.equal(3000);
    await relayStillDelivers();
  });

  describe('SockJS session ids named by a WebSocket', () => {
    /** An xhr-polling session of alice's, opened and bound with her token. */
    async function alicesSession(): Promise<{ base: string; sessionId: string; query: string; owner: SockJsXhr }> {
      const sessionId = unique('sess');
      const base = `${server.sockjsUrl}/7/${sessionId}`;
      const query = `access_token=${token(unique('alice'))}`;
      const owner = new SockJsXhr(base, query);
      expect((await owner.poll()).kinds).to.deep.equal(['o']);
      return { base, sessionId, query, owner };
    }

    /** The status a framed WebSocket handshake naming `sessionId` gets (101 when it opens). */
    async function handshake(sessionId: string, query = ''): Promise<{ status: number; ws?: WebSocket }> {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/sockjs/7/${sessionId}/websocket${query}`);
      ws.on('error', () => undefined);
      return within(new Promise((resolve) => {
        ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0 }));
        ws.once('open', () => resolve({ status: 101, ws }));
      }), 'the handshake answer');
    }

    it("refuses a WebSocket naming alice's session without her token (404), takes one with it, and her session stays hers after it closed", async () => {
      const { base, sessionId, query } = await alicesSession();
      expect((await handshake(sessionId)).status).to.equal(404);
      const hers = await handshake(sessionId, `?${query}`);
      expect(hers.status).to.equal(101);
      const closed = new Promise((resolve) => hers.ws!.once('close', resolve));
      hers.ws!.close();
      await within(closed, 'her WebSocket to close');
      expect((await new SockJsXhr(base).poll()).status, 'a poll without her token').to.equal(404);
    });

    it("refuses a poll of alice's session spelled with backslashes (sockjs reads them as slashes), 404 at once", async () => {
      const { sessionId } = await alicesSession();
      for (const path of [`/sockjs/7/${sessionId}\\xhr`, `/sockjs\\7\\${sessionId}\\xhr`]) {
        const answer = await within(new Promise<string>((resolve) => {
          const socket = net.connect(server.port, '127.0.0.1');
          let got = '';
          socket.on('data', (chunk) => {
            got += chunk.toString('latin1');
            if (got.includes('\r\n')) { socket.destroy(); resolve(got.slice(0, got.indexOf('\r\n'))); }
          });
          socket.on('error', () => undefined);
          socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`);
        }), `the answer to POST ${path}`);
        expect(answer, path).to.equal('HTTP/1.1 404 Not Found');
      }
    });

    it('binds the session id of a framed WebSocket opened with a token while it is open', async () => {
      const sessionId = unique('sess');
      const opened = await handshake(sessionId, `?access_token=${token(unique('bob'))}`);
      expect(opened.status).to.equal(101);
      expect((await new SockJsXhr(`${server.sockjsUrl}/7/${sessionId}`).poll()).status).to.equal(404);
      expect((await handshake(sessionId)).status).to.equal(404);
      opened.ws!.terminate();
    });

    it('still answers SEND from a bound session over xhr after a WebSocket with the same credential came and went', async () => {
      const { sessionId, query, owner } = await alicesSession();
      const ws = (await handshake(sessionId, `?${query}`)).ws!;
      ws.terminate();
      expect(await owner.send(stomp('CONNECT', { 'accept-version': '1.2', host: 'x' }))).to.equal(204);
      expect((await owner.nextMessages('CONNECTED'))[0]).to.match(/^CONNECTED\n/);
    });
  });
});

/**
 * SockJS's WebSocket transports on the relay's own `ws` machinery (server/transport/sockjs-websocket.ts),
 * side by side with sockjs-node 0.3.24 itself serving the same paths: a raw `ws` client records every
 * frame, ping and close each server sends for the same script, and the two records must be equal
 * (and equal to the frames written out here). Real sockets, both servers on loopback.
 */
import { expect } from 'chai';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import sockjs from 'sockjs';
import { WebSocket } from 'ws';
import { silentLogger } from '../../../server/observability/logger';
import { SockJsEndpoint } from '../../../server/transport/sockjs-transport';
import { messageFrame } from '../../../server/transport/sockjs-framing';
import { SockJsWebSocketTransport } from '../../../server/transport/sockjs-websocket';
import type { Transport } from '../../../server/transport/transport';
import { Inbox, within } from '../../harness/stomp-test-kit';

/** Characters sockjs's utils.quote writes as \uXXXX (controls are JSON's own escapes), and a surrogate pair. */
const ESCAPED = '\u2028\u2029\u200c\u2060\ufff0\u0001 😀 𐀀 "\\ é';
const MAX_MESSAGE_BYTES = 200;

/** What the scripted application does with each message, on either server. */
function answer(message: string): { close: [number, string] } | { write: string } {
  if (message === 'close') return { close: [4001, 'bye now'] };
  return { write: message + ESCAPED };
}

interface Servers {
  ours: string;
  theirs: string;
  /** Transports the relay's endpoint made, in order. */
  transports: Transport[];
  /** messageTooLarge reports, by transport index. */
  tooLarge: Inbox<number>;
  close(): Promise<void>;
}

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return (server.address() as AddressInfo).port;
}

async function startServers(heartbeatDelayMs = 25_000, pongTimeoutMs = 10_000): Promise<Servers> {
  const transports: Transport[] = [];
  const tooLarge = new Inbox<number>();
  const endpoint = new SockJsEndpoint({
    prefix: '/sockjs',
    maxMessageBytes: MAX_MESSAGE_BYTES,
    heartbeatDelayMs,
    pongTimeoutMs,
    logger: silentLogger(),
    onTransport(transport) {
      transports.push(transport);
      transport.bind({
        data(chunk) {
          const step = answer(chunk.toString('utf8'));
          if ('close' in step) transport.close(...step.close);
          else transport.send(Buffer.from(step.write, 'utf8'), false);
        },
        messageTooLarge(limit) {
          tooLarge.push(limit);
          transport.send(Buffer.from(`too large: ${limit}`), false);
        },
        close() {},
      });
    },
  });
  const oursServer = http.createServer((req, res) => {
    if (!endpoint.handle(req, res)) res.writeHead(404).end();
  });
  oursServer.on('upgrade', (req, socket, head) => {
    if (!endpoint.handle(req, socket, head)) socket.destroy();
  });
  const reference = sockjs.createServer({ prefix: '/sockjs', heartbeat_delay: heartbeatDelayMs, log: () => undefined, faye_server_options: { maxLength: MAX_MESSAGE_BYTES } } as sockjs.ServerOptions);
  reference.on('connection', (conn) => {
    conn.on('data', (message: string) => {
      const step = answer(message);
      if ('close' in step) (conn.close as unknown as (code: number, reason: string) => void)(...step.close);
      else conn.write(step.write);
    });
  });
  const theirsServer = http.createServer();
  reference.installHandlers(theirsServer);
  const [oursPort, theirsPort] = [await listen(oursServer), await listen(theirsServer)];
  return {
    ours: `127.0.0.1:${oursPort}`,
    theirs: `127.0.0.1:${theirsPort}`,
    transports,
    tooLarge,
    async close() {
      endpoint.close();
      for (const server of [oursServer, theirsServer]) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    },
  };
}

type PeerEvent = { kind: 'message'; text: string; binary: boolean } | { kind: 'ping'; hex: string } | { kind: 'close'; code: number; reason: string };

/** A raw `ws` client that records what the server sends. */
class Peer {
  readonly events = new Inbox<PeerEvent>();
  readonly closed: Promise<void>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, binary) => this.events.push({ kind: 'message', text: (data as Buffer).toString('utf8'), binary }));
    ws.on('ping', (data) => this.events.push({ kind: 'ping', hex: data.toString('hex') }));
    ws.on('error', () => undefined);
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => {
      this.events.push({ kind: 'close', code, reason: reason.toString() });
      resolve();
    }));
  }

  static async open(url: string, options: { autoPong?: boolean } = {}): Promise<Peer> {
    const peer = new Peer(new WebSocket(url, { autoPong: options.autoPong ?? true }));
    await within(new Promise<void>((resolve, reject) => {
      peer.ws.once('open', () => resolve());
      peer.ws.once('unexpected-response', (_req, res) => reject(new Error(`handshake answered ${res.statusCode}`)));
    }), `handshake with ${url}`);
    return peer;
  }

  async next(): Promise<PeerEvent> {
    return this.events.next('the next frame from the server');
  }

  /** Everything received until the server closed. */
  async untilClosed(): Promise<PeerEvent[]> {
    await within(this.closed, 'the server to close');
    return this.events.all;
  }
}

const text = (t: string): PeerEvent => ({ kind: 'message', text: t, binary: false });

describe('transport: SockJS WebSocket transports on ws, against sockjs 0.3.24', () => {
  let servers: Servers;
  const peers: Peer[] = [];
  afterEach(async () => {
    for (const peer of peers.splice(0)) peer.ws.terminate();
    await servers?.close();
  });

  async function both<T>(run: (host: string) => Promise<T>): Promise<{ ours: T; theirs: T }> {
    return { ours: await run(servers.ours), theirs: await run(servers.theirs) };
  }

  async function framed(host: string, options: { autoPong?: boolean } = {}): Promise<Peer> {
    const peer = await Peer.open(`ws://${host}/sockjs/000/${Math.random().toString(36).slice(2)}/websocket`, options);
    peers.push(peer);
    return peer;
  }

  it('framed: o, one a["…"] per write with sockjs quoting, array / single-string / empty payloads, then c[code,"reason"] and close 1000', async () => {
    servers = await startServers();
    const { ours, theirs } = await both(async (host) => {
      const peer = await framed(host);
      expect(await peer.next()).to.deep.equal(text('o'));
      peer.ws.send(JSON.stringify(['hello', 'x\n']));
      peer.ws.send(JSON.stringify('single'));
      peer.ws.send('');
      peer.ws.send(JSON.stringify(['\n'])); // a STOMP heart-beat, the relay's fast path
      peer.ws.send(JSON.stringify(['close']));
      return peer.untilClosed();
    });
    expect(ours).to.deep.equal([
      text('o'),
      text(messageFrame('hello' + ESCAPED)),
      text(messageFrame('x\n' + ESCAPED)),
      text(messageFrame('single' + ESCAPED)),
      text(messageFrame('\n' + ESCAPED)),
      text('c[4001,"bye now"]'),
      { kind: 'close', code: 1000, reason: 'Normal closure' },
    ]);
    expect(ours).to.deep.equal(theirs);
    // The quoting itself, written out: sockjs's escapable set as \uXXXX, surrogates one by one.
    expect(messageFrame('\u2028😀𐀀')).to.equal('a["\\u2028\\ud83d\\ude00\\ud800\\udc00"]');
  });

  it('framed: broken JSON closes the WebSocket 3000 "Broken framing." with no c frame', async () => {
    servers = await startServers();
    const { ours, theirs } = await both(async (host) => {
      const peer = await framed(host);
      await peer.next();
      peer.ws.send('["fine"]');
      peer.ws.send('["broken');
      return peer.untilClosed();
    });
    expect(ours).to.deep.equal([text('o'), text(messageFrame('fine' + ESCAPED)), { kind: 'close', code: 3000, reason: 'Broken framing.' }]);
    expect(ours).to.deep.equal(theirs);
  });

  it('framed: JSON that is not strings ([1], null, {}) is broken framing too (sockjs would hand the application a number)', async () => {
    servers = await startServers();
    for (const payload of ['[1]', 'null', '{"a":1}', '["ok", 2]']) {
      const peer = await framed(servers.ours);
      await peer.next();
      peer.ws.send(payload);
      expect(await peer.untilClosed(), payload).to.deep.equal([text('o'), { kind: 'close', code: 3000, reason: 'Broken framing.' }]);
    }
  });

  it('framed: a ping every heart-beat delay, answered by the pong; without pongs, c[3000,"No response from heartbeat"] and close 1000', async () => {
    servers = await startServers(40, 150);
    const { ours, theirs } = await both(async (host) => {
      const peer = await framed(host);
      const got = [await peer.next(), await peer.next(), await peer.next()];
      peer.ws.terminate();
      return got;
    });
    expect(ours).to.deep.equal([text('o'), { kind: 'ping', hex: '' }, { kind: 'ping', hex: '' }]);
    expect(ours).to.deep.equal(theirs);
    // A client that never answers pings (sockjs waits 10 s; this endpoint was given 150 ms).
    const silent = await framed(servers.ours, { autoPong: false });
    const events = await silent.untilClosed();
    expect(events[0]).to.deep.equal(text('o'));
    expect(events.slice(1, -2).every((e) => e.kind === 'ping'), JSON.stringify(events)).to.equal(true);
    expect(events.slice(-2)).to.deep.equal([text('c[3000,"No response from heartbeat"]'), { kind: 'close', code: 1000, reason: 'Normal closure' }]);
  });

  it('a message above maxMessageBytes: close 1009 "WebSocket frame length too large" as faye sends it, no ERROR first (as on sockjs)', async () => {
    servers = await startServers();
    for (const path of ['/sockjs/1/big/websocket', '/sockjs/websocket']) {
      const framedPath = path !== '/sockjs/websocket';
      const { ours, theirs } = await both(async (host) => {
        const peer = await Peer.open(`ws://${host}${path}`);
        peers.push(peer);
        if (framedPath) await peer.next();
        peer.ws.send(JSON.stringify(['z'.repeat(MAX_MESSAGE_BYTES)]));
        return (await peer.untilClosed()).slice(framedPath ? 1 : 0);
      });
      expect(ours, path).to.deep.equal([{ kind: 'close', code: 1009, reason: 'WebSocket frame length too large' }]);
      expect(ours, path).to.deep.equal(theirs);
    }
    expect(servers.tooLarge.pending).to.equal(0);
  });

  it('raw /sockjs/websocket: plain text frames, no SockJS framing, the close code and reason as given', async () => {
    servers = await startServers(40);
    const { ours, theirs } = await both(async (host) => {
      const peer = await Peer.open(`ws://${host}/sockjs/websocket`);
      peers.push(peer);
      peer.ws.send('hello');
      expect(await peer.next()).to.deep.equal(text('hello' + ESCAPED));
      peer.ws.send('close');
      return peer.untilClosed();
    });
    expect(ours).to.deep.equal([text('hello' + ESCAPED), { kind: 'close', code: 4001, reason: 'bye now' }]);
    expect(ours).to.deep.equal(theirs);
    expect(servers.transports.map((t) => t.handshake.protocol)).to.deep.equal(['websocket-raw']);
  });

  it('exposes the handshake as the sockjs adapter did: protocol, url, address; every header framed, sockjs\'s few raw', async () => {
    servers = await startServers();
    const headers = { cookie: 'a=1', authorization: 'Bearer t', 'user-agent': 'test-agent' };
    for (const path of ['/sockjs/1/h/websocket?access_token=x', '/sockjs/websocket?access_token=y']) {
      const ws = new WebSocket(`ws://${servers.ours}${path}`, { headers });
      await within(new Promise((resolve) => ws.once('open', resolve)), 'open');
      ws.terminate();
    }
    const [framedT, rawT] = servers.transports;
    expect(framedT!.kind).to.equal('sockjs');
    expect(framedT!.textOnly).to.equal(true);
    expect(framedT!.handshake).to.include({ url: '/sockjs/1/h/websocket?access_token=x', protocol: 'websocket', remoteAddress: '127.0.0.1' });
    expect(framedT!.handshake.headers).to.include(headers);
    expect(rawT!.handshake).to.include({ url: '/sockjs/websocket?access_token=y', protocol: 'websocket-raw' });
    expect(rawT!.handshake.headers).to.deep.equal({ host: servers.ours, 'user-agent': 'test-agent' });
  });

  describe('requests the relay does not take are sockjs\'s to answer, byte for byte', () => {
    const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
    const upgrade = (path: string, extra: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n${extra}\r\n`;
    const REQUESTS: Record<string, string> = {
      'a plain GET of the framed path': 'GET /sockjs/1/abc/websocket HTTP/1.1\r\nHost: x\r\n\r\n',
      'a plain GET of the raw path': 'GET /sockjs/websocket HTTP/1.1\r\nHost: x\r\n\r\n',
      'Upgrade without Connection: Upgrade': `GET /sockjs/1/abc/websocket HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${KEY}\r\n\r\n`,
      'an upgrade to something else': 'GET /sockjs/1/abc/websocket HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n',
      'version 7, framed': upgrade('/sockjs/1/abc/websocket', `Sec-WebSocket-Version: 7\r\nSec-WebSocket-Key: ${KEY}\r\n`),
      'version 7, raw': upgrade('/sockjs/websocket', `Sec-WebSocket-Version: 7\r\nSec-WebSocket-Key: ${KEY}\r\n`),
      'version 8, raw': upgrade('/sockjs/websocket', `Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: ${KEY}\r\n`),
      'no key': upgrade('/sockjs/1/abc/websocket', 'Sec-WebSocket-Version: 13\r\n'),
      'POST to the framed path': 'POST /sockjs/1/abc/websocket HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n',
      'a session id with a dot': upgrade('/sockjs/1/a.bc/websocket', `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${KEY}\r\n`),
      'a good handshake, framed (subprotocols offered, none chosen)': upgrade('/sockjs/1/abc/websocket/?q=1', `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Protocol: v12.stomp\r\n`),
      'a subprotocol header ws cannot read': upgrade('/sockjs/websocket', `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Protocol: a b,,\r\n`),
      'a good handshake, raw (two subprotocols offered, none chosen)': upgrade('/sockjs/websocket', `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Protocol: v12.stomp, \tv11.stomp\r\n`),
      'a good handshake, raw (deflate offered, not taken)': `GET /sockjs/websocket HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n`,
    };

    /** The response to `request`, read until it is complete (by its length, chunked end, close, or a 101 and its first frame). */
    function exchange(host: string, request: string): Promise<string> {
      const [address, port] = host.split(':');
      return within(new Promise<string>((resolve) => {
        const socket = net.connect(Number(port), address!);
        let got = '';
        const done = () => { socket.destroy(); resolve(got.replace(/^(Date|Expires): .*\r\n/gm, '')); };
        socket.on('data', (chunk) => {
          got += chunk.toString('latin1');
          const headEnd = got.indexOf('\r\n\r\n');
          if (headEnd === -1) return;
          const head = got.slice(0, headEnd);
          const body = got.slice(headEnd + 4);
          const length = /\r\ncontent-length: *(\d+)/i.exec(head);
          if (head.startsWith('HTTP/1.1 101')) {
            if (!request.includes('/sockjs/websocket') ? body.length >= 3 : true) done();
          } else if (length !== null) {
            if (body.length >= Number(length[1])) done();
          } else if (/\r\ntransfer-encoding: *chunked/i.test(head) && body.endsWith('0\r\n\r\n')) {
            done();
          }
        });
        socket.on('close', done);
        socket.on('error', () => undefined);
        socket.write(request);
      }), `an answer to ${JSON.stringify(request.split('\r\n')[0])} from ${host}`);
    }

    for (const [name, requestText] of Object.entries(REQUESTS)) {
      it(name, async () => {
        servers = await startServers();
        const { ours, theirs } = await both((host) => exchange(host, requestText));
        expect(ours).to.equal(theirs);
        expect(ours).to.match(/^HTTP\/1\.1 (101|400|404|405) /);
        // The good handshakes are the relay's own; sockjs answered the rest.
        const taken = servers.transports.filter((t) => t instanceof SockJsWebSocketTransport).length;
        expect(taken).to.equal(name.startsWith('a good handshake') ? 1 : 0);
      });
    }
  });
});

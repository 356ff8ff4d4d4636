/**
 * A scripted STOMP peer for testing the browser client without the relay: an HTTP server that
 * serves the built client bundle and a blank page, answers STOMP over WebSocket at /ws and over
 * SockJS at /sockjs, records every frame it receives, and lets the test push MESSAGE frames or drop
 * connections. It understands just enough STOMP for that (text frames, no content-length bodies
 * with NUL); the real codec lives in server/codec.
 */
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { join, resolve } from 'node:path';
import sockjs from 'sockjs';
import { WebSocketServer } from 'ws';

export interface ReceivedFrame {
  command: string;
  headers: Record<string, string>;
  body: string;
}

/** One client connection as the peer sees it. */
export interface PeerConnection {
  readonly transport: 'websocket' | 'sockjs';
  /** Request URL of the handshake (SockJS: of the session's first request). */
  readonly url: string;
  readonly frames: ReceivedFrame[];
  /** CONNECT `login`, once connected. */
  readonly login: string | undefined;
  /** Live subscriptions: id → destination. */
  readonly subscriptions: Map<string, string>;
  send(command: string, headers: Record<string, string>, body?: string): void;
  /** Drops the connection without DISCONNECT, as a dying instance would. */
  drop(): void;
}

export interface ScriptedPeer {
  readonly url: string;
  readonly connections: PeerConnection[];
  /** When false, /ws answers 404 to upgrades (WebSocket blocked), so 'auto' must fall back. */
  acceptWebSocket: boolean;
  /** CONNECT logins answered with ERROR AUTHENTICATION_FAILED (then the connection closes), as the relay refuses bad credentials. */
  readonly refusedLogins: Set<string>;
  /** Ends every connection of `login` with ERROR `code` (as the relay's SESSION_REVOKED does). */
  endSessionsOf(login: string, code: string, message: string): void;
  /** Resolves when `predicate` holds, polling every 20 ms; rejects after `timeoutMs`. */
  waitFor<T>(predicate: () => T | undefined | false, timeoutMs?: number, what?: string): Promise<T>;
  close(): Promise<void>;
}

const DIST_CLIENT = resolve(__dirname, '..', '..', '..', 'dist', 'client');
const DEMO_DIR = resolve(__dirname, '..', '..', '..', 'client', 'demo');
const CONTENT_TYPES: Record<string, string> = { js: 'text/javascript', css: 'text/css', html: 'text/html', map: 'application/json' };

function parseFrames(data: string): ReceivedFrame[] {
  const frames: ReceivedFrame[] = [];
  for (const raw of data.split('\0')) {
    const text = raw.replace(/^[\r\n]+/, '');
    if (text === '') continue; // heart-beats
    const split = text.indexOf('\n\n');
    const head = split === -1 ? text : text.slice(0, split);
    const [command, ...lines] = head.split('\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon > 0 && !(line.slice(0, colon) in headers)) headers[line.slice(0, colon)] = line.slice(colon + 1);
    }
    frames.push({ command, headers, body: split === -1 ? '' : text.slice(split + 2) });
  }
  return frames;
}

function serialize(command: string, headers: Record<string, string>, body = ''): string {
  return `${command}\n${Object.entries(headers).map(([k, v]) => `${k}:${v}`).join('\n')}\n\n${body}\0`;
}

export async function startScriptedPeer(): Promise<ScriptedPeer> {
  const connections: PeerConnection[] = [];
  const refusedLogins = new Set<string>();
  let sessionCounter = 0;

  const attach = (transport: 'websocket' | 'sockjs', url: string, write: (s: string) => void, end: () => void): ((data: string) => void) => {
    const frames: ReceivedFrame[] = [];
    const connection: PeerConnection & { login: string | undefined } = {
      transport,
      url,
      frames,
      login: undefined,
      subscriptions: new Map(),
      send: (command, headers, body) => write(serialize(command, headers, body)),
      drop: end,
    };
    connections.push(connection);
    return (data) => {
      for (const frame of parseFrames(data)) {
        frames.push(frame);
        if ((frame.command === 'CONNECT' || frame.command === 'STOMP') && refusedLogins.has(frame.headers.login)) {
          connection.send('ERROR', { code: 'AUTHENTICATION_FAILED', message: 'authentication failed: unknown user' }, '');
          // The relay closes once the ERROR is flushed; a moment later here, so it is not cut off.
          setTimeout(() => connection.drop(), 50);
        } else if (frame.command === 'CONNECT' || frame.command === 'STOMP') {
          connection.login = frame.headers.login;
          connection.send('CONNECTED', {
            version: '1.2',
            'heart-beat': '0,0',
            'user-name': frame.headers.login ?? 'anonymous',
            server: 'scripted-peer/1',
            session: `s${++sessionCounter}`,
          });
        } else if (frame.command === 'SUBSCRIBE') {
          connection.subscriptions.set(frame.headers.id, frame.headers.destination);
        } else if (frame.command === 'UNSUBSCRIBE') {
          connection.subscriptions.delete(frame.headers.id);
        } else if (frame.command === 'SEND' && frame.headers.destination.startsWith('/topic/')) {
          // A broadcast topic, as the relay would do it: every subscription on every connection.
          deliver(() => true, frame.headers.destination, frame.body, frame.headers['content-type']);
        } else if (frame.command === 'SEND' && /^\/user\/[^/]+\//.test(frame.headers.destination)) {
          // A private message, as the relay routes it: /user/{name}/queue/x reaches that user's /user/queue/x.
          const [, name, inner] = /^\/user\/([^/]+)(\/.*)$/.exec(frame.headers.destination)!;
          const user = decodeURIComponent(name);
          deliver((c) => c.login === user, `/user${inner}`, frame.body, frame.headers['content-type']);
        } else if (frame.command === 'DISCONNECT' && frame.headers.receipt) {
          connection.send('RECEIPT', { 'receipt-id': frame.headers.receipt });
        }
      }
    };
  };

  let messageCounter = 0;
  /** Sends a MESSAGE to every subscription on `destination` of the connections `accept` picks. */
  const deliver = (accept: (c: PeerConnection) => boolean, destination: string, body: string, contentType?: string): number => {
    let sessions = 0;
    for (const c of connections) {
      if (!accept(c)) continue;
      let hit = false;
      for (const [id, subscribed] of c.subscriptions) {
        if (subscribed !== destination) continue;
        hit = true;
        c.send('MESSAGE', { destination, subscription: id, 'message-id': `m${++messageCounter}`, ...(contentType ? { 'content-type': contentType } : {}) }, body);
      }
      if (hit) sessions++;
    }
    return sessions;
  };

  const serveFile = async (res: import('node:http').ServerResponse, dir: string, name: string): Promise<void> => {
    try {
      const file = await readFile(join(dir, name.replace(/\.\.+/g, '')));
      res.writeHead(200, { 'content-type': CONTENT_TYPES[name.split('.').pop() ?? ''] ?? 'application/octet-stream' }).end(file);
    } catch {
      res.writeHead(404).end();
    }
  };

  const http: Server = createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path.startsWith('/client/')) return serveFile(res, DIST_CLIENT, path.slice('/client/'.length));
    if (path === '/demo' || path === '/demo/') return serveFile(res, DEMO_DIR, 'index.html');
    if (path.startsWith('/demo/')) return serveFile(res, DEMO_DIR, path.slice('/demo/'.length));
    if (path === '/instance') {
      // As a relay on the embedded broker answers: one instance.
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"instanceId":"scripted-peer","broker":"memory","instances":1}');
      return;
    }
    if (path.startsWith('/push/') && req.method === 'POST') {
      // The push API's contract: deliver to the user's /user<destination> subscriptions, 202 with a count.
      const user = decodeURIComponent(path.slice('/push/'.length));
      let raw = '';
      for await (const chunk of req) raw += chunk;
      const { destination, payload } = JSON.parse(raw) as { destination: string; payload: unknown };
      const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
      const sessions = deliver((c) => c.login === user, `/user${destination}`, body, typeof payload === 'string' ? undefined : 'application/json');
      res.writeHead(202, { 'content-type': 'application/json' }).end(JSON.stringify({ user, sessions }));
      return;
    }
    if (path === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>client test</title><body></body>');
      return;
    }
    if (!path.startsWith('/sockjs')) res.writeHead(404).end();
  });

  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (protocols) => (protocols.has('v12.stomp') ? 'v12.stomp' : false),
  });
  const sock = sockjs.createServer({ prefix: '/sockjs', log: () => {} });
  sock.on('connection', (conn) => {
    if (!conn) return;
    const onData = attach('sockjs', conn.url, (s) => conn.write(s), () => conn.close());
    conn.on('data', onData);
  });
  sock.installHandlers(http);

  const peer: ScriptedPeer = {
    url: '',
    connections,
    acceptWebSocket: true,
    refusedLogins,
    endSessionsOf(login, code, message) {
      for (const c of connections) {
        if (c.login !== login) continue;
        c.send('ERROR', { code, message }, '');
        setTimeout(() => c.drop(), 50);
      }
    },
    async waitFor(predicate, timeoutMs = 5000, what = 'condition') {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const value = predicate();
        if (value !== undefined && value !== false) return value as never;
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async close() {
      for (const client of wss.clients) client.terminate();
      http.closeAllConnections();
      http.close();
      await once(http, 'close');
    },
  };

  http.on('upgrade', (req: IncomingMessage, socket, head) => {
    if (!req.url?.startsWith('/ws')) return; // SockJS's own upgrade handler takes /sockjs
    if (!peer.acceptWebSocket) {
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const onData = attach('websocket', req.url ?? '', (s) => ws.send(s), () => ws.terminate());
      ws.on('message', (data) => onData(data.toString()));
    });
  });

  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const address = http.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return Object.assign(peer, { url: `http://127.0.0.1:${address.port}` });
}

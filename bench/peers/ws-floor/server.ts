/**
 * The floor of bench/fanout.ts: a plain `ws` server with no protocol at all. Sockets on `/sub` are
 * receivers; every message a socket on `/pub` sends is written, byte for byte, to every receiver.
 * The publisher sends what the relay would write to a subscriber (a STOMP MESSAGE frame of the same
 * size), so the bytes on the wire match and only the server's protocol work is missing: what is left
 * is the cost of WebSocket framing and socket writes, which no relay can go below. Like the relay's
 * ws transport (server/transport/ws-transport.ts), each receiver's TCP socket is corked from its
 * first write of a tick to the end of the tick, so a burst leaves in one `writev` per receiver: a
 * floor that paid one system call per frame would be a floor the relay could go below.
 *
 * Sockets on `/stomp` are the floor of bench/connections.ts: the least a server can do for an idle
 * STOMP client. CONNECT is answered with CONNECTED (no heart-beats), any frame with a `receipt`
 * header with its RECEIPT, and nothing is kept per socket but the socket itself.
 *
 * Run as a child process by bench/lib/peer-process.ts: `PORT`; prints READY.
 */
import { createServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

const port = Number(process.env.PORT);
if (!port) throw new Error('PORT is required');
const receivers = new Set<WebSocket>();
const http = createServer();
const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
wss.on('connection', (socket, req) => {
  socket.on('error', () => undefined);
  if (req.url === '/stomp') {
    socket.on('message', (data: Buffer) => answerStomp(socket, data));
  } else if (req.url === '/sub') {
    receivers.add(socket);
    socket.on('close', () => receivers.delete(socket));
  } else {
    socket.on('message', (data: Buffer) => {
      for (const receiver of receivers) {
        corkForThisTick(receiver);
        receiver.send(data, { binary: true });
      }
    });
  }
});
/** Receivers whose TCP socket is corked until the end of this tick. */
const corked = new Set<Duplex>();

function corkForThisTick(receiver: WebSocket): void {
  const tcp = (receiver as unknown as { _socket?: Duplex })._socket;
  if (tcp === undefined || corked.has(tcp)) return;
  if (corked.size === 0) {
    process.nextTick(() => {
      for (const t of corked) t.uncork();
      corked.clear();
    });
  }
  corked.add(tcp);
  tcp.cork();
}

const CONNECTED = Buffer.from('CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\0');

/** CONNECTED for CONNECT/STOMP, RECEIPT for a frame that asks for one; a text scan, no parser state. */
function answerStomp(socket: WebSocket, data: Buffer): void {
  const text = data.toString('latin1');
  if (text.startsWith('CONNECT\n') || text.startsWith('STOMP\n')) {
    socket.send(CONNECTED, { binary: true });
    return;
  }
  const at = text.indexOf('\nreceipt:');
  if (at < 0) return;
  const end = text.indexOf('\n', at + 9);
  socket.send(Buffer.from(`RECEIPT\nreceipt-id:${text.slice(at + 9, end < 0 ? undefined : end)}\n\n\0`, 'latin1'), { binary: true });
}

http.listen(port, '127.0.0.1', () => process.stdout.write('READY\n'));
process.once('SIGTERM', () => {
  for (const s of wss.clients) s.terminate();
  http.close(() => process.exit(0));
});

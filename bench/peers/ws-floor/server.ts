/**
 * The floor of bench/fanout.ts: a plain `ws` server with no protocol at all. Sockets on `/sub` are
 * receivers; every message a socket on `/pub` sends is written, byte for byte, to every receiver.
 * The publisher sends what the relay would write to a subscriber (a STOMP MESSAGE frame of the same
 * size), so the bytes on the wire match and only the server's protocol work is missing: what is left
 * is the cost of WebSocket framing and socket writes, which no relay can go below.
 *
 * Run as a child process by bench/lib/peer-process.ts: `PORT`; prints READY.
 */
import { createServer } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';

const port = Number(process.env.PORT);
if (!port) throw new Error('PORT is required');
const receivers = new Set<WebSocket>();
const http = createServer();
const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
wss.on('connection', (socket, req) => {
  socket.on('error', () => undefined);
  if (req.url === '/sub') {
    receivers.add(socket);
    socket.on('close', () => receivers.delete(socket));
  } else {
    socket.on('message', (data: Buffer) => {
      for (const receiver of receivers) receiver.send(data, { binary: true });
    });
  }
});
http.listen(port, '127.0.0.1', () => process.stdout.write('READY\n'));
process.once('SIGTERM', () => {
  for (const s of wss.clients) s.terminate();
  http.close(() => process.exit(0));
});

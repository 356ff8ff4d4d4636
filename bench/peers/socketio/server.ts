/**
 * The Socket.IO peer of bench/fanout.ts: Socket.IO 4.8 with @socket.io/redis-adapter 8 on a Redis
 * server, as a Socket.IO deployment of several instances runs. Topics are rooms: a client joins one
 * with `subscribe` (acknowledged once joined) and `publish` broadcasts to every member of the room on
 * every instance (`io.to(room).emit`, which the adapter relays through Redis pub/sub; Socket.IO
 * encodes each broadcast once and writes the same frame to every local member).
 *
 * Run as a child process by bench/lib/peer-process.ts: `PORT`, `REDIS_URL`; prints READY.
 */
import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import { Server } from 'socket.io';

async function main(): Promise<void> {
  const port = Number(process.env.PORT);
  const redisUrl = process.env.REDIS_URL;
  if (!port || !redisUrl) throw new Error('PORT and REDIS_URL are required');
  const pub = createClient({ url: redisUrl });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);

  const http = createServer();
  // WebSocket only (the STOMP paths are WebSocket too); no compression, as on the relay.
  const io = new Server(http, { transports: ['websocket'], perMessageDeflate: false, serveClient: false });
  io.adapter(createAdapter(pub, sub));
  io.on('connection', (socket) => {
    socket.on('subscribe', (room: string, ack?: () => void) => {
      void socket.join(room);
      ack?.();
    });
    socket.on('publish', (room: string, body: string) => {
      io.to(room).emit('message', body);
    });
  });
  await new Promise<void>((resolve) => http.listen(port, '127.0.0.1', resolve));
  process.stdout.write('READY\n');
  const stop = (): void => {
    io.close();
    void Promise.allSettled([pub.quit(), sub.quit()]).then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`socket.io peer failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

/**
 * Corks a socket for the rest of this turn of the event loop: everything written to it until then
 * leaves in one `writev` (one system call) instead of one write each. Used on the relay's two
 * write-heavy sockets, the ws transport's (a burst of MESSAGEs to one client) and the RabbitMQ
 * connection's (a burst of SENDs). A leaf: it knows nothing of what is written.
 *
 * The socket's own cork count is the state: a socket corked already (by an earlier write of this
 * tick) is left as it is, and no closure is made per tick.
 */
import type { Writable } from 'node:stream';

export function corkForTick(socket: Writable): void {
  if (socket.writableCorked !== 0) return;
  socket.cork();
  process.nextTick(uncork, socket);
}

function uncork(socket: Writable): void {
  socket.uncork();
}

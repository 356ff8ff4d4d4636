/**
 * The two ends of a fan-out run, whatever the server speaks: a subscriber that hands each message
 * body of one topic to a callback, and a publisher that sends bodies to that topic. One
 * implementation per wire protocol: STOMP (relay, Web-STOMP), Socket.IO, and the bare `ws` floor.
 */
import { WebSocket } from 'ws';
import { io as socketIo, type Socket } from 'socket.io-client';
import { headers } from '../../server/codec/frame';
import { StompParser } from '../../server/codec/parser';
import { encodeFrame } from '../../server/codec/serializer';
import { connectMany, openMany, withTimeout, type ConnectOptions } from './stomp-ws-client';

/** Called with each message body (Socket.IO: the string it was sent as). */
export type BodyListener = (body: Buffer | string) => void;

export interface FanoutSubscriber {
  /** Subscribes to `topic`; resolves once the server confirmed it. */
  subscribe(topic: string, onBody: BodyListener): Promise<void>;
  readonly closed: boolean;
  /** Errors the server reported (STOMP ERROR frames); a healthy run has none. */
  readonly errors: number;
  close(): Promise<void>;
  terminate(): void;
}

export interface FanoutPublisher extends FanoutSubscriber {
  /** Fire-and-forget publish of one body to `topic`. */
  publish(topic: string, body: Buffer): void;
  /** Bytes queued on the client side, not yet written (flow control of the max-rate scenario). */
  readonly bufferedAmount: number;
}

export { openMany };

// --- STOMP (relay, Web-STOMP) ---

/** STOMP clients over WebSocket (bench/lib/stomp-ws-client.ts) as fan-out ends. */
export async function openStompClients(count: number, options: (i: number) => ConnectOptions): Promise<FanoutPublisher[]> {
  return (await connectMany(count, options)).map((client) => ({
    subscribe: async (topic, onBody) => { await client.subscribe(topic, (frame) => onBody(frame.body)); },
    publish: (topic, body) => client.send(topic, body),
    get bufferedAmount() { return client.bufferedAmount; },
    get closed() { return client.closed; },
    get errors() { return client.errors.length; },
    close: () => client.close(1_000),
    terminate: () => client.terminate(),
  }));
}

/** One STOMP client (the publisher). */
export async function openStompClient(options: ConnectOptions): Promise<FanoutPublisher> {
  const [client] = await openStompClients(1, () => options);
  return client!;
}

// --- Socket.IO ---

/**
 * A Socket.IO client (WebSocket transport only, no reconnection). Topics are rooms; bodies travel as
 * strings (the stamp is ASCII), the usual way of sending text with Socket.IO: a Buffer would add a
 * binary attachment frame per message.
 */
export function openSocketIoClient(url: string, timeoutMs = 10_000): Promise<FanoutPublisher> {
  const socket: Socket = socketIo(url, { transports: ['websocket'], reconnection: false, forceNew: true, timeout: timeoutMs });
  let closed = false;
  let onBody: BodyListener | undefined;
  socket.on('message', (body: string) => onBody?.(body));
  socket.on('disconnect', () => { closed = true; });
  const client: FanoutPublisher = {
    subscribe: (topic, listener) => {
      onBody = listener;
      return withTimeout(new Promise<void>((resolve) => socket.emit('subscribe', topic, () => resolve())), timeoutMs, `Socket.IO subscribe ${topic}`);
    },
    publish: (topic, body) => { socket.emit('publish', topic, body.toString('latin1')); },
    get bufferedAmount() {
      // engine.io-client queues packets in writeBuffer while its WebSocket is busy.
      const engine = socket.io.engine as unknown as { writeBuffer?: unknown[]; transport?: { ws?: { bufferedAmount?: number } } };
      return (engine.writeBuffer?.length ?? 0) * 128 + (engine.transport?.ws?.bufferedAmount ?? 0);
    },
    get closed() { return closed; },
    errors: 0,
    close: async () => { socket.disconnect(); },
    terminate: () => { socket.disconnect(); },
  };
  return new Promise<FanoutPublisher>((resolve, reject) => {
    socket.once('connect', () => resolve(client));
    socket.once('connect_error', (err) => { socket.disconnect(); reject(err); });
  });
}

// --- bare `ws` floor ---

const FLOOR_SUBSCRIPTION = 'sub-0';

/**
 * A client of the floor server (bench/peers/ws-floor/server.ts). The publisher sends, per body, the
 * STOMP MESSAGE frame a relay subscriber would get (same headers, same size); receivers parse it with
 * the same STOMP parser as the relay's clients, so only the server side differs.
 */
export function openFloorClient(baseUrl: string, role: 'sub' | 'pub', timeoutMs = 10_000): Promise<FanoutPublisher> {
  const socket = new WebSocket(`${baseUrl}/${role}`, { perMessageDeflate: false, handshakeTimeout: timeoutMs });
  let closed = false;
  let onBody: BodyListener | undefined;
  let sequence = 0;
  const parser = new StompParser({ onFrame: (frame) => onBody?.(frame.body) });
  socket.on('message', (data: Buffer) => parser.push(data));
  socket.on('close', () => { closed = true; });
  socket.on('error', () => undefined);
  const client: FanoutPublisher = {
    // The floor has no subscriptions: every /sub socket gets everything.
    subscribe: async (_topic, listener) => { onBody = listener; },
    publish: (topic, body) => {
      const frame = {
        command: 'MESSAGE',
        headers: headers({ subscription: FLOOR_SUBSCRIPTION, destination: topic, 'message-id': `floor-${sequence++}`, 'content-length': body.length }),
        body,
      };
      socket.send(encodeFrame(frame, '1.2'), { binary: true });
    },
    get bufferedAmount() { return socket.bufferedAmount; },
    get closed() { return closed; },
    errors: 0,
    close: async () => {
      if (closed) return;
      const gone = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.close();
      const timer = setTimeout(() => socket.terminate(), 1_000);
      await gone;
      clearTimeout(timer);
    },
    terminate: () => socket.terminate(),
  };
  return new Promise<FanoutPublisher>((resolve, reject) => {
    socket.once('open', () => resolve(client));
    socket.once('error', reject);
  });
}

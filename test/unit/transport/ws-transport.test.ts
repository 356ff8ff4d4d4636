/**
 * WsTransport:
 * - the slow-consumer check answers from an upper bound of ws's bufferedAmount, exactly as asking
 *   ws at every write would;
 * - sendHeartbeat, an idle session's only traffic, is one write of a pre-built frame on the TCP
 *   socket (no cork, no ws framing per call), and arrives as the EOL text message `send` would have
 *   made, in order with what was sent before it;
 * - the listeners on each socket are functions shared by every socket, not closures of each.
 */
import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import { GuardedTransport } from '../../../server/transport/guarded-transport';
import type { Transport } from '../../../server/transport/transport';
import { FrameCache, frameHeaderBytes } from '../../../server/transport/ws-frames';
import { WsEndpoint, WsTransport } from '../../../server/transport/ws-transport';

/**
 * A ws socket that never drains: what is written stays in `bufferedAmount` until a test drains it.
 * Counts how often `bufferedAmount` is read. No TCP socket under it (nothing to cork).
 */
class StuckSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  /** As ws's option: at most this many automatic pongs are held unwritten. */
  _maxPendingAutoPongs: number | undefined = 60;
  queued = 0;
  queries = 0;

  get bufferedAmount(): number {
    this.queries++;
    return this.queued;
  }

  send(data: Buffer): void {
    this.queued += data.length + frameHeaderBytes(data.length);
  }

  /** ws answering a ping on its own: bytes queued that never went through WsTransport.send. */
  autoPong(payloadBytes: number): void {
    this.queued += 2 + payloadBytes;
  }
}

function transportOn(socket: StuckSocket): WsTransport {
  return new WsTransport(socket as unknown as WebSocket, { remoteAddress: '127.0.0.1', url: '/ws', headers: {} }, 1 << 20);
}

describe('transport: WsTransport slow-consumer bound', () => {
  it('says a consumer is over the limit at the same write as asking ws every time, auto-pongs and drains included', () => {
    const socket = new StuckSocket();
    const transport = transportOn(socket);
    const limit = 20_000;
    const frame = Buffer.alloc(300);
    let over = 0;
    for (let i = 0; i < 400; i++) {
      if (i % 7 === 3) socket.autoPong(125);
      if (i === 150) socket.queued = 0; // the socket drained once
      const exact = socket.queued > limit;
      expect(transport.bufferedAmountAbove(limit), `write ${i}: ${socket.queued} bytes queued`).to.equal(exact);
      if (exact) over++;
      transport.send(frame, false);
    }
    expect(over, 'the consumer went over the limit').to.be.greaterThan(0);
  });

  it('asks ws only when the bytes written since it last asked could have crossed the limit', () => {
    const socket = new StuckSocket();
    const transport = transportOn(socket);
    const limit = 4 * 1024 * 1024;
    const frame = Buffer.alloc(100);
    for (let i = 0; i < 1_000; i++) {
      socket.queued = 0; // a consumer that keeps up
      expect(transport.bufferedAmountAbove(limit)).to.equal(false);
      transport.send(frame, false);
    }
    expect(socket.queries).to.equal(1);
  });

  it('asks ws on every check when ws does not bound its unwritten pongs', () => {
    const socket = new StuckSocket();
    socket._maxPendingAutoPongs = undefined;
    const transport = transportOn(socket);
    for (let i = 0; i < 10; i++) {
      expect(transport.bufferedAmountAbove(1_000)).to.equal(false);
      transport.send(Buffer.alloc(10), false);
    }
    expect(socket.queries).to.equal(10);
  });

  it('counts heart-beats written straight to the TCP socket, as it counts frames', () => {
    const socket = new StuckSocket();
    // A server socket without extensions whose sender is idle: frames and heart-beats bypass ws,
    // straight onto a TCP socket that never drains.
    Object.assign(socket, {
      _isServer: true,
      _extensions: {},
      _sender: { _state: 0, _queue: [], _firstFragment: true },
      _socket: { cork() {}, uncork() {}, write: (chunk: Buffer) => (socket.queued += chunk.length) },
    });
    const transport = new WsTransport(socket as unknown as WebSocket, { remoteAddress: '127.0.0.1', url: '/ws', headers: {} }, 1 << 20, {
      frames: new FrameCache(),
      openSockets: new Set(),
    });
    const limit = 20_000; // above the slack for ws's unwritten pongs (60 × 127 bytes)
    let over = 0;
    for (let i = 0; i < 10_000; i++) {
      const exact = socket.queued > limit;
      expect(transport.bufferedAmountAbove(limit), `heart-beat ${i}: ${socket.queued} bytes queued`).to.equal(exact);
      if (exact) over++;
      transport.sendHeartbeat();
    }
    expect(over, 'the consumer went over the limit').to.be.greaterThan(0);
  });

  it('counts the frame header of each payload-length encoding (RFC 6455 §5.2)', () => {
    expect([0, 125, 126, 65535, 65536].map(frameHeaderBytes)).to.deep.equal([2, 2, 4, 4, 10]);
  });
});

describe('transport: WsTransport', function () {
  let server: http.Server;
  let endpoint: WsEndpoint;
  let client: WebSocket | undefined;

  afterEach(async function () {
    accepted = [];
    client?.terminate();
    await endpoint.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  let accepted: Array<(t: Transport) => void> = [];

  /** A ws client connected to a WsEndpoint (the first call starts it); resolves with both ends once open. */
  async function connect(): Promise<{ transport: Transport; client: WebSocket; received: Array<{ text: string; binary: boolean }> }> {
    const transportReady = new Promise<Transport>((resolve) => accepted.push(resolve));
    if (server === undefined || !server.listening) {
      endpoint = new WsEndpoint({ path: '/ws', maxPayload: 1024, onTransport: (t) => accepted.shift()!(t) });
      server = http.createServer();
      server.on('upgrade', (req, socket, head) => endpoint.handleUpgrade(req, socket, head));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    }
    const { port } = server.address() as AddressInfo;
    client = new WebSocket(`ws://127.0.0.1:${port}/ws`, 'v12.stomp');
    const received: Array<{ text: string; binary: boolean }> = [];
    client.on('message', (data: Buffer, binary) => received.push({ text: data.toString('utf8'), binary }));
    const [transport] = await Promise.all([transportReady, new Promise((resolve) => client!.once('open', resolve))]);
    transport.bind({ data: () => undefined, messageTooLarge: () => undefined, close: () => undefined });
    return { transport, client: client!, received };
  }

  function tcpOf(transport: Transport): Duplex {
    return (transport as unknown as { socket: { _socket: Duplex } }).socket._socket;
  }

  it('writes one pre-built frame on the TCP socket, without corking it', async function () {
    const { transport, client: ws, received } = await connect();
    const tcp = tcpOf(transport);
    const writes: Buffer[] = [];
    let corks = 0;
    const write = tcp.write.bind(tcp);
    const cork = tcp.cork.bind(tcp);
    tcp.write = ((chunk: Buffer, ...rest: never[]) => {
      writes.push(Buffer.from(chunk));
      return write(chunk, ...rest);
    }) as typeof tcp.write;
    tcp.cork = () => {
      corks++;
      cork();
    };
    const arrived = new Promise((resolve) => ws.once('message', resolve));
    transport.sendHeartbeat!();
    expect(writes.map((b) => b.toString('hex'))).to.deep.equal(['81010a']);
    expect(corks).to.equal(0);
    await arrived;
    expect(received).to.deep.equal([{ text: '\n', binary: false }]);
  });

  it('arrives in order with frames sent before it in the same tick, through the guard too', async function () {
    const { transport, client: ws, received } = await connect();
    const guard = new GuardedTransport(transport, {
      transportData: () => undefined,
      transportMessageTooLarge: () => undefined,
      transportEnded: () => undefined,
      transportFault: (operation, err) => {
        throw new Error(`${operation}: ${String(err)}`);
      },
    });
    let count = 0;
    const three = new Promise<void>((resolve) => ws.on('message', () => ++count === 3 && resolve()));
    guard.send(Buffer.from('MESSAGE\n\n\0'), false);
    guard.sendHeartbeat();
    guard.send(Buffer.from([0xff, 0x00]), true);
    await three;
    expect(received).to.deep.equal([
      { text: 'MESSAGE\n\n\0', binary: false },
      { text: '\n', binary: false },
      { text: Buffer.from([0xff, 0x00]).toString('utf8'), binary: true },
    ]);
  });

  it('sends nothing once the socket is closing', async function () {
    const { transport } = await connect();
    const tcp = tcpOf(transport);
    transport.close(1000);
    const writesAfterClose: unknown[] = [];
    const write = tcp.write.bind(tcp);
    tcp.write = ((chunk: Buffer, ...rest: never[]) => {
      writesAfterClose.push(chunk);
      return write(chunk, ...rest);
    }) as typeof tcp.write;
    transport.sendHeartbeat!();
    expect(writesAfterClose).to.deep.equal([]);
  });

  it('closes: resolves once every socket it terminated has closed and its session heard so', async function () {
    const transportReady = new Promise<Transport>((resolve) => accepted.push(resolve));
    endpoint = new WsEndpoint({ path: '/ws', maxPayload: 1024, onTransport: (t) => accepted.shift()!(t) });
    server = http.createServer();
    server.on('upgrade', (req, socket, head) => endpoint.handleUpgrade(req, socket, head));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`, 'v12.stomp');
    client.on('error', () => undefined);
    const [transport] = await Promise.all([transportReady, new Promise((resolve) => client!.once('open', resolve))]);
    let closeReported = false;
    transport.bind({ data: () => undefined, messageTooLarge: () => undefined, close: () => (closeReported = true) });
    await endpoint.close();
    expect(closeReported, 'the transport reported its close before close() resolved').to.equal(true);
  });

  it('gives every socket the same listener functions (no closures per socket)', async function () {
    const a = await connect();
    const b = await connect();
    const socketOf = (t: Transport) => (t as unknown as { socket: WebSocket }).socket;
    const receiverOf = (t: Transport) => (socketOf(t) as unknown as { _receiver: WebSocket })._receiver;
    for (const event of ['message', 'close', 'error'] as const) {
      expect(socketOf(a.transport).listeners(event), event).to.deep.equal(socketOf(b.transport).listeners(event));
    }
    expect(receiverOf(a.transport).listeners('error')).to.deep.equal(receiverOf(b.transport).listeners('error'));
    a.client.terminate();
  });
});

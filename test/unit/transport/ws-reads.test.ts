/**
 * The sockets under /ws read into one buffer per endpoint (server/transport/ws-reads.ts): a read
 * that is exactly one masked heart-beat frame, while ws's receiver is between frames, goes to the
 * transport without ws; every other read reaches ws as the same bytes. Real sockets: a ws client,
 * and frames written by hand on its TCP socket where the test needs them in one read or split.
 */
import { expect } from 'chai';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocket } from 'ws';
import { silentLogger } from '../../../server/observability/logger';
import { SockJsEndpoint } from '../../../server/transport/sockjs-transport';
import type { Transport } from '../../../server/transport/transport';
import { HEARTBEAT_CRLF, HEARTBEAT_LF, STOMP_HEARTBEATS, loneHeartbeatFrame } from '../../../server/transport/ws-reads';
import { WsEndpoint } from '../../../server/transport/ws-transport';

/** A client frame as RFC 6455 §5.2 has it: FIN and opcode, masked with `mask`, 7- or 16-bit length. */
function clientFrame(opcode: number, payload: Buffer, options: { fin?: boolean; mask?: number[] | null } = {}): Buffer {
  const fin = options.fin ?? true;
  const mask = options.mask === undefined ? [0x37, 0xfa, 0x21, 0x3d] : options.mask;
  const maskBit = mask === null ? 0 : 0x80;
  const header =
    payload.length < 126
      ? Buffer.from([(fin ? 0x80 : 0) | opcode, maskBit | payload.length])
      : Buffer.from([(fin ? 0x80 : 0) | opcode, maskBit | 126, payload.length >> 8, payload.length & 0xff]);
  if (mask === null) return Buffer.concat([header, payload]);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!));
  return Buffer.concat([header, Buffer.from(mask), masked]);
}

describe('transport: reads into the endpoint buffer (ws-reads)', function () {
  let server: http.Server | undefined;
  let endpoint: WsEndpoint | undefined;
  const clients: WebSocket[] = [];

  afterEach(async function () {
    for (const c of clients.splice(0)) c.terminate();
    await endpoint?.close();
    if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
    endpoint = undefined;
  });

  /** A ws client on a WsEndpoint; what the transport was handed, chunk by chunk. */
  async function connect(): Promise<{
    client: WebSocket;
    tcp: Socket;
    data: Buffer[];
    receiver: Record<string, unknown>;
    next(): Promise<Buffer>;
  }> {
    const transportReady = new Promise<Transport>((resolve) => {
      endpoint = new WsEndpoint({ path: '/ws', maxPayload: 1 << 20, onTransport: resolve });
    });
    server = http.createServer();
    server.on('upgrade', (req, socket, head) => endpoint!.handleUpgrade(req, socket, head));
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`, 'v12.stomp');
    client.on('error', () => undefined);
    clients.push(client);
    const [transport] = await Promise.all([transportReady, new Promise((resolve) => client.once('open', resolve))]);
    const data: Buffer[] = [];
    const waiting: Array<(b: Buffer) => void> = [];
    transport.bind({
      data: (chunk) => {
        data.push(chunk);
        waiting.shift()?.(chunk);
      },
      messageTooLarge: () => undefined,
      close: () => undefined,
    });
    const serverSocket = (transport as unknown as { socket: { _receiver: Record<string, unknown> } }).socket;
    return {
      client,
      tcp: (client as unknown as { _socket: Socket })._socket,
      data,
      receiver: serverSocket._receiver,
      next: () => new Promise<Buffer>((resolve) => waiting.push(resolve)),
    };
  }

  /** Resolves once `condition` holds, checking on each turn of the event loop (bounded). */
  async function until(condition: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 5_000;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  it('hands a heart-beat frame to the transport as the shared EOL, without ws', async function () {
    const { client, next } = await connect();
    client.send('\n');
    expect(await next(), 'LF heart-beat').to.equal(HEARTBEAT_LF); // the same object: not ws's message
    client.send('\r\n');
    expect(await next(), 'CRLF heart-beat').to.equal(HEARTBEAT_CRLF);
    client.send(Buffer.from('\n'), { binary: true });
    expect(await next(), 'binary LF heart-beat').to.equal(HEARTBEAT_LF);
  });

  it('gives ws everything else, in order: a frame and a heart-beat read together, other one-byte messages', async function () {
    const { client, tcp, next, data } = await connect();
    client.send('x');
    const x = await next();
    expect(x.toString()).to.equal('x');
    tcp.write(Buffer.concat([clientFrame(0x1, Buffer.from('SEND\n\n\0')), clientFrame(0x1, Buffer.from('\n'))]));
    await until(() => data.length === 3, 'both messages of one read');
    expect(data.slice(1).map((b) => b.toString())).to.deep.equal(['SEND\n\n\0', '\n']);
    expect(data[2], 'through ws: its own buffer').to.not.equal(HEARTBEAT_LF);
  });

  it('does not take the tail of a longer frame for a heart-beat', async function () {
    const { tcp, receiver, next } = await connect();
    // A binary frame with no mask (all zero) whose last 7 payload bytes are, on the wire, a lone
    // masked LF frame; sent in two reads so that the second is exactly those 7 bytes.
    const tail = Buffer.from([0x81, 0x81, 0, 0, 0, 0, 0x0a]);
    expect(loneHeartbeatFrame(tail, 7, STOMP_HEARTBEATS)?.message, 'the tail alone reads as a heart-beat').to.equal(HEARTBEAT_LF);
    const payload = Buffer.concat([Buffer.from('head-of-the-payload'), tail]);
    const frame = clientFrame(0x2, payload, { mask: [0, 0, 0, 0] });
    tcp.write(frame.subarray(0, frame.length - 7));
    await until(() => (receiver._bufferedBytes as number) > 0, 'ws holding the start of the frame');
    tcp.write(frame.subarray(frame.length - 7));
    const got = await next();
    expect(got.equals(payload), 'the whole payload, once').to.equal(true);
  });

  it('leaves protocol errors to ws: an unmasked heart-beat, a heart-beat inside a fragmented message', async function () {
    const first = await connect();
    const closed = new Promise<number>((resolve) => first.client.once('close', resolve));
    first.tcp.write(clientFrame(0x1, Buffer.from('\n'), { mask: null }));
    expect(await closed, 'unmasked client frame').to.equal(1002);
    expect(first.data).to.deep.equal([]);

    await endpoint!.close();
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    const second = await connect();
    const closedToo = new Promise<number>((resolve) => second.client.once('close', resolve));
    second.tcp.write(clientFrame(0x1, Buffer.from('SEN'), { fin: false }));
    await until(() => second.receiver._fragmented !== 0, 'ws inside the fragmented message');
    second.tcp.write(clientFrame(0x1, Buffer.from('\n')));
    expect(await closedToo, 'a new text frame inside a fragmented message').to.equal(1002);
    expect(second.data).to.deep.equal([]);
  });

  it('passes messages larger than the shared buffer through intact', async function () {
    const { client, next } = await connect();
    const body = Buffer.alloc(200_000);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
    client.send(body, { binary: true });
    const got = await next();
    expect(got.length).to.equal(body.length);
    expect(got.equals(body)).to.equal(true);
  });
});

describe('transport: SockJS WebSocket reads into the endpoint buffer (ws-reads)', function () {
  let server: http.Server | undefined;
  let endpoint: SockJsEndpoint | undefined;
  let client: WebSocket | undefined;

  afterEach(async function () {
    client?.terminate();
    endpoint?.close();
    if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
  });

  it('hands a framed heart-beat ["\\n"] to the session without ws, and other messages through ws', async function () {
    const transportReady = new Promise<Transport>((resolve) => {
      endpoint = new SockJsEndpoint({ prefix: '/sockjs', maxMessageBytes: 1 << 16, logger: silentLogger(), onTransport: resolve });
    });
    server = http.createServer((req, res) => {
      if (!endpoint!.handle(req, res)) res.writeHead(404).end();
    });
    server.on('upgrade', (req, socket, head) => {
      if (!endpoint!.handle(req, socket, head)) socket.destroy();
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/sockjs/000/readsbuf/websocket`);
    const opened = new Promise<string>((resolve) => client!.once('message', (data: Buffer) => resolve(data.toString())));
    const transport = await transportReady;
    expect(await opened).to.equal('o');
    const data: string[] = [];
    const waiting: Array<() => void> = [];
    transport.bind({
      data: (chunk) => {
        data.push(chunk.toString());
        waiting.shift()?.();
      },
      messageTooLarge: () => undefined,
      close: () => undefined,
    });
    let wsMessages = 0;
    (transport as unknown as { socket: WebSocket }).socket.on('message', () => wsMessages++);
    const next = () => new Promise<void>((resolve) => waiting.push(resolve));
    let arrived = next();
    client.send(JSON.stringify(['\n']));
    await arrived;
    expect(data).to.deep.equal(['\n']);
    expect(wsMessages, 'the heart-beat did not go through ws').to.equal(0);
    arrived = next();
    client.send(JSON.stringify(['x']));
    await arrived;
    expect(data).to.deep.equal(['\n', 'x']);
    expect(wsMessages, 'other messages go through ws').to.equal(1);
  });
});

import { expect } from 'chai';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server as SocketIoServer } from 'socket.io';
import { waitFor, waitForAsync } from '../../../bench/lib/bounded';
import { DeliveryTracker } from '../../../bench/lib/delivery-tracker';
import { FanoutReceivers } from '../../../bench/lib/fanout-receivers';
import {
  headerValue, openLeanSocketIoReceiver, openLeanStompReceiver, scanStompFrames, SOCKET_IO_MESSAGE_BODY_FROM, socketIoPacketKind,
  type FanoutReceiver,
} from '../../../bench/lib/lean-receivers';
import { readStamp, stampBody, stampClockMs } from '../../../bench/lib/stats';
import { connectStomp, type StompWsClient } from '../../../bench/lib/stomp-ws-client';
import { createRelay, type Relay } from '../../../server/relay';
import { silentLogger } from '../../../server/observability/logger';

const TOPIC = '/topic/lean';

function messageFrame(body: Buffer, extra = ''): Buffer {
  return Buffer.concat([Buffer.from(`MESSAGE\nsubscription:sub-0\ndestination:${TOPIC}\nmessage-id:m-1${extra}\ncontent-length:${body.length}\n\n`), body, Buffer.from([0])]);
}

describe('bench lean receivers', () => {
  describe('scanStompFrames', () => {
    it('hands on the body offset of every MESSAGE in a WebSocket message, skipping heart-beats', () => {
      const data = Buffer.concat([Buffer.from('\n'), messageFrame(stampBody(7, 1.5, 100)), Buffer.from('\r\n'), messageFrame(stampBody(8, 2.5, 100))]);
      const stamps: Array<{ seq: number; sentAtMs: number } | undefined> = [];
      const others: string[] = [];
      scanStompFrames(data, { message: (d, from) => stamps.push(readStamp(d, from)), other: (command) => others.push(command) });
      expect(stamps).to.deep.equal([{ seq: 7, sentAtMs: 1.5 }, { seq: 8, sentAtMs: 2.5 }]);
      expect(others).to.deep.equal([]);
    });

    it('hands on other frames with their command and header lines', () => {
      const data = Buffer.from('RECEIPT\nreceipt-id:r-3\n\n\0ERROR\nmessage:bad destination\ncode:BAD\n\nbody\0');
      const others: Array<[string, string | undefined]> = [];
      scanStompFrames(data, {
        message: () => expect.fail('no MESSAGE here'),
        other: (command, lines) => others.push([command, headerValue(lines, command === 'RECEIPT' ? 'receipt-id' : 'message')]),
      });
      expect(others).to.deep.equal([['RECEIPT', 'r-3'], ['ERROR', 'bad destination']]);
    });

    it('throws on a frame cut before its NUL or its header end, so a lean receiver counts an error', () => {
      const noop = { message: () => undefined, other: () => undefined };
      const whole = messageFrame(stampBody(1, 0, 100));
      expect(() => scanStompFrames(whole.subarray(0, whole.length - 1), noop)).to.throw(/NUL/);
      expect(() => scanStompFrames(Buffer.from('MESSAGE\nsubscription:sub-0\n'), noop)).to.throw(/headers/);
    });
  });

  describe('socketIoPacketKind', () => {
    it('tells Engine.IO / Socket.IO packets apart by their first bytes', () => {
      const kind = (s: string) => socketIoPacketKind(Buffer.from(s));
      expect(kind('0{"sid":"x","pingInterval":25000}')).to.equal('open');
      expect(kind('2')).to.equal('ping');
      expect(kind('40{"sid":"y"}')).to.equal('connect');
      expect(kind('44{"message":"no"}')).to.equal('connect-error');
      expect(kind('430[]')).to.equal('ack');
      expect(kind('42["message","12:34;xx"]')).to.equal('message');
      expect(kind('42["massage","12:34;xx"]')).to.equal('other');
      expect(kind('42["subscribe","/topic/a"]')).to.equal('other');
    });

    it('finds the stamp of a message event after the fixed prefix', () => {
      const body = stampBody(42, 3.25, 100).toString('latin1');
      expect(readStamp(Buffer.from(`42${JSON.stringify(['message', body])}`), SOCKET_IO_MESSAGE_BODY_FROM)).to.deep.equal({ seq: 42, sentAtMs: 3.25 });
    });
  });

  // The lean clients against real servers over real sockets: every message counted once.
  describe('against a relay (embedded broker)', () => {
    let relay: Relay;
    let url: string;
    const opened: Array<{ terminate(): void }> = [];

    before(async () => {
      relay = createRelay({ port: 0, logger: silentLogger(), instanceId: 'bench-lean-test' });
      const address: AddressInfo = await relay.listen(0, '127.0.0.1');
      url = `ws://127.0.0.1:${address.port}/ws`;
    });

    afterEach(() => {
      for (const c of opened.splice(0)) c.terminate();
    });

    after(async () => {
      await relay.close();
    });

    async function publisher(): Promise<StompWsClient> {
      const pub = await connectStomp({ url, login: 'publisher' });
      opened.push(pub);
      return pub;
    }

    it('a lean STOMP receiver counts every MESSAGE once, with its latency from the publisher stamp', async () => {
      const receivers: FanoutReceiver[] = [];
      for (let i = 0; i < 3; i++) receivers.push(await openLeanStompReceiver({ url, login: `lean-${i}` }));
      opened.push(...receivers);
      const tracker = new DeliveryTracker(3, 100, 10);
      await Promise.all(receivers.map((r, i) => r.subscribe(TOPIC, (data, from) => tracker.onMessage(i, data, stampClockMs(), from))));
      const pub = await publisher();
      for (let k = 0; k < 10; k++) pub.send(TOPIC, stampBody(100 + k, stampClockMs(), 100));
      expect((await waitFor(() => tracker.complete(), 5_000, 5)).met).to.equal(true);
      expect(tracker.delivered).to.equal(30);
      expect(tracker.duplicates).to.equal(0);
      expect(tracker.stray).to.equal(0);
      expect(tracker.latency.summary().samples).to.equal(30);
      expect(tracker.latency.summary().max).to.be.at.least(0);
      expect(receivers.map((r) => r.errors)).to.deep.equal([0, 0, 0]);
    });

    it('receivers in two child processes deliver the exact count and every latency sample to the parent', async () => {
      const receivers = FanoutReceivers.start({ protocol: 'stomp', clients: 'lean', urls: [url], topic: TOPIC }, 5, 2);
      try {
        await receivers.open();
        await receivers.track(1_000, 4);
        await receivers.subscribe();
        const pub = await publisher();
        for (let k = 0; k < 4; k++) pub.send(TOPIC, stampBody(1_000 + k, stampClockMs(), 100));
        // A stray message (outside the tracked range) must not count as a delivery.
        pub.send(TOPIC, stampBody(5_000, stampClockMs(), 100));
        const done = await waitForAsync(async () => (await receivers.counts()).stray >= 5 && (await receivers.counts()).delivered >= 20, 10_000, 10);
        expect(done.met).to.equal(true);
        const counts = await receivers.counts();
        expect(counts).to.deep.include({ delivered: 20, duplicates: 0, stray: 5, subscribersReached: 5, closed: 0, errors: 0 });
        expect(counts.lastDeliveryAt).to.be.at.least(counts.firstDeliveryAt);
        const latency = await receivers.latency();
        expect(latency.count).to.equal(20);
        expect(latency.summary().samples).to.equal(20);
      } finally {
        await receivers.close();
      }
    });
  });

  describe('against a Socket.IO server', () => {
    let http: HttpServer;
    let io: SocketIoServer;
    let base: string;
    const pongs: number[] = [];

    before(async () => {
      http = createServer();
      // Pings every 20 ms: a receiver that does not answer with a pong is closed after 20 ms more.
      io = new SocketIoServer(http, { transports: ['websocket'], perMessageDeflate: false, serveClient: false, pingInterval: 20, pingTimeout: 200 });
      io.on('connection', (socket) => {
        socket.conn.on('packet', (packet: { type: string }) => { if (packet.type === 'pong') pongs.push(Date.now()); });
        socket.on('subscribe', (room: string, ack?: () => void) => {
          void socket.join(room);
          ack?.();
        });
      });
      await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    });

    after(async () => {
      io.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    });

    it('a raw Engine.IO receiver connects, answers pings, subscribes with an ack and counts every message event', async () => {
      const receivers = [await openLeanSocketIoReceiver(base), await openLeanSocketIoReceiver(base)];
      try {
        const tracker = new DeliveryTracker(2, 0, 5);
        await Promise.all(receivers.map((r, i) => r.subscribe(TOPIC, (data, from) => tracker.onMessage(i, data, stampClockMs(), from))));
        expect(io.of('/').adapter.rooms.get(TOPIC)?.size).to.equal(2);
        // Other events, and messages outside the range, are not deliveries.
        io.to(TOPIC).emit('other', stampBody(1, stampClockMs(), 100).toString('latin1'));
        for (let k = 0; k < 5; k++) io.to(TOPIC).emit('message', stampBody(k, stampClockMs(), 100).toString('latin1'));
        expect((await waitFor(() => tracker.complete() && pongs.length >= 4, 5_000, 5)).met).to.equal(true);
        expect(tracker.delivered).to.equal(10);
        expect(tracker.duplicates).to.equal(0);
        expect(tracker.stray).to.equal(0);
        expect(receivers.map((r) => [r.closed, r.errors])).to.deep.equal([[false, 0], [false, 0]]);
      } finally {
        for (const r of receivers) r.terminate();
      }
    });
  });
});

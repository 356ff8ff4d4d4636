/**
 * Malformed and abusive input from raw clients, over every way in (plain WebSocket, SockJS's raw
 * WebSocket, SockJS's framed transports): each gets an ERROR frame with a readable `message` and the
 * catalogue `code`, then its connection closes with a numeric close code; a well-behaved client
 * connected all along keeps working, and the process stays healthy.
 */
import { isUtf8 } from 'node:buffer';
import http from 'node:http';
import { expect } from 'chai';
import {
  RAW_CHANNELS, RawStomp, closeAll, encodeRawFrame, metricValue, request, startRelay, unique, wsClient,
  type TestClient, type TestRelay, type TestSubscription,
} from '../../harness/stomp-test-kit';

interface BadInputCase {
  name: string;
  /** CONNECT first (most misuse happens inside a session). */
  connected: boolean;
  /** What the client sends after that, as one WebSocket message (or several). */
  send: Array<string | Buffer>;
  code: string;
  /** Part of the `message` header a person would look for. */
  says: RegExp;
}

const MAX_FRAME = 4096;
const MAX_HEADERS = 8;
const MAX_SUBSCRIPTIONS = 3;
const MAX_WS_MESSAGE = 64 * 1024;

const frame = encodeRawFrame;

const CASES: BadInputCase[] = [
  { name: 'an unknown command', connected: true, send: ['FLY\ndestination:/topic/a\n\n\0'], code: 'UNKNOWN_COMMAND', says: /unknown STOMP command: FLY/ },
  { name: 'SEND without destination', connected: true, send: ['SEND\ncontent-type:text/plain\n\nhello\0'], code: 'MISSING_HEADER', says: /SEND frame requires the destination header/ },
  {
    name: 'content-length longer than the body',
    connected: true,
    send: ['SEND\ndestination:/topic/a\ncontent-length:5\n\nabc\0SEND\ndestination:/topic/a\n\nnext\0'],
    code: 'BODY_LONGER_THAN_CONTENT_LENGTH',
    says: /content-length/,
  },
  { name: 'a content-length that is not a number', connected: true, send: ['SEND\ndestination:/topic/a\ncontent-length:ten\n\nabc\0'], code: 'INVALID_CONTENT_LENGTH', says: /ten/ },
  { name: 'a header line without a colon', connected: true, send: ['SEND\ndestination /topic/a\n\nx\0'], code: 'HEADER_WITHOUT_COLON', says: /no colon: "destination \/topic\/a"/ },
  {
    name: 'an oversize frame (streamed body)',
    connected: true,
    send: [`SEND\ndestination:/topic/a\n\n${'x'.repeat(MAX_FRAME + 100)}\0`],
    code: 'FRAME_TOO_LARGE',
    says: new RegExp(`limit of ${MAX_FRAME} bytes`),
  },
  {
    name: 'an oversize frame (declared content-length, before its body)',
    connected: true,
    send: ['SEND\ndestination:/topic/a\ncontent-length:1000000\n\n'],
    code: 'FRAME_TOO_LARGE',
    says: new RegExp(`limit of ${MAX_FRAME} bytes`),
  },
  { name: 'an invalid escape in a header', connected: true, send: ['SEND\ndestination:/topic/a\\tb\n\nx\0'], code: 'INVALID_ESCAPE', says: /escape/ },
  { name: 'a frame before CONNECT', connected: false, send: [frame('SEND', { destination: '/topic/a' }, 'early')], code: 'NOT_CONNECTED', says: /expected CONNECT or STOMP as the first frame, got SEND/ },
  { name: 'an HTTP request line', connected: false, send: ['GET / HTTP/1.1\r\nHost: x\r\n\r\n'], code: 'INVALID_COMMAND', says: /not a STOMP command line/ },
  { name: 'random binary bytes', connected: true, send: [Buffer.from([0x00, 0x9f, 0xff, 0x13, 0x37, 0x0a, 0x00, 0xc0, 0xaf])], code: 'INVALID_COMMAND', says: /not a STOMP command line/ },
  {
    name: 'too many headers',
    connected: true,
    send: [frame('SEND', Object.fromEntries([['destination', '/topic/a'], ...Array.from({ length: MAX_HEADERS + 2 }, (_, i) => [`x-h${i}`, 'v'])]), 'x')],
    code: 'TOO_MANY_HEADERS',
    says: new RegExp(`more than ${MAX_HEADERS} headers`),
  },
  { name: 'a header line over the line limit', connected: true, send: [frame('SEND', { destination: '/topic/a', 'x-long': 'y'.repeat(2000) }, 'x')], code: 'HEADER_LINE_TOO_LONG', says: /header line exceeds/ },
  { name: 'headers that are not UTF-8', connected: true, send: [Buffer.concat([Buffer.from('SEND\ndestination:/topic/'), Buffer.from([0xc3, 0x28]), Buffer.from('\n\nx\0')])], code: 'INVALID_UTF8', says: /UTF-8/ },
  { name: 'a second CONNECT', connected: true, send: [frame('CONNECT', { 'accept-version': '1.2', host: 'x' })], code: 'ALREADY_CONNECTED', says: /already connected/ },
  {
    name: 'too many subscriptions',
    connected: true,
    send: Array.from({ length: MAX_SUBSCRIPTIONS + 1 }, (_, i) => frame('SUBSCRIBE', { id: `s${i}`, destination: `/topic/t${i}` })),
    code: 'TOO_MANY_SUBSCRIPTIONS',
    says: new RegExp(`limit of ${MAX_SUBSCRIPTIONS} subscriptions`),
  },
  {
    name: 'a duplicate subscription id',
    connected: true,
    send: [frame('SUBSCRIBE', { id: 'dup', destination: '/topic/a' }), frame('SUBSCRIBE', { id: 'dup', destination: '/topic/b' })],
    code: 'DUPLICATE_SUBSCRIPTION',
    says: /dup is already in use/,
  },
  { name: 'UNSUBSCRIBE of an unknown id', connected: true, send: [frame('UNSUBSCRIBE', { id: 'ghost' })], code: 'UNKNOWN_SUBSCRIPTION', says: /ghost/ },
  { name: 'ACK of an unknown message', connected: true, send: [frame('ACK', { id: 'nope' })], code: 'UNKNOWN_ACK', says: /nope/ },
  { name: 'SUBSCRIBE to a destination outside the relayed prefixes', connected: true, send: [frame('SUBSCRIBE', { id: 's', destination: '/etc/passwd' })], code: 'DESTINATION_NOT_ALLOWED', says: /\/etc\/passwd/ },
  { name: 'an invalid ack mode', connected: true, send: [frame('SUBSCRIBE', { id: 's', destination: '/topic/a', ack: 'sometimes' })], code: 'INVALID_HEADER', says: /sometimes/ },
  { name: 'COMMIT of an unknown transaction', connected: true, send: [frame('COMMIT', { transaction: 'tx-ghost' })], code: 'UNKNOWN_TRANSACTION', says: /tx-ghost/ },
];

describe('server: bad input', function () {
  let server: TestRelay;
  let bystander: TestClient;
  let bystanderSub: TestSubscription;
  let topic: string;
  const raws: RawStomp[] = [];

  before(async () => {
    server = await startRelay({
      limits: { maxFrameBytes: MAX_FRAME, maxHeaderLineBytes: 1024, maxHeaders: MAX_HEADERS, maxSubscriptionsPerSession: MAX_SUBSCRIPTIONS, maxWsMessageBytes: MAX_WS_MESSAGE },
    });
    bystander = await wsClient(server, { login: 'bystander' });
    topic = `/topic/${unique('bystander')}`;
    bystanderSub = await bystander.subscribe(topic);
  });
  after(async () => {
    await closeAll([bystander, ...raws]);
    await server.close();
  });

  /** The well-behaved client still round-trips a message. */
  async function bystanderStillWorks(tag: string): Promise<void> {
    await bystander.publish(topic, `still here after ${tag}`);
    expect((await bystanderSub.messages.next(`bystander message after ${tag}`)).body).to.equal(`still here after ${tag}`);
    expect(bystander.client.connected).to.equal(true);
  }

  /** ERRORs the server must have sent, by code, for the metrics check at the end. */
  const expectedErrors = new Map<string, number>();

  for (const channel of RAW_CHANNELS) {
    describe(`over ${channel.name}`, () => {
      for (const c of CASES) {
        // A text-only client cannot send bytes that are not UTF-8; everything else it sends as text.
        const expressible = channel.binary || c.send.every((chunk) => !Buffer.isBuffer(chunk) || isUtf8(chunk));
        if (!expressible) continue;
        it(`answers ${c.name} with ERROR ${c.code} and closes`, async () => {
          const raw = await channel.open(server);
          raws.push(raw);
          if (c.connected) await raw.connect();
          expectedErrors.set(c.code, (expectedErrors.get(c.code) ?? 0) + 1);
          for (const chunk of c.send) raw.send(chunk, Buffer.isBuffer(chunk) && channel.binary);
          const error = await raw.nextError();
          expect(error.headers.code, `message: ${error.headers.message}`).to.equal(c.code);
          expect(error.headers.message).to.match(c.says);
          expect(error.body.toString(), 'the body repeats the message for humans').to.include(error.headers.message);
          const closed = await raw.waitClosed();
          expect(closed.code, 'a numeric close code').to.equal(1000);
          await bystanderStillWorks(`${c.name} over ${channel.name}`);
        });
      }
    });
  }

  describe('over WebSocket /ws, one message above MAX_WS_MESSAGE_BYTES', () => {
    it('gets ERROR MESSAGE_TOO_LARGE, then close 1009, even when every frame in it is valid', async () => {
      const raw = await RawStomp.open(server.wsUrl);
      raws.push(raw);
      await raw.connect();
      const batch = Buffer.concat(Array.from({ length: 20 }, () => frame('SEND', { destination: `/topic/${unique('batch')}` }, 'z'.repeat(MAX_FRAME - 200))));
      expect(batch.length).to.be.greaterThan(MAX_WS_MESSAGE);
      expectedErrors.set('MESSAGE_TOO_LARGE', (expectedErrors.get('MESSAGE_TOO_LARGE') ?? 0) + 1);
      raw.send(batch);
      const error = await raw.nextError();
      expect(error.headers.code).to.equal('MESSAGE_TOO_LARGE');
      expect(error.headers.message).to.match(new RegExp(`WebSocket message exceeds the limit of ${MAX_WS_MESSAGE} bytes`));
      expect((await raw.waitClosed()).code).to.equal(1009);
      await bystanderStillWorks('an oversize WebSocket message');
    });
  });

  describe('over SockJS raw WebSocket /sockjs/websocket, one message above MAX_WS_MESSAGE_BYTES', () => {
    it('is closed with 1009 (faye-websocket closes before an ERROR could go out) and the relay stays up', async () => {
      const raw = await RawStomp.open(server.sockjsRawWsUrl, { protocols: [] });
      raws.push(raw);
      await raw.connect();
      raw.send('SEND\ndestination:/topic/x\n\n' + 'z'.repeat(MAX_WS_MESSAGE) + '\0');
      expect((await raw.waitClosed()).code).to.equal(1009);
      await bystanderStillWorks('an oversize SockJS WebSocket message');
    });
  });

  describe('over SockJS xhr_send, a request body above MAX_WS_MESSAGE_BYTES', () => {
    /** POSTs to `path` declaring `declared` bytes and sending `sent`; resolves with the status or the error. */
    function post(path: string, headers: Record<string, string | number>, chunks: string[]): Promise<number | string> {
      return new Promise((resolve) => {
        const req = http.request(`${server.http}${path}`, { method: 'POST', headers: { 'content-type': 'text/plain', ...headers } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', (err) => resolve(err.message));
        for (const chunk of chunks) req.write(chunk);
        // A declared length is left unfinished on purpose: the answer must not wait for the body.
        if (headers['content-length'] === undefined) req.end();
      });
    }

    it('is refused with 413 from its declared length, before the body is read', async () => {
      expect(await post(`/sockjs/1/${unique('s')}/xhr_send`, { 'content-length': MAX_WS_MESSAGE + 1 }, ['["x'])).to.equal(413);
      await bystanderStillWorks('an oversize declared xhr_send');
    });

    it('is cut off once a body without a declared length crosses the bound', async () => {
      const piece = 'y'.repeat(16 * 1024);
      const outcome = await post(`/sockjs/1/${unique('s')}/xhr_send`, { 'transfer-encoding': 'chunked' }, Array.from({ length: (MAX_WS_MESSAGE / piece.length) + 2 }, () => piece));
      expect([413, 'socket hang up', 'read ECONNRESET', 'write EPIPE', 'write ECONNRESET']).to.include(outcome);
      await bystanderStillWorks('an oversize chunked xhr_send');
    });
  });

  // A suite after the per-channel ones: mocha runs a suite's own tests before its child suites.
  describe('afterwards', () => {
    it('stays up and counts every ERROR it sent by code', async () => {
      const health = await request(`${server.http}/healthz`);
      expect(health.status).to.equal(200);
      expect(health.body.status).to.equal('ok');
      const metrics = (await request(`${server.http}/metrics`)).text;
      expect(expectedErrors.get('INVALID_COMMAND')).to.be.greaterThan(RAW_CHANNELS.length);
      for (const [code, count] of expectedErrors) {
        expect(metricValue(metrics, `stomp_relay_protocol_errors_total{code="${code}"}`), code).to.equal(count);
      }
      await bystanderStillWorks('the whole list');
    });
  });
});

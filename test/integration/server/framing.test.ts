/**
 * Bytes on the wire through a real relay: binary bodies, frames split across and batched within
 * WebSocket messages, STOMP 1.0/1.1 negotiation, and heart-beats.
 */
import { expect } from 'chai';
import {
  RawStomp, encodeRawFrame, startRelay, unique, waitFor, wsClient,
  type TestRelay,
  trackClients,
} from '../../harness/stomp-test-kit';

describe('server: framing, versions and heart-beats', function () {
  let server: TestRelay;
  const track = trackClients();

  before(async () => { server = await startRelay(); });
  after(async () => { await server.close(); });

  it('carries a binary body with NUL bytes intact, in a binary WebSocket frame', async () => {
    const topic = `/topic/${unique('bin')}`;
    const body = Buffer.from([0x00, 0xff, 0x00, 0xfe, 0x80, 0x00, 0x0a, 0x00, 0x41, 0xc3, 0x00]); // not UTF-8
    const raw = track(await RawStomp.open(server.wsUrl));
    await raw.connect();
    raw.sendFrame('SUBSCRIBE', { id: 'b', destination: topic, receipt: 'ready' });
    await raw.expect('RECEIPT');
    const stompjsReader = track(await wsClient(server));
    const sub = await stompjsReader.subscribe(topic);

    const publisher = track(await wsClient(server));
    await publisher.publish(topic, new Uint8Array(body), { 'content-type': 'application/octet-stream' });

    const frame = await raw.expect('MESSAGE');
    expect(frame.binary, 'sent as a binary WebSocket message').to.equal(true);
    expect(frame.headers['content-length']).to.equal(String(body.length));
    expect(frame.body.equals(body), `body ${frame.body.toString('hex')}`).to.equal(true);
    const viaStompjs = await sub.messages.next('MESSAGE at stompjs');
    expect(Buffer.from(viaStompjs.binaryBody).equals(body)).to.equal(true);
  });

  it('keeps a UTF-8 body containing NUL intact thanks to content-length', async () => {
    const topic = `/topic/${unique('nul')}`;
    const reader = track(await wsClient(server));
    const sub = await reader.subscribe(topic);
    const raw = track(await RawStomp.open(server.wsUrl));
    await raw.connect();
    const body = Buffer.from('before\u0000after ✓', 'utf8');
    raw.sendFrame('SEND', { destination: topic, receipt: 'sent' }, body);
    await raw.expect('RECEIPT');
    const m = await sub.messages.next();
    expect(Buffer.from(m.binaryBody).equals(body)).to.equal(true);
  });

  it('reassembles a frame sent one byte per WebSocket message', async () => {
    const topic = `/topic/${unique('trickle')}`;
    const reader = track(await wsClient(server));
    const sub = await reader.subscribe(topic);
    const raw = track(await RawStomp.open(server.wsUrl));
    await raw.connect();
    const body = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(40); // 1440 bytes
    const bytes = encodeRawFrame('SEND', { destination: topic, 'content-type': 'text/plain', receipt: 'done' }, body);
    for (let i = 0; i < bytes.length; i++) raw.send(bytes.subarray(i, i + 1));
    expect((await raw.expect('RECEIPT', 'RECEIPT after the trickled frame')).headers['receipt-id']).to.equal('done');
    expect((await sub.messages.next()).body).to.equal(body);
  });

  it('reassembles a 256 KiB frame sent in odd-sized WebSocket messages', async () => {
    const topic = `/topic/${unique('large')}`;
    const reader = track(await wsClient(server));
    const sub = await reader.subscribe(topic);
    const raw = track(await RawStomp.open(server.wsUrl));
    await raw.connect();
    const body = Buffer.alloc(256 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = 0x61 + (i % 26);
    const bytes = encodeRawFrame('SEND', { destination: topic, receipt: 'big' }, body);
    for (let i = 0; i < bytes.length; i += 997) raw.send(bytes.subarray(i, i + 997), true);
    await raw.expect('RECEIPT');
    const m = await sub.messages.next();
    expect(m.body.length).to.equal(body.length);
    expect(m.body === body.toString('latin1')).to.equal(true);
  });

  it('handles several frames (and heart-beats) in one WebSocket message, in order', async () => {
    const topic = `/topic/${unique('batch')}`;
    const raw = track(await RawStomp.open(server.wsUrl));
    await raw.connect();
    raw.send(Buffer.concat([
      encodeRawFrame('SUBSCRIBE', { id: 's', destination: topic, receipt: 'sub' }),
      encodeRawFrame('SEND', { destination: topic }, 'one'),
      Buffer.from('\n\r\n'),
      encodeRawFrame('SEND', { destination: topic }, 'two'),
      encodeRawFrame('SEND', { destination: topic, receipt: 'last' }, 'three'),
    ]));
    const frames = [];
    for (let i = 0; i < 5; i++) frames.push(await raw.frames.next(`frame ${i + 1} of 5`));
    expect(frames[0].command, 'SUBSCRIBE completes before the SENDs after it run').to.equal('RECEIPT');
    expect(frames[0].headers['receipt-id']).to.equal('sub');
    expect(frames.filter((f) => f.command === 'MESSAGE').map((f) => f.body.toString())).to.deep.equal(['one', 'two', 'three']);
    expect(frames.find((f) => f.command === 'RECEIPT' && f.headers['receipt-id'] === 'last')).to.not.equal(undefined);
  });

  it('takes 40 frames of 30 KiB in one WebSocket message: each is under the frame limit, the message bound is its own', async () => {
    const topic = `/topic/${unique('big-batch')}`;
    const reader = track(await wsClient(server));
    const sub = await reader.subscribe(topic);
    const raw = track(await RawStomp.open(server.wsUrl));
    await raw.connect();
    const body = 'y'.repeat(30 * 1024);
    const frames = Array.from({ length: 40 }, (_, i) => encodeRawFrame('SEND', { destination: topic, ...(i === 39 ? { receipt: 'all' } : {}) }, `${i}:${body}`));
    const message = Buffer.concat(frames);
    expect(message.length, 'above the old bound of MAX_FRAME_BYTES + 64 KiB').to.be.greaterThan(1024 * 1024 + 64 * 1024);
    raw.send(message);
    expect((await raw.expect('RECEIPT')).headers['receipt-id']).to.equal('all');
    const got = await sub.messages.take(40, 'the 40 messages');
    expect(got.map((m) => m.body.slice(0, m.body.indexOf(':')))).to.deep.equal(Array.from({ length: 40 }, (_, i) => String(i)));
  });

  it('carries header values with ":" and newlines intact to 1.2 clients, and cannot inject headers into a 1.0 client\'s MESSAGE', async () => {
    const topic = `/topic/${unique('escape')}`;
    const modern = track(await wsClient(server));
    const sub = await modern.subscribe(topic);
    const legacy = track(await RawStomp.open(server.wsUrl));
    legacy.sendFrame('CONNECT', {});
    expect((await legacy.expect('CONNECTED')).headers.version).to.equal('1.0');
    legacy.sendFrame('SUBSCRIBE', { destination: topic, receipt: 'sub' });
    await legacy.expect('RECEIPT');

    const sneaky = 'a:b\nmessage-id:forged\nx-admin:true';
    const sender = track(await wsClient(server)); // stompjs escapes header values for 1.2
    await sender.publish(topic, 'body', { 'x-note': sneaky });

    expect((await sub.messages.next()).headers['x-note']).to.equal(sneaky);
    const atLegacy = await legacy.expect('MESSAGE');
    expect(atLegacy.headers['message-id']).to.not.equal('forged');
    expect(atLegacy.headers['x-admin'], 'no header injected by an escaped newline').to.equal(undefined);
    expect(atLegacy.headers['x-note']).to.not.include('\n');
    expect(atLegacy.body.toString()).to.equal('body');
  });

  describe('version negotiation', () => {
    it('speaks STOMP 1.0 to a client that sends no accept-version (no heart-beat, SUBSCRIBE without id)', async () => {
      const raw = track(await RawStomp.open(server.wsUrl, { protocols: ['v10.stomp'] }));
      expect(raw.socket.protocol).to.equal('v10.stomp');
      raw.sendFrame('CONNECT', { login: 'old-timer' });
      const connected = await raw.expect('CONNECTED');
      expect(connected.headers.version).to.equal('1.0');
      expect(connected.headers['heart-beat']).to.equal(undefined);
      const topic = `/topic/${unique('v10')}`;
      raw.sendFrame('SUBSCRIBE', { destination: topic, receipt: 'sub' });
      await raw.expect('RECEIPT');
      raw.sendFrame('SEND', { destination: topic }, 'legacy');
      const m = await raw.expect('MESSAGE');
      expect(m.body.toString()).to.equal('legacy');
      expect(m.headers.destination).to.equal(topic);
      expect(m.headers['message-id']).to.be.a('string');
    });

    it('picks 1.1 from "1.0,1.1" and acks with message-id + subscription as 1.1 requires', async () => {
      const raw = track(await RawStomp.open(server.wsUrl));
      const connected = await raw.connect({ 'accept-version': '1.0,1.1', 'heart-beat': '0,0' });
      expect(connected.headers.version).to.equal('1.1');
      expect(connected.headers['heart-beat']).to.match(/^\d+,\d+$/);
      const queue = `/queue/${unique('v11')}`;
      raw.sendFrame('SUBSCRIBE', { id: 'q', destination: queue, ack: 'client', receipt: 'sub' });
      await raw.expect('RECEIPT');
      raw.sendFrame('SEND', { destination: queue }, 'one-one');
      const m = await raw.expect('MESSAGE');
      expect(m.headers.ack, '1.1 MESSAGE has no ack header').to.equal(undefined);
      raw.sendFrame('ACK', { 'message-id': m.headers['message-id'], subscription: 'q', receipt: 'acked' });
      expect((await raw.expect('RECEIPT')).headers['receipt-id']).to.equal('acked');
    });

    it('refuses a client offering only unknown versions, naming the supported ones', async () => {
      const raw = track(await RawStomp.open(server.wsUrl));
      raw.sendFrame('CONNECT', { 'accept-version': '2.0,3.1', host: 'x' });
      const error = await raw.expect('ERROR');
      expect(error.headers.code).to.equal('UNSUPPORTED_VERSION');
      expect(error.headers.version).to.equal('1.0,1.1,1.2');
      expect(error.headers.message).to.include('2.0');
      await raw.waitClosed();
    });
  });

  describe('heart-beats', () => {
    let fast: TestRelay;
    before(async () => { fast = await startRelay({ heartbeat: { sendMs: 100, receiveMs: 100, graceFactor: 2 } }); });
    after(async () => { await fast.close(); });

    it('sends EOL heart-beats at the negotiated interval', async () => {
      const raw = track(await RawStomp.open(fast.wsUrl));
      const connected = await raw.connect({ 'heart-beat': '0,120' });
      expect(connected.headers['heart-beat']).to.equal('100,100');
      await waitFor(() => raw.heartbeats.length >= 6, '6 heart-beats', 3_000);
      const gaps = raw.heartbeats.slice(1).map((t, i) => t - raw.heartbeats[i]).sort((x, y) => x - y);
      const median = gaps[Math.floor(gaps.length / 2)];
      // Negotiated max(100, 120) = 120 ms; allow scheduling jitter on a busy box.
      expect(median).to.be.within(80, 400);
      expect(raw.open, 'client asked for none of our heart-beats checks: it stays connected').to.equal(true);
    });

    it('closes a client that promised heart-beats and went silent, with ERROR HEARTBEAT_TIMEOUT', async () => {
      const raw = track(await RawStomp.open(fast.wsUrl));
      await raw.connect({ 'heart-beat': '100,0' });
      const started = performance.now();
      const error = await raw.nextError(3_000);
      const silentFor = performance.now() - started;
      expect(error.headers.code).to.equal('HEARTBEAT_TIMEOUT');
      expect(error.headers.message).to.match(/no data from client/);
      expect(silentFor, 'not before the grace period (2 × 100 ms)').to.be.greaterThan(150);
      await raw.waitClosed();
    });

    it('closes a socket that never sends CONNECT once the receive grace period passes', async () => {
      const raw = track(await RawStomp.open(fast.wsUrl));
      const error = await raw.nextError(3_000);
      expect(error.headers.code).to.equal('HEARTBEAT_TIMEOUT');
      await raw.waitClosed();
    });

    it('with the default settings, honours heart-beat:1000,1000: beats every second and closes a silent client after the 2 s grace', async () => {
      const relay = await startRelay(); // heart-beats 10000,10000, floor 1000
      try {
        const raw = track(await RawStomp.open(relay.wsUrl));
        const connected = await raw.connect({ 'heart-beat': '1000,1000' });
        expect(connected.headers['heart-beat']).to.equal('1000,1000');
        // Silent from now on. Closed after 2 × 1000 ms; with 10000 it would take 20 s.
        const error = await raw.nextError(8_000);
        expect(error.headers.code).to.equal('HEARTBEAT_TIMEOUT');
        expect(raw.heartbeats.length, 'the server heart-beat at 1000 ms meanwhile').to.be.at.least(1);
        await raw.waitClosed();
      } finally {
        await relay.close();
      }
    });

    it('keeps a client that heart-beats on time', async () => {
      // A 2 s grace (1000 ms × 2) and a client beating every 50 ms: a stalled event loop on a loaded
      // machine (the client and the relay share this process) stays far inside it.
      const relay = await startRelay({ heartbeat: { sendMs: 100, receiveMs: 1_000, graceFactor: 2 } });
      try {
        const raw = track(await RawStomp.open(relay.wsUrl));
        const connected = await raw.connect({ 'heart-beat': '1000,100' });
        expect(connected.headers['heart-beat']).to.equal('100,1000');
        const beat = setInterval(() => raw.send('\n'), 50);
        try {
          // Time as the relay's own clock tells it: 30 of its 100 ms heart-beats are at least 1.5
          // grace periods; a relay deaf to heart-beat EOLs would have closed the session by then.
          await waitFor(() => raw.heartbeats.length >= 30 || raw.frames.pending > 0, '30 heart-beats from the relay', 60_000);
          raw.sendFrame('SEND', { destination: `/topic/${unique('alive')}`, receipt: 'still-here' }, 'x');
          const frame = await raw.frames.next();
          expect(frame.command, JSON.stringify(frame.headers)).to.equal('RECEIPT');
        } finally {
          clearInterval(beat);
        }
      } finally {
        await relay.close();
      }
    });
  });
});

import { expect } from 'chai';
import type { AddressInfo } from 'node:net';
import { connectMany, connectStomp, type StompWsClient } from '../../../bench/lib/stomp-ws-client';
import { waitFor } from '../../../bench/lib/bounded';
import { createRelay, type Relay } from '../../../server/relay';
import { silentLogger } from '../../../server/observability/logger';

// The load client against a real relay (embedded broker) over real sockets.
describe('bench StompWsClient', () => {
  let relay: Relay;
  let url: string;
  const clients: StompWsClient[] = [];

  before(async () => {
    relay = createRelay({ port: 0, logger: silentLogger(), instanceId: 'bench-client-test' });
    const address: AddressInfo = await relay.listen(0, '127.0.0.1');
    url = `ws://127.0.0.1:${address.port}/ws`;
  });

  afterEach(() => {
    for (const c of clients.splice(0)) c.terminate();
  });

  after(async () => {
    await relay.close();
  });

  it('subscribes, sends and receives the exact body on every subscriber', async () => {
    const subs = await connectMany(3, (i) => ({ url, login: `user-${i}` }), 2);
    const pub = await connectStomp({ url, login: 'publisher' });
    clients.push(...subs, pub);
    const received: Buffer[][] = subs.map(() => []);
    await Promise.all(subs.map((c, i) => c.subscribe('/topic/bench.client', (frame) => received[i]!.push(frame.body))));
    const body = Buffer.from([0x41, 0x00, 0x42, 0x0a]); // NUL and EOL inside: content-length framing
    pub.send('/topic/bench.client', body);
    const { met } = await waitFor(() => received.every((r) => r.length === 1), 5_000);
    expect(met).to.equal(true);
    for (const r of received) expect(r[0]!.equals(body)).to.equal(true);
  });

  it('sendConfirmed resolves on the RECEIPT', async () => {
    const pub = await connectStomp({ url, login: 'publisher' });
    clients.push(pub);
    await pub.sendConfirmed('/topic/bench.nobody', Buffer.from('x'));
    expect(pub.errors).to.have.length(0);
  });

  it('collects ERROR frames and rejects a subscription the server refuses', async () => {
    const c = await connectStomp({ url, login: 'someone' });
    clients.push(c);
    let failure: unknown;
    await c.subscribe('/not-a-relayed-prefix/x', () => undefined).catch((err) => { failure = err; });
    expect(failure).to.be.instanceOf(Error);
    expect(c.errors.map((f) => f.command)).to.deep.equal(['ERROR']);
  });

  it('close() sends DISCONNECT and ends with the socket closed', async () => {
    const c = await connectStomp({ url, login: 'leaver' });
    await c.close();
    expect(c.closed).to.equal(true);
  });

  it('sends heart-beats as negotiated, so a server expecting them keeps the session', async () => {
    // This relay wants a client heart-beat every 100 ms and drops a session silent for 2 × that.
    const strict = createRelay({ port: 0, logger: silentLogger(), instanceId: 'bench-hb-test', heartbeat: { receiveMs: 100, sendMs: 0 } });
    const address: AddressInfo = await strict.listen(0, '127.0.0.1');
    try {
      const c = await connectStomp({ url: `ws://127.0.0.1:${address.port}/ws`, login: 'quiet', heartbeatMs: 50 });
      clients.push(c);
      const dropped = await waitFor(() => c.closed, 700);
      expect(dropped.met).to.equal(false);
      expect(c.errors).to.have.length(0);
    } finally {
      await strict.close();
    }
  });

  it('rejects when nothing answers the handshake', async () => {
    let failure: unknown;
    await connectStomp({ url: 'ws://127.0.0.1:1/ws', login: 'x', timeoutMs: 2_000 }).catch((err) => { failure = err; });
    expect(failure).to.be.instanceOf(Error);
  });
});

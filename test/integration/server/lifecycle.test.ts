/**
 * Graceful shutdown of a real relay: connected clients on every transport are told why (ERROR
 * SHUTTING_DOWN) before their socket closes, work the relay already accepted still gets its
 * RECEIPT, readiness turns off, and new connections are turned away.
 */
import { expect } from 'chai';
import type { Broker, PublishOptions, PublishRequest } from '../../../server/broker/broker';
import { MemoryBroker } from '../../../server/broker/memory/memory-broker';
import { silentLogger } from '../../../server/observability/logger';
import {
  RawStomp, request, sockjsClient, startRelay, unique, within, wsClient,
  type TestClient,
  trackClients,
} from '../../harness/stomp-test-kit';

/**
 * The embedded broker with publish confirmations held until the test releases them: the only way to
 * have a SEND provably "in flight" at the moment shutdown starts.
 */
class HeldConfirmBroker extends MemoryBroker {
  private held: Array<() => void> = [];
  private arrivedWaiters: Array<() => void> = [];
  hold = false;

  override async publish(request: PublishRequest, options?: PublishOptions): Promise<void> {
    await super.publish(request, options);
    if (!this.hold || !options?.confirm) return;
    await new Promise<void>((resolve) => {
      this.held.push(resolve);
      for (const w of this.arrivedWaiters.splice(0)) w();
    });
  }

  /** Resolves once a confirmed publish is being held. */
  whenHolding(): Promise<void> {
    if (this.held.length > 0) return Promise.resolve();
    return new Promise((resolve) => this.arrivedWaiters.push(resolve));
  }

  release(): void {
    this.hold = false;
    for (const r of this.held.splice(0)) r();
  }
}

describe('server: graceful shutdown', function () {
  const track = trackClients();

  it('tells every connected client ERROR SHUTTING_DOWN before closing its socket, on ws and SockJS', async () => {
    const server = await startRelay();
    const ws = track(await wsClient(server, { login: 'alice' }));
    const sj = track(await sockjsClient(server, 'xhr-streaming', { login: 'bob' }));
    const raw = track(await RawStomp.open(server.wsUrl));
    await raw.connect();
    // Order of what each stompjs client noticed.
    const events = new Map<TestClient, string[]>([[ws, []], [sj, []]]);
    for (const [c, log] of events) {
      c.errors.next('ERROR', 5_000).then((f) => log.push(`ERROR ${f.headers.code}`), () => undefined);
      void c.closed.then(() => log.push('closed'));
    }

    const closing = server.close();

    const error = await raw.nextError();
    expect(error.headers.code).to.equal('SHUTTING_DOWN');
    expect(error.headers.message).to.match(/shutting down/);
    await raw.waitClosed();
    for (const [c, log] of events) {
      await within(c.closed, 'client socket closed');
      await new Promise((resolve) => setImmediate(resolve));
      expect(log).to.deep.equal(['ERROR SHUTTING_DOWN', 'closed']);
    }
    await within(closing, 'close() to finish');
    const refused = await fetch(`${server.http}/healthz`).then(() => 'answered', () => 'refused');
    expect(refused, 'nothing listens after close()').to.equal('refused');
  });

  it('turns /readyz to 503 as soon as shutdown begins, while sessions drain', async () => {
    const server = await startRelay({ shutdownGraceMs: 1_500 });
    // A client that stops reading never completes the close handshake: the drain waits for it
    // until the grace period ends, which keeps the HTTP server up for this check.
    const stubborn = track(await RawStomp.open(server.wsUrl));
    await stubborn.connect();
    (stubborn.socket as unknown as { _socket: { pause(): void } })._socket.pause();
    expect((await request(`${server.http}/readyz`)).status).to.equal(200);
    const closing = server.close();
    const during = await request(`${server.http}/readyz`);
    expect(during.status).to.equal(503);
    expect(during.body).to.deep.include({ status: 'not ready', accepting: false });
    expect((await request(`${server.http}/healthz`)).status, 'still alive while draining').to.equal(200);
    await within(closing, 'close() to finish after the grace period');
  });

  it('still sends the RECEIPT of a SEND the broker confirms after shutdown began', async () => {
    const broker = new HeldConfirmBroker({ logger: silentLogger() });
    const server = await startRelay({ broker: broker as Broker, shutdownGraceMs: 3_000 });
    const topic = `/topic/${unique('inflight')}`;
    const reader = track(await RawStomp.open(server.wsUrl));
    await reader.connect();
    reader.sendFrame('SUBSCRIBE', { id: 's', destination: topic, receipt: 'sub' });
    await reader.expect('RECEIPT');

    const writer = track(await RawStomp.open(server.wsUrl));
    await writer.connect();
    broker.hold = true;
    writer.sendFrame('SEND', { destination: topic, receipt: 'in-flight' }, 'accepted before shutdown');
    await within(broker.whenHolding(), 'the SEND to reach the broker');

    const closing = server.close();
    await new Promise((resolve) => setImmediate(resolve));
    broker.release();

    const frames = [];
    for (;;) {
      const f = await writer.frames.next('RECEIPT and/or ERROR from the writer');
      frames.push(`${f.command} ${f.headers['receipt-id'] ?? f.headers.code}`);
      if (f.command === 'ERROR') break;
    }
    expect(frames, 'the RECEIPT comes before the session is ended').to.deep.equal(['RECEIPT in-flight', 'ERROR SHUTTING_DOWN']);
    expect((await reader.expect('MESSAGE')).body.toString()).to.equal('accepted before shutdown');
    await within(closing, 'close() to finish');
  });
});

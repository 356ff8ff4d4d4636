import { EventEmitter } from 'node:events';
import { expect } from 'chai';
import type { WebSocket } from 'ws';
import { frameHeaderBytes } from '../../../server/transport/ws-frames';
import { WsTransport } from '../../../server/transport/ws-transport';

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

  it('counts the frame header of each payload-length encoding (RFC 6455 §5.2)', () => {
    expect([0, 125, 126, 65535, 65536].map(frameHeaderBytes)).to.deep.equal([2, 2, 4, 4, 10]);
  });
});

/**
 * The ws transport writes MESSAGE frames itself, framed once per payload for every socket
 * (server/transport/ws-frames.ts): what arrives must be what ws would have sent. Real sockets, a
 * stock `ws` client (RawStomp) and @stomp/stompjs, payloads on both sides of each length encoding
 * of RFC 6455 §5.2 (7-bit up to 125, 16-bit from 126 to 65535, 64-bit from 65536).
 */
import { expect } from 'chai';
import type WebSocket from 'ws';
import { RawStomp, encodeRawFrame, startRelay, trackClients, unique, wsClient, type TestRelay } from '../../harness/stomp-test-kit';

/** A body of `bytes`: ASCII (a text frame) or with 0xff bytes in it (not UTF-8: a binary frame). */
function bodyOf(bytes: number, binary: boolean): Buffer {
  const body = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) body[i] = binary && i % 7 === 0 ? 0xff : 0x61 + (i % 26);
  return body;
}

describe('server: MESSAGE frames the ws transport builds itself', function () {
  let server: TestRelay;
  const track = trackClients();

  before(async () => { server = await startRelay(); });
  after(async () => { await server.close(); });

  for (const binary of [false, true]) {
    const kind = binary ? 'binary' : 'text';
    it(`${kind} MESSAGEs of 125, 126, 65535 and 65536 bytes arrive intact at a ws client and at stompjs`, async () => {
      const topic = `/topic/${unique('f')}`; // short: the headers must leave room under 125 bytes
      const raw = track(await RawStomp.open(server.wsUrl));
      await raw.connect();
      raw.sendFrame('SUBSCRIBE', { id: 's', destination: topic, receipt: 'ready' });
      await raw.expect('RECEIPT');
      // What the WebSocket layer delivered: one entry per message, its payload's length and opcode.
      const payloads: Array<{ bytes: number; binary: boolean }> = [];
      (raw.socket as WebSocket).on('message', (data: Buffer, isBinary: boolean) => payloads.push({ bytes: data.length, binary: isBinary }));
      const reader = track(await wsClient(server));
      const sub = await reader.subscribe(topic);
      const publisher = track(await wsClient(server));

      const publishAndCheck = async (bodyBytes: number): Promise<number> => {
        const body = bodyOf(bodyBytes, binary);
        await publisher.publish(topic, new Uint8Array(body));
        const frame = await raw.expect('MESSAGE');
        expect(frame.body.equals(body), `${bodyBytes}-byte body at the ws client`).to.equal(true);
        expect(frame.binary).to.equal(binary);
        const viaStompjs = await sub.messages.next(`${bodyBytes}-byte body at stompjs`);
        expect(Buffer.from(viaStompjs.binaryBody).equals(body), `${bodyBytes}-byte body at stompjs`).to.equal(true);
        const payload = payloads[payloads.length - 1];
        expect(payload.binary).to.equal(binary);
        return payload.bytes;
      };

      const overhead = (await publishAndCheck(1)) - 1; // the MESSAGE's command and headers
      expect(overhead, 'headers short enough to reach a 125-byte frame').to.be.below(124);
      for (const target of [125, 126, 65535, 65536]) {
        // The headers' length moves a little with the body's (content-length, message-id): home in.
        let bodyBytes = target - overhead;
        let got = await publishAndCheck(bodyBytes);
        for (let attempt = 0; got !== target && attempt < 4; attempt++) {
          bodyBytes += target - got;
          got = await publishAndCheck(bodyBytes);
        }
        expect(got, `a MESSAGE of exactly ${target} bytes`).to.equal(target);
      }
    });
  }

  it('flushes every MESSAGE written before the session closes the socket', async () => {
    const topic = `/topic/${unique('flush')}`;
    const raw = track(await RawStomp.open(server.wsUrl));
    await raw.connect();
    raw.sendFrame('SUBSCRIBE', { id: 's', destination: topic, receipt: 'ready' });
    await raw.expect('RECEIPT');
    const bodies = [100, 65536, 300_000, 126].map((bytes, i) => bodyOf(bytes, i % 2 === 1));
    // One WebSocket message: the SENDs come back to this subscriber in the same turn of the event
    // loop as DISCONNECT's RECEIPT and the close frame after it.
    raw.send(
      Buffer.concat([
        ...bodies.map((body) => encodeRawFrame('SEND', { destination: topic, 'content-type': 'application/octet-stream' }, body)),
        encodeRawFrame('DISCONNECT', { receipt: 'bye' }),
      ]),
      true,
    );
    for (const body of bodies) {
      const frame = await raw.expect('MESSAGE');
      expect(frame.body.equals(body), `${body.length}-byte body`).to.equal(true);
    }
    expect((await raw.expect('RECEIPT')).headers['receipt-id']).to.equal('bye');
    expect((await raw.waitClosed()).code).to.equal(1000);
  });
});

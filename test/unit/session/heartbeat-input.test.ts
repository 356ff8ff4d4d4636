import { expect } from 'chai';
import { isHeartbeatOnly } from '../../../server/codec/parser';
import { createTestHub, type TestHub } from './session-harness';

/**
 * Bare EOLs between frames: a session lets go of its parser on a heart-beat while the parser is
 * between frames, and makes a new one for the next frame. What the client sends must read the same.
 */
describe('session: heart-beats between frames', () => {
  let t: TestHub;
  beforeEach(async () => { t = await createTestHub(); });
  afterEach(async () => t.stop());

  it('reads frames after heart-beats in the negotiated version (1.0: no header escaping)', async () => {
    const c = await t.open({ acceptVersion: '1.0' });
    c.receive('\n');
    c.receive('\r\n\n');
    // In 1.0 a backslash is a plain character: the id is `a\cb`, not `a:b`.
    c.receive('SUBSCRIBE\nid:a\\cb\ndestination:/topic/hb\nreceipt:r1\n\n\0');
    expect((await c.next('RECEIPT')).headers['receipt-id']).to.equal('r1');
    c.receive('\n');
    c.receive('SEND\ndestination:/topic/hb\n\nhello\0');
    const message = await c.next('MESSAGE');
    expect(message.headers.subscription).to.equal('a\\cb');
    expect(message.body.toString()).to.equal('hello');
  });

  it('keeps EOLs that belong to a frame or to a split CR LF in the frame', async () => {
    const c = await t.open();
    c.receive('\r'); // half of a heart-beat: the LF comes in the next chunk
    c.receive('\n');
    c.receive('SUBSCRIBE\nid:1\ndestination:/topic/split\nreceipt:r2\n');
    c.receive('\n'); // the empty line that ends the headers, alone in its chunk
    c.receive('\0\n');
    expect((await c.next('RECEIPT')).headers['receipt-id']).to.equal('r2');
    c.receive('SEND\ndestination:/topic/split\n\n');
    c.receive('\n\n'); // body bytes that look like heart-beats
    c.receive('\0');
    const message = await c.next('MESSAGE');
    expect(message.body.toString()).to.equal('\n\n');
  });
});

describe('isHeartbeatOnly', () => {
  it('is true for complete EOLs only', () => {
    expect(isHeartbeatOnly(Buffer.from('\n'))).to.equal(true);
    expect(isHeartbeatOnly(Buffer.from('\r\n\n\r\n'))).to.equal(true);
    expect(isHeartbeatOnly(Buffer.from('\r'))).to.equal(false);
    expect(isHeartbeatOnly(Buffer.from('\n\r'))).to.equal(false);
    expect(isHeartbeatOnly(Buffer.from('\nS'))).to.equal(false);
    expect(isHeartbeatOnly(Buffer.from('\0'))).to.equal(false);
  });
});

import { expect } from 'chai';
import { createTestHub, type FakeTransport, type TestHub } from './session-harness';

/** `x-relay-sender`: who sent a message, set by the relay, never by the client. */
describe('session: x-relay-sender on SEND', () => {
  let t: TestHub;
  beforeEach(async () => { t = await createTestHub(); });
  afterEach(async () => t.stop());

  async function subscriber(destination: string): Promise<FakeTransport> {
    const bob = await t.open({ login: 'bob' });
    bob.sendFrame('SUBSCRIBE', { id: 's', destination, receipt: 'r' });
    await bob.next('RECEIPT');
    return bob;
  }

  it('names the sending user', async () => {
    const bob = await subscriber('/topic/chat');
    const alice = await t.open({ login: 'alice' });
    alice.sendFrame('SEND', { destination: '/topic/chat' }, 'hi');
    expect((await bob.next('MESSAGE')).headers['x-relay-sender']).to.equal('alice');
  });

  it('replaces a value the client set, in any letter case, so receivers see only the relay\'s', async () => {
    const bob = await subscriber('/topic/chat');
    const mallory = await t.open({ login: 'mallory' });
    mallory.sendFrame('SEND', { destination: '/topic/chat', 'x-relay-sender': 'alice', 'X-Relay-Sender': 'alice', 'X-RELAY-SENDER': 'alice' }, 'forged?');
    const message = await bob.next('MESSAGE');
    expect(message.headers['x-relay-sender']).to.equal('mallory');
    const spelled = Object.keys(message.headers).filter((h) => h.toLowerCase() === 'x-relay-sender');
    expect(spelled).to.deep.equal(['x-relay-sender']);
    // The session goes on: replacing is not an offence.
    mallory.sendFrame('SEND', { destination: '/topic/chat', receipt: 'still-here' }, 'ok');
    expect((await mallory.next('RECEIPT')).headers['receipt-id']).to.equal('still-here');
  });

  it('is absent for an anonymous sender, even when the client set one', async () => {
    const bob = await subscriber('/topic/chat');
    const anonymous = await t.open();
    anonymous.sendFrame('SEND', { destination: '/topic/chat', 'x-relay-sender': 'alice' }, 'who?');
    const message = await bob.next('MESSAGE');
    expect(Object.keys(message.headers).filter((h) => h.toLowerCase() === 'x-relay-sender')).to.deep.equal([]);
  });

  it('is set on SENDs held in a transaction too', async () => {
    const bob = await subscriber('/queue/work');
    const mallory = await t.open({ login: 'mallory' });
    mallory.sendFrame('BEGIN', { transaction: 'tx' });
    mallory.sendFrame('SEND', { destination: '/queue/work', transaction: 'tx', 'x-relay-sender': 'alice' }, 'job');
    mallory.sendFrame('COMMIT', { transaction: 'tx' });
    expect((await bob.next('MESSAGE')).headers['x-relay-sender']).to.equal('mallory');
  });
});

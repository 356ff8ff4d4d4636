/**
 * FixedDelayQueue, the one timer behind SockJS's WebSocket heart-beats: entries fire in the order
 * they were added, a removed entry never fires, adding again restarts an entry's wait, and an entry
 * may be added again from its own callback. Awaits the callbacks; asserts order, never timing.
 */
import { expect } from 'chai';
import { DelayEntry, FixedDelayQueue } from '../../../server/transport/fixed-delay-queue';
import { Inbox } from '../../harness/stomp-test-kit';

describe('transport: FixedDelayQueue', () => {
  it('fires entries in the order they were added, never a removed one, and a re-added one after those added before it', async () => {
    const fired = new Inbox<string>();
    const queue = new FixedDelayQueue<string>(20, (name) => fired.push(name));
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((name) => new DelayEntry(name));
    for (const entry of [a!, b!, c!, d!]) queue.add(entry);
    queue.remove(b!);
    queue.add(a!); // restarts a's wait: now after c and d
    expect(await fired.take(3)).to.deep.equal(['c', 'd', 'a']);
    expect([a, b, c, d].map((e) => e!.queued)).to.deep.equal([false, false, false, false]);
    // Nothing else fires: the next thing to arrive is what is added now.
    queue.add(b!);
    expect(await fired.next()).to.equal('b');
  });

  it('lets a callback add its entry again (a heart-beat every delay), and reports a throw without stopping the others', async () => {
    const fired = new Inbox<string>();
    const errors = new Inbox<unknown>();
    let rounds = 0;
    const queue: FixedDelayQueue<string> = new FixedDelayQueue<string>(
      10,
      (name) => {
        if (name === 'thrower') throw new Error('boom');
        fired.push(`${name}${rounds}`);
        if (++rounds < 3) queue.add(entry);
      },
      (err) => errors.push(err),
    );
    const entry = new DelayEntry('tick');
    queue.add(new DelayEntry('thrower'));
    queue.add(entry);
    expect(await fired.take(3)).to.deep.equal(['tick0', 'tick1', 'tick2']);
    expect(((await errors.next()) as Error).message).to.equal('boom');
    expect(entry.queued).to.equal(false);
  });
});

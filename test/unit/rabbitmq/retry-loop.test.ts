import { expect } from 'chai';
import { RetryLoop } from '../../../server/broker/rabbitmq/backoff';

describe('RetryLoop (the reconnect loop of the STOMP connections and the AMQP link)', () => {
  it('keeps one attempt pending, counts failures for the backoff, and starts a new series on success', async () => {
    const waits: number[] = [];
    let attempts = 0;
    let attempted: () => void = () => undefined;
    const loop = new RetryLoop(() => { attempts++; attempted(); }, (failures) => { waits.push(failures); return 0; });
    const next = () => new Promise<void>((resolve) => { attempted = resolve; });

    let done = next();
    loop.later();
    loop.later(); // one pending already: no second
    await done;
    expect(attempts).to.equal(1);
    expect(loop.failures).to.equal(1);
    done = next();
    loop.later();
    await done;
    expect(waits).to.deep.equal([0, 1]);
    loop.succeeded();
    expect(loop.failures).to.equal(0);
    loop.stop();
  });

  it('makes the pending attempt at once on now(), and nothing after stop()', async () => {
    let attempts = 0;
    const loop = new RetryLoop(() => { attempts++; }, () => 60_000);
    loop.now(); // nothing pending
    expect(attempts).to.equal(0);
    loop.later();
    loop.now();
    expect(attempts).to.equal(1);
    loop.later();
    loop.stop();
    loop.now();
    loop.later();
    expect(attempts).to.equal(1);
    expect(loop.stopped).to.equal(true);
  });
});

import { expect } from 'chai';
import { paced, runConcurrently, waitFor, waitForAsync } from '../../../bench/lib/bounded';

describe('bench bounded helpers', () => {
  it('waitFor reports a condition that never holds once the timeout passed', async () => {
    const r = await waitFor(() => false, 50, 5);
    expect(r.met).to.equal(false);
    expect(r.elapsedMs).to.be.at.least(50);
  });

  it('waitFor returns as soon as the condition holds', async () => {
    let n = 0;
    const r = await waitFor(() => ++n >= 3, 5_000, 1);
    expect(r.met).to.equal(true);
    expect(n).to.equal(3);
  });

  it('waitForAsync evaluates one condition at a time until it holds, or ends at its deadline', async () => {
    let running = 0;
    let n = 0;
    const met = await waitForAsync(async () => {
      running++;
      expect(running).to.equal(1);
      await new Promise((resolve) => setImmediate(resolve));
      running--;
      return ++n >= 3;
    }, 5_000, 1);
    expect(met.met).to.equal(true);
    expect(n).to.equal(3);
    expect((await waitForAsync(async () => false, 30, 5)).met).to.equal(false);
  });

  it('paced sends exactly count items in order at about the given rate', async () => {
    const seen: number[] = [];
    const start = Date.now();
    const sent = await paced({ count: 50, rate: 500, sendOne: (i) => seen.push(i), deadline: Date.now() + 5_000 });
    const elapsed = Date.now() - start;
    expect(sent).to.equal(50);
    expect(seen).to.deep.equal(Array.from({ length: 50 }, (_, i) => i));
    // 50 at 500/s is ~98 ms; a loaded machine may be late, but pacing must not send all at once.
    expect(elapsed).to.be.at.least(80);
  });

  it('paced stops at the deadline and holds while canSend is false', async () => {
    let sent = 0;
    const n = await paced({ count: 1_000, rate: Infinity, sendOne: () => sent++, canSend: () => sent < 10, deadline: Date.now() + 50 });
    expect(n).to.equal(10);
  });

  it('runConcurrently never runs more than the limit at once and runs every task', async () => {
    let running = 0;
    let peak = 0;
    const done = await runConcurrently(20, 3, async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, 2));
      running--;
    }, Date.now() + 5_000);
    expect(done).to.equal(20);
    expect(peak).to.equal(3);
  });
});

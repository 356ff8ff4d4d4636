import { expect } from 'chai';
import { backoffDelay } from '../../../server/broker/rabbitmq/backoff';

describe('rabbitmq backoffDelay', () => {
  const options = { initialMs: 200, maxMs: 10_000 };

  it('stays within [d/2, d] with d doubling from initialMs', () => {
    for (let attempt = 0; attempt < 6; attempt++) {
      const d = 200 * 2 ** attempt;
      expect(backoffDelay(attempt, options, () => 0)).to.equal(d / 2);
      expect(backoffDelay(attempt, options, () => 0.999999)).to.be.within(d / 2, d);
    }
  });

  it('never exceeds maxMs, even after very many attempts', () => {
    for (const attempt of [6, 10, 31, 1000]) {
      expect(backoffDelay(attempt, options, () => 1)).to.equal(10_000);
      expect(backoffDelay(attempt, options, () => 0)).to.equal(5_000);
    }
  });

  it('spreads instances that failed together (jitter)', () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(4, options)));
    expect(delays.size).to.be.greaterThan(10);
  });
});

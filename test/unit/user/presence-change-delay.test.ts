/**
 * Presence coalesces local changes for longer when its snapshots are big: every instance builds and
 * parses every snapshot, so with a fixed 50 ms delay a burst of connects cost O(users) every 50 ms on
 * every instance (quadratic in users; bench/connections.ts --instances 3 could not connect 60,000).
 */
import { expect } from 'chai';
import { changeDelayFor } from '../../../server/user/presence';

describe('presence change delay', () => {
  it('stays at the minimum for small snapshots, so a few users see each other at once', () => {
    expect(changeDelayFor(0, 50, 5_000)).to.equal(50);
    expect(changeDelayFor(100, 50, 5_000)).to.equal(50);
  });

  it('grows in proportion to the users of the last snapshot, so snapshots per second fall as they grow', () => {
    expect(changeDelayFor(20_000, 50, 5_000)).to.equal(2_000);
    expect(changeDelayFor(40_000, 50, 5_000)).to.equal(2 * changeDelayFor(20_000, 50, 5_000));
  });

  it('never exceeds the periodic interval, so presence is never staler than without changes', () => {
    expect(changeDelayFor(1_000_000, 50, 5_000)).to.equal(5_000);
  });
});

import { expect } from 'chai';
import { DeliveryTracker, sumDeliveryCounts } from '../../../bench/lib/delivery-tracker';
import { stampBody } from '../../../bench/lib/stats';

describe('bench DeliveryTracker', () => {
  const msg = (seq: number, sentAt = 0) => stampBody(seq, sentAt, 100);

  it('counts each (subscriber, message) once and reports what is missing', () => {
    const t = new DeliveryTracker(2, 1000, 3);
    t.onMessage(0, msg(1000, 10), 15);
    t.onMessage(0, msg(1001, 10), 30);
    t.onMessage(1, msg(1000, 10), 12);
    expect(t.expected).to.equal(6);
    expect(t.delivered).to.equal(3);
    expect(t.lost).to.equal(3);
    expect(t.complete()).to.equal(false);
    expect(t.subscribersReached).to.equal(2);
    expect(t.latency.summary()).to.deep.include({ p50: 5, max: 20 });
    expect(t.firstDeliveryAt).to.equal(15);
    expect(t.lastDeliveryAt).to.equal(12);
  });

  it('counts a redelivery as a duplicate, not as a delivery', () => {
    const t = new DeliveryTracker(1, 0, 2);
    t.onMessage(0, msg(1), 1);
    t.onMessage(0, msg(1), 2);
    expect(t.delivered).to.equal(1);
    expect(t.duplicates).to.equal(1);
  });

  it('ignores messages outside its range and bodies without a stamp', () => {
    const t = new DeliveryTracker(1, 100, 2);
    t.onMessage(0, msg(99), 1);
    t.onMessage(0, msg(102), 1);
    t.onMessage(0, Buffer.from('not a stamp'), 1);
    expect(t.delivered).to.equal(0);
    expect(t.stray).to.equal(3);
    expect(t.subscribersReached).to.equal(0);
  });

  it('is complete when every subscriber got every message', () => {
    const t = new DeliveryTracker(2, 0, 2);
    for (const sub of [0, 1]) for (const seq of [0, 1]) t.onMessage(sub, msg(seq), 1);
    expect(t.complete()).to.equal(true);
    expect(t.lost).to.equal(0);
  });

  it('reads the stamp from where the body starts in a whole message', () => {
    const t = new DeliveryTracker(1, 5, 1);
    t.onMessage(0, Buffer.concat([Buffer.from('MESSAGE\nid:9:9;\n\n'), msg(5, 10)]), 12, 17);
    expect(t.delivered).to.equal(1);
    expect(t.latency.summary().max).to.equal(2);
  });

  it('sums the counts of trackers over disjoint subscribers', () => {
    const a = new DeliveryTracker(1, 0, 2);
    const b = new DeliveryTracker(1, 0, 2);
    a.onMessage(0, msg(0), 5);
    a.onMessage(0, msg(0), 6);
    b.onMessage(0, msg(1), 3);
    b.onMessage(0, msg(9), 9);
    const idle = new DeliveryTracker(1, 0, 2);
    expect(sumDeliveryCounts([a.counts(), b.counts(), idle.counts()])).to.deep.equal({
      delivered: 2, duplicates: 1, stray: 1, subscribersReached: 2, firstDeliveryAt: 3, lastDeliveryAt: 5,
    });
  });
});

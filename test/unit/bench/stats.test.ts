import { expect } from 'chai';
import { LatencyRecorder, percentile, readStamp, stampBody } from '../../../bench/lib/stats';

describe('bench stats', () => {
  describe('percentile', () => {
    it('uses the nearest rank', () => {
      const sorted = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
      expect(percentile(sorted, 50)).to.equal(50);
      expect(percentile(sorted, 99)).to.equal(99);
      expect(percentile(sorted, 100)).to.equal(100);
      expect(percentile([7], 99)).to.equal(7);
      expect(percentile([1, 2, 3], 0)).to.equal(1);
    });

    it('is NaN for no samples', () => {
      expect(percentile([], 50)).to.be.NaN;
    });
  });

  describe('LatencyRecorder', () => {
    it('sorts numerically and reports p50/p99/max', () => {
      const r = new LatencyRecorder(10);
      for (const ms of [100, 9, 20, 3, 1000]) r.record(ms);
      const s = r.summary();
      expect(s).to.deep.equal({ p50: 20, p99: 1000, max: 1000, samples: 5 });
    });

    it('hands its stored samples on and takes another recorder\'s', () => {
      const a = new LatencyRecorder(2);
      for (const ms of [5, 1, 9]) a.record(ms);
      const merged = new LatencyRecorder(10);
      merged.recordAll(a.storedSamples(), a.count);
      merged.record(3);
      expect(merged.count).to.equal(4);
      expect(merged.summary()).to.deep.equal({ p50: 3, p99: 5, max: 5, samples: 3 });
    });

    it('counts samples beyond its capacity without storing them', () => {
      const r = new LatencyRecorder(2);
      r.record(1);
      r.record(2);
      r.record(3);
      expect(r.count).to.equal(3);
      expect(r.summary().samples).to.equal(2);
      expect(r.summary().max).to.equal(2);
    });
  });

  describe('stampBody / readStamp', () => {
    it('round-trips sequence and send time in a body of the requested size', () => {
      const body = stampBody(1234567, 98765.4321, 100);
      expect(body.length).to.equal(100);
      const stamp = readStamp(body)!;
      expect(stamp.seq).to.equal(1234567);
      expect(stamp.sentAtMs).to.be.closeTo(98765.4321, 0.001);
    });

    it('grows the body when the stamp does not fit', () => {
      const body = stampBody(1, 1, 1);
      expect(readStamp(body)).to.deep.equal({ seq: 1, sentAtMs: 1 });
    });

    it('reads a stamp wrapped in a JSON string', () => {
      const json = Buffer.from(JSON.stringify(stampBody(42, 5, 1).toString('latin1')));
      expect(readStamp(json)).to.deep.equal({ seq: 42, sentAtMs: 5 });
    });

    it('reads a stamp from the text a Socket.IO client receives', () => {
      const text = stampBody(77, 12.5, 100).toString('latin1');
      expect(readStamp(text)).to.deep.equal({ seq: 77, sentAtMs: 12.5 });
      expect(readStamp('12:34')).to.equal(undefined);
      expect(readStamp('')).to.equal(undefined);
    });

    it('returns undefined for bodies without a stamp', () => {
      expect(readStamp(Buffer.from('hello'))).to.equal(undefined);
      expect(readStamp(Buffer.from('12;34'))).to.equal(undefined);
      expect(readStamp(Buffer.from('12:'))).to.equal(undefined);
      expect(readStamp(Buffer.alloc(0))).to.equal(undefined);
    });
  });
});

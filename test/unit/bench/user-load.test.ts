import { expect } from 'chai';
import { parseErlangIntegers } from '../../../bench/lib/rabbit-footprint';
import {
  instanceOfUser, parsePushBody, pushBody, sampleUsersOffFirstInstance, sourceAddressOf, splitRange, sumPhase, sumStatus, topicOfUser, usersOfInstance,
  type RoundStatus,
} from '../../../bench/lib/user-load';

describe('bench user-load helpers', () => {
  it('splitRange covers every user exactly once, in contiguous ranges differing by at most one', () => {
    for (const [total, parts] of [[10, 3], [60_000, 7], [5, 5], [3, 4]] as const) {
      const ranges = splitRange(total, parts);
      expect(ranges).to.have.length(parts);
      expect(ranges[0]!.from).to.equal(0);
      expect(ranges[parts - 1]!.to).to.equal(total);
      for (let i = 1; i < parts; i++) expect(ranges[i]!.from).to.equal(ranges[i - 1]!.to);
      const sizes = ranges.map((r) => r.to - r.from);
      expect(Math.max(...sizes) - Math.min(...sizes)).to.be.at.most(1);
    }
  });

  it('gives every instance every topic, and users round-robin over instances', () => {
    const instances = 4;
    const topics = 100;
    const perInstance = Array.from({ length: instances }, () => new Set<number>());
    const usersPerInstance = new Array<number>(instances).fill(0);
    for (let u = 0; u < 1000; u++) {
      const i = instanceOfUser(u, instances);
      usersPerInstance[i]++;
      perInstance[i]!.add(topicOfUser(u, instances, topics));
    }
    expect(usersPerInstance).to.deep.equal([250, 250, 250, 250]);
    for (const seen of perInstance) expect(seen.size).to.equal(topics);
  });

  it('samples distinct users spread evenly over every instance but the first (all users with one instance)', () => {
    for (const [total, instances, size] of [[59_904, 3, 1000], [60_000, 4, 1000], [900, 3, 600], [19_968, 1, 1000], [10, 3, 100]] as const) {
      const sample = sampleUsersOffFirstInstance(total, instances, size);
      const others = instances === 1 ? total : total - usersOfInstance(0, instances, total);
      expect(sample).to.have.length(Math.min(size, others));
      expect(new Set(sample).size).to.equal(sample.length);
      expect(sample.every((u) => u >= 0 && u < total)).to.equal(true);
      const perInstance = new Array<number>(instances).fill(0);
      for (const u of sample) perInstance[instanceOfUser(u, instances)]++;
      if (instances > 1) expect(perInstance[0]).to.equal(0);
      const counts = perInstance.slice(instances === 1 ? 0 : 1);
      expect(Math.max(...counts) - Math.min(...counts)).to.be.at.most(1);
    }
    expect(usersOfInstance(0, 3, 10) + usersOfInstance(1, 3, 10) + usersOfInstance(2, 3, 10)).to.equal(10);
  });

  it('hands out distinct loopback source addresses and refuses beyond 127.0.0.252', () => {
    expect(sourceAddressOf(0)).to.equal('127.0.0.2');
    expect(sourceAddressOf(250)).to.equal('127.0.0.252');
    expect(() => sourceAddressOf(251)).to.throw(/no loopback source address/);
  });

  it('reads back the push body it wrote, and nothing else', () => {
    expect(parsePushBody(pushBody(2, 59_999))).to.deep.equal({ round: 2, user: 59_999 });
    expect(parsePushBody('2:')).to.equal(undefined);
    expect(parsePushBody('hello')).to.equal(undefined);
  });

  it('sums phases and round statuses over load processes (earliest first, latest last, NaN ignored)', () => {
    expect(sumPhase([{ ok: 3, failed: 0 }, { ok: 1, failed: 2, firstError: 'boom' }])).to.deep.equal({ ok: 4, failed: 2, firstError: 'boom' });
    const topics = (topicDelivered: number, topicDuplicates: number, topicLastAt: number) => ({ topicDelivered, topicDuplicates, topicLastAt });
    const a: RoundStatus = { delivered: 2, duplicates: 1, misrouted: 0, ...topics(3, 0, 300), firstAt: 100, lastAt: 200, closed: 0, errorFrames: 1, missing: [5] };
    const b: RoundStatus = { delivered: 0, duplicates: 0, misrouted: 1, ...topics(0, 0, NaN), firstAt: NaN, lastAt: NaN, closed: 2, errorFrames: 0, missing: [7, 8] };
    const c: RoundStatus = { delivered: 4, duplicates: 0, misrouted: 0, ...topics(5, 2, 250), firstAt: 50, lastAt: 150, closed: 0, errorFrames: 0, missing: [] };
    expect(sumStatus([a, b, c])).to.deep.equal({
      delivered: 6, duplicates: 1, misrouted: 1, ...topics(8, 2, 300), firstAt: 50, lastAt: 200, closed: 2, errorFrames: 1, missing: [5, 7, 8],
    });
    expect(sumStatus([b]).topicLastAt).to.be.NaN;
    expect(sumStatus([b]).firstAt).to.be.NaN;
    expect(sumStatus([{ ...a, missing: undefined }, b])).to.not.have.property('missing');
  });

  it('parses the integers rabbitmqctl eval prints, even wrapped, and refuses anything else', () => {
    expect(parseErlangIntegers('[89123456,1024,2048,4096]\n', 4)).to.deep.equal([89_123_456, 1024, 2048, 4096]);
    expect(parseErlangIntegers('[89123456,1024,\n 2048,4096]\n', 4)).to.deep.equal([89_123_456, 1024, 2048, 4096]);
    expect(() => parseErlangIntegers('{badrpc,nodedown}\n', 4)).to.throw(/expected a list of 4 integers/);
    expect(() => parseErlangIntegers('[1,2,3]', 4)).to.throw(/expected a list of 4 integers/);
    expect(() => parseErlangIntegers('', 1)).to.throw(/expected a list of 1 integers/);
  });
});

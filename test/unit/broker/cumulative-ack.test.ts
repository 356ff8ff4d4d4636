import { expect } from 'chai';
import { settleUpTo } from '../../../server/broker/cumulative-ack';

describe('settleUpTo (the one cumulative-ACK walk)', () => {
  const unacked = () => new Map([['1', 'a'], ['2', 'b'], ['3', 'c']]);

  it('in client mode settles the named delivery and every earlier one, oldest first', () => {
    const map = unacked();
    const settled: string[] = [];
    expect(settleUpTo(map, '2', true, (value, key) => settled.push(`${key}=${value}`))).to.equal(true);
    expect(settled).to.deep.equal(['1=a', '2=b']);
    expect([...map.keys()]).to.deep.equal(['3']);
  });

  it('otherwise settles the named delivery alone', () => {
    const map = unacked();
    const settled: string[] = [];
    expect(settleUpTo(map, '2', false, (value) => settled.push(value))).to.equal(true);
    expect(settled).to.deep.equal(['b']);
    expect([...map.keys()]).to.deep.equal(['1', '3']);
  });

  it('settles nothing and says so for an unknown id', () => {
    const map = unacked();
    const settled: string[] = [];
    expect(settleUpTo(map, '9', true, (value) => settled.push(value))).to.equal(false);
    expect(settled).to.deep.equal([]);
    expect(map.size).to.equal(3);
  });
});

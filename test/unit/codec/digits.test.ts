import { expect } from 'chai';
import { isDigits } from '../../../server/codec/digits';

describe('isDigits (the one "digits only")', () => {
  it('takes ASCII digits only', () => {
    for (const good of ['0', '7', '0042', '12345678901234567890']) expect(isDigits(good), good).to.equal(true);
    for (const bad of ['', ' 1', '1 ', '+1', '-1', '1.0', '1e3', '0x1', '١', '１']) expect(isDigits(bad), JSON.stringify(bad)).to.equal(false);
  });
});

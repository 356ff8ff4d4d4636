import { expect } from 'chai';
import { StringInterner } from '../../../server/session/string-interner';

/** An equal string that is a different heap object (as two frames' header values are). */
function copyOf(value: string): string {
  return Buffer.from(value, 'utf8').toString('utf8');
}

describe('StringInterner', () => {
  it('hands out the first copy of an equal string', () => {
    const strings = new StringInterner();
    const first = copyOf('/topic/prices');
    expect(strings.intern(first)).to.equal(first);
    expect(strings.intern(copyOf('/topic/prices'))).to.equal('/topic/prices');
    expect(strings.size).to.equal(1);
  });

  it('stays within its capacity: full, it starts again empty', () => {
    const strings = new StringInterner(3);
    for (let i = 0; i < 10; i++) strings.intern(`sub-${i}`);
    expect(strings.size).to.be.at.most(3);
    expect(strings.intern('sub-9')).to.equal('sub-9');
  });

  it('keeps no string longer than maxLength', () => {
    const strings = new StringInterner(10, 4);
    expect(strings.intern('abcdef')).to.equal('abcdef');
    expect(strings.size).to.equal(0);
  });
});

/**
 * The client's per-subscription resume state (client/src/resume.ts): which token the next
 * SUBSCRIBE resumes from, what counts as recovered, and that a gap marker is no message.
 */
import { expect } from 'chai';
import { ResumePoint } from '../../../client/src/resume';

describe('client resume point', () => {
  it('resumes nothing before a token arrived, then from the last token seen', () => {
    const point = new ResumePoint();
    expect(point.subscribing()).to.deep.equal({});
    expect(point.received({ 'resume-token': 't1' })).to.equal(false);
    expect(point.received({ 'resume-token': 't2' })).to.equal(false);
    expect(point.received({})).to.equal(false); // a topic message: no token, nothing changes
    expect(point.confirmed(), 'a first SUBSCRIBE resumed nothing').to.equal(undefined);
    expect(point.subscribing()).to.deep.equal({ 'resume-from': 't2' });
  });

  it('counts what came between a resumed SUBSCRIBE and its RECEIPT, and reports the gap marker as a gap, its token as the new position', () => {
    const point = new ResumePoint('t5');
    expect(point.subscribing()).to.deep.equal({ 'resume-from': 't5' });
    expect(point.resumingFrom).to.equal('t5');
    expect(point.received({ 'resume-gap': 'true', 'resume-token': 'p9' })).to.equal(true);
    expect(point.received({ 'resume-token': 't10' })).to.equal(false);
    expect(point.confirmed()).to.deep.equal({ resumeFrom: 't5', recovered: 1, gap: true });
    expect(point.received({ 'resume-token': 't11' })).to.equal(false);
    expect(point.confirmed(), 'live messages after the RECEIPT are not counted').to.equal(undefined);
    expect(point.token).to.equal('t11');
  });

  it('takes an empty resumeFrom as none', () => {
    expect(new ResumePoint('').subscribing()).to.deep.equal({});
  });
});

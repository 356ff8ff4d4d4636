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

  it('takes the RECEIPT\'s history position when no message brought a token yet, and never over a message\'s token', () => {
    const fresh = new ResumePoint();
    fresh.subscribing();
    fresh.confirmed({ 'receipt-id': 'r', 'resume-token': 'pos-1' });
    expect(fresh.subscribing()).to.deep.equal({ 'resume-from': 'pos-1' });

    const busy = new ResumePoint();
    busy.subscribing();
    busy.received({ 'resume-token': 't1' }); // a message came before the RECEIPT
    busy.confirmed({ 'receipt-id': 'r', 'resume-token': 'pos-0' });
    expect(busy.token).to.equal('t1');
  });

  it('knows a replayed message that already came live (out of record order) as a repeat', () => {
    const point = new ResumePoint();
    point.received({ 'resume-token': 't2' });
    point.received({ 'resume-token': 't1' }); // t1 recorded first, routed later
    expect(point.repeats({ 'resume-token': 't2' })).to.equal(true);
    expect(point.repeats({ 'resume-token': 't3' })).to.equal(false);
    expect(point.repeats({ 'resume-gap': 'true', 'resume-token': 't2' }), 'a gap marker is never a repeat').to.equal(false);
    expect(point.repeats({}), 'a message without a token is never a repeat').to.equal(false);
  });

  it('takes an empty resumeFrom as none', () => {
    expect(new ResumePoint('').subscribing()).to.deep.equal({});
  });
});

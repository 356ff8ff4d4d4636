import { expect } from 'chai';
import { anchorAckId } from '../../../server/broker/rabbitmq/anchor';

describe('rabbitmq anchorAckId', () => {
  it('re-addresses a RabbitMQ ack id to the anchor subscription, keeping session and delivery tag', () => {
    expect(anchorAckId('T_s12@@session-abc@@42')).to.equal('T_anchor@@session-abc@@42');
  });

  it('keeps everything after the first @@ (subscription ids never contain it, the rest may)', () => {
    expect(anchorAckId('T_probe-1@@s@@x@@7')).to.equal('T_anchor@@s@@x@@7');
  });

  it('gives up on ids that are not in RabbitMQ\'s format', () => {
    expect(anchorAckId('42')).to.equal(undefined);
    expect(anchorAckId('@@leading')).to.equal(undefined);
    expect(anchorAckId('')).to.equal(undefined);
  });
});

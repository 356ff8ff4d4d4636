/**
 * Every pooled connection holds one idle subscription under {@link ANCHOR_ID}. RabbitMQ refuses
 * ACK/NACK naming a subscription that has ended, but delivery tags belong to the connection (its one
 * channel), so a delivery of an ended subscription can still be settled by naming the anchor.
 * RabbitMQ's ack ids read `T_<subscription id>@@<session>@@<delivery tag>`.
 */
export const ANCHOR_ID = 'anchor';

/** The ack id that settles `brokerAck` through the anchor, or undefined if it is not RabbitMQ's format. */
export function anchorAckId(brokerAck: string): string | undefined {
  const at = brokerAck.indexOf('@@');
  return at > 0 ? `T_${ANCHOR_ID}${brokerAck.slice(at)}` : undefined;
}

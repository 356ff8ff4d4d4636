import { randomBytes } from 'node:crypto';
import type { BrokerConnection } from './broker-connection';
import { makeFrame } from './frames';

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

/**
 * Makes the anchor subscription on a fresh connection (to a private, never-published topic); the
 * connection is usable only once RabbitMQ confirmed it. On failure the connection is destroyed and
 * the error rethrown.
 */
export async function subscribeAnchor(connection: BrokerConnection): Promise<void> {
  try {
    await connection.request(
      makeFrame('SUBSCRIBE', {
        id: ANCHOR_ID,
        destination: `/topic/stomp-relay.anchor.${randomBytes(8).toString('hex')}`,
        ack: 'client-individual',
      }),
    );
  } catch (err) {
    connection.destroy('anchor subscription failed');
    throw err;
  }
}

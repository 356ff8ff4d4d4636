import type { Delivery, DeliverySink } from './broker';
import type { Logger } from '../observability/logger';

/**
 * Hands one delivery to a sink. A sink that throws is a bug in the session layer, not a reason to
 * stop delivering to the other subscribers of a fan-out or to corrupt the broker's bookkeeping, so
 * the error is logged and the delivery counts as made (with client acks it stays unacked).
 */
export function deliverSafely(sink: DeliverySink, delivery: Delivery, logger: Logger): void {
  try {
    sink.deliver(delivery);
  } catch (err) {
    logger.error(
      { err, destination: delivery.message.destination, messageId: delivery.message.messageId },
      'delivery sink threw; message counts as delivered',
    );
  }
}

/**
 * SUBSCRIBE and SEND requests for broker tests, built one way for every suite that talks to an
 * engine directly (the contract, the embedded broker's tests, the RabbitMQ engine's).
 */
import type { AckMode, Broker, Consumer, DeliverySink, PublishOptions } from '../../server/broker/broker';
import { headers } from '../../server/codec/frame';

/** Subscribes `sink` to `destination` with `ack` and extra SUBSCRIBE headers. */
export function subscribe(broker: Broker, destination: string, sink: DeliverySink, ack: AckMode = 'auto', extra: Record<string, string> = {}): Promise<Consumer> {
  return broker.subscribe({ destination, ack, headers: headers(extra) }, sink);
}

/** Publishes `body` (UTF-8 text, or bytes as they are) with extra headers; confirmed unless `options` says otherwise. */
export function publish(broker: Broker, destination: string, body: string | Buffer, extra: Record<string, string> = {}, options: PublishOptions = { confirm: true }): Promise<void> {
  const payload = typeof body === 'string' ? Buffer.from(body) : body;
  return broker.publish({ destination, headers: headers(extra), body: payload }, options);
}

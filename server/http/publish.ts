/**
 * `POST /publish` (scope `publish`): `{"destination": "/topic/news", "payload": ..., "headers": {...}}`
 * publishes to a broker destination as {@link Relay.publish} does, so a backend in any language
 * can broadcast without a STOMP client: relayed prefixes only, never the relay's internal namespace
 * or a temporary queue (403 DESTINATION_NOT_ALLOWED), application headers only. 202 once the broker
 * confirmed the message.
 */
import type { Payload } from '../user/user-messaging';
import { messageRoute, type JsonRoute } from './json-route';

/** Relay.publish: the rules a client SEND follows. */
export type Publish = (destination: string, payload: Payload, headers?: Record<string, string | number | boolean>) => Promise<void>;

/** `POST /publish` as a {@link JsonRoute}: mounted on express by admin-routes.ts and answered by direct-routes.ts. */
export function publishRoute(publish: Publish): JsonRoute {
  return messageRoute('/publish', ['publish'], '/topic/news', async (_params, message) => {
    await publish(message.destination, message.payload, message.headers);
    return { destination: message.destination };
  });
}

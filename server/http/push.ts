/**
 * The push API: `POST /push/:user` with `{"destination": "/queue/x", "payload": ..., "headers": {...}}`
 * delivers to that user's subscriptions on `/user/queue/x`, on any instance (scope `push`).
 * `POST /push` (push-many.ts) does the same for many users at once.
 */
import type { UserMessaging } from '../user/user-messaging';
import type { ApiAuthStrategy } from './api-auth';
import { messageRoute, type JsonRoute } from './json-route';

/** A host application's own passport strategy for the HTTP API (the name it had when it only pushed). */
export type PushAuthStrategy = ApiAuthStrategy;

/** `POST /push/:user` as a {@link JsonRoute}: mounted on express by admin-routes.ts and answered by direct-routes.ts. */
export function pushRoute(messaging: UserMessaging): JsonRoute {
  return messageRoute('/push/:user', ['push'], '/queue/x', async (params, message) => {
    const result = await messaging.sendToUser(params.user, message.destination, message.payload, { headers: message.headers });
    return {
      user: result.user,
      destination: result.destination,
      routed: result.routed,
      sessions: result.sessions,
      instances: result.instances,
    };
  });
}

/**
 * The push API: `POST /push/:user` with `{"destination": "/queue/x", "payload": ..., "headers": {...}}`
 * delivers to that user's subscriptions on `/user/queue/x`, on any instance (scope `push`).
 * `POST /push` (push-many.ts) does the same for many users at once.
 */
import express, { type Router } from 'express';
import type { UserMessaging } from '../user/user-messaging';
import type { ApiAuth, ApiAuthStrategy } from './api-auth';
import { bodyObject, jsonBody, readMessage, sendJson } from './message-body';

/** A host application's own passport strategy for the HTTP API (the name it had when it only pushed). */
export type PushAuthStrategy = ApiAuthStrategy;

export interface PushRouteDeps {
  messaging: UserMessaging;
  auth: ApiAuth;
  /** Largest JSON body accepted (bytes). */
  maxBodyBytes: number;
}

export function createPushRoutes(deps: PushRouteDeps): Router {
  const router = express.Router();

  router.post('/push/:user', deps.auth('push'), jsonBody(deps.maxBodyBytes), async (req, res, next) => {
    try {
      const body = bodyObject(req.body, '{"destination": "/queue/x", "payload": ...}');
      const message = readMessage(body, '/queue/x');
      const result = await deps.messaging.sendToUser(String(req.params.user), message.destination, message.payload, {
        headers: message.headers,
      });
      sendJson(res, 202, {
        user: result.user,
        destination: result.destination,
        routed: result.routed,
        sessions: result.sessions,
        instances: result.instances,
      });
    } catch (err) {
      next(err);
    }
  });

  return router;
}

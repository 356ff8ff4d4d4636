/**
 * `POST /publish` (scope `publish`): `{"destination": "/topic/news", "payload": ..., "headers": {...}}`
 * publishes to a broker destination as {@link Relay.publish} does, so a backend in any language
 * can broadcast without a STOMP client: relayed prefixes only, never the relay's internal namespace
 * or a temporary queue (403 DESTINATION_NOT_ALLOWED), application headers only. 202 once the broker
 * confirmed the message.
 */
import express, { type Router } from 'express';
import type { Payload } from '../user/user-messaging';
import type { ApiAuth } from './api-auth';
import { bodyObject, jsonBody, readMessage, sendJson } from './message-body';

export interface PublishRouteDeps {
  /** Relay.publish: the rules a client SEND follows. */
  publish(destination: string, payload: Payload, headers?: Record<string, string | number | boolean>): Promise<void>;
  auth: ApiAuth;
  /** Largest JSON body accepted (bytes). */
  maxBodyBytes: number;
}

export function createPublishRoutes(deps: PublishRouteDeps): Router {
  const router = express.Router();

  router.post('/publish', deps.auth('publish'), jsonBody(deps.maxBodyBytes), async (req, res, next) => {
    try {
      const body = bodyObject(req.body, '{"destination": "/topic/news", "payload": ...}');
      const message = readMessage(body, '/topic/news');
      await deps.publish(message.destination, message.payload, message.headers);
      sendJson(res, 202, { destination: message.destination });
    } catch (err) {
      next(err);
    }
  });

  return router;
}

/**
 * `POST /push`: one payload to many users, `{"users": ["alice", "bob"], "destination": "/queue/x",
 * "payload": ..., "headers": {...}}` (scope `push`). Each distinct user gets the message as from
 * `POST /push/:user`; the answer gives every user's outcome, in request order.
 *
 * The list is bounded (`pushMaxUsers`, PUSH_MAX_USERS: beyond it 413 TOO_MANY_USERS and nothing is
 * sent), and the per-user publishes run at most {@link PUSH_CONCURRENCY} at a time, so one request
 * cannot put thousands of publishes in flight on the broker connections at once.
 */
import { Errors, isRelayError, relayError } from '../errors';
import type { UserMessaging } from '../user/user-messaging';
import type { JsonRoute } from './json-route';
import { bodyObject, readMessage } from './message-body';

/** Per-user publishes of one `POST /push` in flight at once. */
export const PUSH_CONCURRENCY = 64;

/** One user's outcome: what `POST /push/:user` would have answered, or its error. */
export type PushOutcome =
  | { user: string; routed: boolean; sessions: number; instances: Array<{ instanceId: string; sessions: number }> }
  | { user: string; error: { code: string; message: string } };

/** `POST /push` as a {@link JsonRoute}: mounted on express by admin-routes.ts and answered by direct-routes.ts. */
export function pushManyRoute(messaging: UserMessaging, maxUsers: number): JsonRoute {
  return {
    path: '/push',
    scopes: ['push'],
    async answer(_params, requestBody) {
      const body = bodyObject(requestBody, '{"users": ["alice"], "destination": "/queue/x", "payload": ...}');
      const users = readUsers(body.users, maxUsers);
      const message = readMessage(body, '/queue/x');
      // What every user's message shares is checked and encoded once, so a bad one fails before
      // anything is sent and a hundred users cost one JSON encoding.
      const prepared = messaging.prepare(message.destination, message.payload, { headers: message.headers });
      const results = await mapBounded(users, PUSH_CONCURRENCY, async (user): Promise<PushOutcome> => {
        try {
          const r = await messaging.sendPrepared(user, prepared);
          return { user, routed: r.routed, sessions: r.sessions, instances: r.instances };
        } catch (err) {
          const e = isRelayError(err) ? err : relayError(Errors.INTERNAL_ERROR, 'push failed');
          return { user, error: { code: e.code, message: e.message } };
        }
      });
      let routed = 0;
      let offline = 0;
      let failed = 0;
      for (const r of results) {
        if ('error' in r) failed++;
        else if (r.routed) routed++;
        else offline++;
      }
      return { status: 202, body: { destination: message.destination, routed, offline, failed, results } };
    },
  };
}

/** The distinct user names of `value`, in first-seen order; BAD_REQUEST or TOO_MANY_USERS otherwise. */
function readUsers(value: unknown, maxUsers: number): string[] {
  if (!Array.isArray(value)) throw relayError(Errors.BAD_REQUEST, '"users" must be an array of user names such as ["alice", "bob"]');
  if (value.length === 0) throw relayError(Errors.BAD_REQUEST, '"users" must name at least one user');
  value.forEach((u, i) => {
    if (typeof u !== 'string' || u === '') throw relayError(Errors.BAD_REQUEST, `users[${i}] must be a non-empty string`);
  });
  const distinct = [...new Set(value as string[])];
  if (distinct.length > maxUsers) throw relayError(Errors.TOO_MANY_USERS, distinct.length, maxUsers);
  return distinct;
}

/** `fn` over `items` with at most `limit` calls pending at once; results in the order of `items`. */
async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * Users of the cluster, from presence (eventually consistent: what this instance has heard from
 * every instance, within a presence interval or so):
 * - `GET /users?limit=&cursor=` (scope `admin`): online users with their session counts, sorted by
 *   name, a page at a time; `nextCursor` fetches the next page (null on the last).
 * - `GET /users/:user` (scope `push` or `admin`): one user's sessions per instance.
 * - `DELETE /users/:user/sessions` (scope `admin`), body `{"reason": "..."}` (optional): ends every
 *   session of the user on every instance with ERROR SESSION_REVOKED naming the reason.
 */
import express, { type Router } from 'express';
import { isDigits } from '../codec/digits';
import { Errors, relayError } from '../errors';
import type { ClusterPresence } from '../user/presence';
import type { SessionControl } from '../user/session-control';
import type { ApiAuth } from './api-auth';
import { bodyObject, jsonBody } from './message-body';

/** Page size of `GET /users` when the request names none, and the largest it may name. */
export const USERS_PAGE = Object.freeze({ defaultLimit: 100, maxLimit: 1000 });

/** Longest `reason` of `DELETE /users/:user/sessions` (it travels in an ERROR frame header). */
export const MAX_REASON_CHARS = 200;

export const DEFAULT_REVOKE_REASON = 'disconnected by an administrator';

export interface UserRouteDeps {
  presence: ClusterPresence;
  control: SessionControl;
  auth: ApiAuth;
  /** Largest JSON body accepted (bytes). */
  maxBodyBytes: number;
}

export function createUserRoutes(deps: UserRouteDeps): Router {
  const router = express.Router();

  router.get('/users', deps.auth('admin'), (req, res, next) => {
    try {
      const limit = readLimit(req.query.limit);
      const after = readCursor(req.query.cursor);
      const page = deps.presence.list(after, limit);
      const last = page.users.at(-1);
      res.json({ users: page.users, nextCursor: page.more && last ? encodeCursor(last.user) : null });
    } catch (err) {
      next(err);
    }
  });

  router.get('/users/:user', deps.auth('push', 'admin'), (req, res) => {
    res.json(deps.presence.lookup(String(req.params.user)));
  });

  router.delete('/users/:user/sessions', deps.auth('admin'), jsonBody(deps.maxBodyBytes), async (req, res, next) => {
    try {
      const user = String(req.params.user);
      const reason = readReason(req.body);
      // Presence before the sessions end: what the request is about to end, as far as we know.
      const before = deps.presence.lookup(user);
      await deps.control.endUserSessions(user, reason);
      res.status(202).json({ user, reason, sessions: before.sessions, instances: before.instances });
    } catch (err) {
      next(err);
    }
  });

  return router;
}

function readLimit(value: unknown): number {
  if (value === undefined) return USERS_PAGE.defaultLimit;
  const n = typeof value === 'string' && isDigits(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= USERS_PAGE.maxLimit)) {
    throw relayError(Errors.BAD_REQUEST, `limit must be a whole number from 1 to ${USERS_PAGE.maxLimit}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** A cursor is the last user name of a page, base64url-encoded (opaque to callers). */
function encodeCursor(user: string): string {
  return Buffer.from(user, 'utf8').toString('base64url');
}

function readCursor(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const user = typeof value === 'string' && value !== '' ? Buffer.from(value, 'base64url').toString('utf8') : '';
  if (user === '' || encodeCursor(user) !== value)
    throw relayError(Errors.BAD_REQUEST, 'cursor is not one this API gave (use nextCursor as it came)');
  return user;
}

function readReason(body: unknown): string {
  if (body === undefined) return DEFAULT_REVOKE_REASON;
  const { reason } = bodyObject(body, '{"reason": "password changed"}');
  if (reason === undefined) return DEFAULT_REVOKE_REASON;
  // eslint-disable-next-line no-control-regex
  if (typeof reason !== 'string' || reason.trim() === '' || reason.length > MAX_REASON_CHARS || /[\u0000-\u001f\u007f]/.test(reason)) {
    throw relayError(Errors.BAD_REQUEST, `"reason" must be one line of 1 to ${MAX_REASON_CHARS} characters`);
  }
  return reason;
}

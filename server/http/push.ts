/**
 * The push API: `POST /push/:user` with `{"destination": "/queue/x", "payload": ..., "headers": {...}}`
 * delivers to that user's subscriptions on `/user/queue/x`, on any instance.
 * `GET /users/:user` answers what presence knows of a user.
 *
 * Authentication is a passport strategy on a private Passport instance (never the global one, so a
 * host application's passport setup is untouched): by default a bearer JWT checked exactly as STOMP
 * sessions check theirs (AUTH_JWT_SECRET for HS256, AUTH_JWKS_URL for RS256/ES256/EdDSA..., issuer
 * and audience), requiring scope `push`; with neither secret nor JWKS, pushes need no token.
 */
import type { IncomingMessage } from 'node:http';
import express, { type RequestHandler, type Router } from 'express';
import passport from 'passport';
import { bearerToken, hasScope, verifyToken, type JwtOptions } from '../auth/jwt';
import { Errors, relayError } from '../errors';
import type { ClusterPresence } from '../user/presence';
import type { Payload, UserMessaging } from '../user/user-messaging';
import { sendError } from './errors';

/** A host application's own passport strategy for the push API. */
export interface PushAuthStrategy {
  passport: passport.PassportStatic | passport.Authenticator;
  /** Strategy name registered on that passport instance. */
  strategy: string;
  /** Whether an authenticated user may push (default: any authenticated user). */
  authorize?(user: unknown): boolean;
}

/**
 * A bearer JWT checked by {@link verifyToken} with `options` (the same as STOMP sessions), and the
 * `push` scope; tokens without `exp` are refused unless `requireExp: false`.
 */
export function jwtPushAuth(options: JwtOptions): RequestHandler {
  const pp = new passport.Passport();
  const strategy = {
    name: 'push-jwt',
    authenticate(this: { success(user: unknown): void; fail(info: unknown): void }, req: IncomingMessage) {
      const header = req.headers.authorization;
      const token = bearerToken(Array.isArray(header) ? header[0] : header);
      if (token === undefined) {
        this.fail({ message: 'no bearer token: send "Authorization: Bearer <jwt>"' });
        return;
      }
      verifyToken(token, options).then(
        (claims) => this.success(claims),
        (err: Error) => this.fail({ message: err.message.replace(/^authentication failed: /, '') }),
      );
    },
  };
  pp.use('push-jwt', strategy as unknown as passport.Strategy);
  return strategyAuth({ passport: pp, strategy: 'push-jwt', authorize: (user) => hasScope(user as Record<string, unknown>, 'push') });
}

/** Wraps a passport strategy so failures answer 401/403 JSON from the error catalogue. */
export function strategyAuth(auth: PushAuthStrategy): RequestHandler {
  return (req, res, next) => {
    auth.passport.authenticate(auth.strategy, { session: false }, (err: unknown, user: unknown, info: unknown) => {
      if (err) return next(err);
      if (!user) {
        const reason = info instanceof Error ? info.message : typeof info === 'object' && info && 'message' in info ? String((info as { message: unknown }).message) : 'missing or invalid bearer token';
        return sendError(res, relayError(Errors.UNAUTHORIZED, reason));
      }
      if (auth.authorize && !auth.authorize(user)) return sendError(res, relayError(Errors.FORBIDDEN, 'credentials lack the "push" scope'));
      (req as { user?: unknown }).user = user;
      next();
    })(req, res, next);
  };
}

/** Dev mode: no authentication. */
export const noPushAuth: RequestHandler = (_req, _res, next) => next();

export interface PushRouteDeps {
  messaging: UserMessaging;
  presence: ClusterPresence;
  auth: RequestHandler;
  /** Largest JSON body accepted (bytes). */
  maxBodyBytes: number;
}

export function createPushRoutes(deps: PushRouteDeps): Router {
  const router = express.Router();
  const json = express.json({ limit: deps.maxBodyBytes, strict: false, type: () => true });

  router.post('/push/:user', deps.auth, json, async (req, res, next) => {
    try {
      const body: unknown = req.body;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw relayError(Errors.BAD_REQUEST, 'body must be a JSON object {"destination": "/queue/x", "payload": ...}');
      }
      const { destination, payload, headers } = body as { destination?: unknown; payload?: unknown; headers?: unknown };
      if (typeof destination !== 'string') throw relayError(Errors.BAD_REQUEST, '"destination" must be a string such as "/queue/x"');
      if (payload === undefined) throw relayError(Errors.BAD_REQUEST, '"payload" is required (JSON value or string)');
      if (headers !== undefined && (typeof headers !== 'object' || headers === null || Array.isArray(headers))) {
        throw relayError(Errors.BAD_REQUEST, '"headers" must be an object of strings');
      }
      const user = String(req.params.user);
      const result = await deps.messaging.sendToUser(user, destination, payload as Payload, {
        headers: headers as Record<string, string> | undefined,
      });
      res.status(202).json({ user: result.user, destination: result.destination, routed: result.routed, sessions: result.sessions, instances: result.instances });
    } catch (err) {
      next(err);
    }
  });

  router.get('/users/:user', deps.auth, (req, res) => {
    res.json(deps.presence.lookup(String(req.params.user)));
  });

  return router;
}

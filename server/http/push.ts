/**
 * The push API: `POST /push/:user` with `{"destination": "/queue/x", "payload": ..., "headers": {...}}`
 * delivers to that user's subscriptions on `/user/queue/x`, on any instance.
 * `GET /users/:user` answers what presence knows of a user.
 *
 * Authentication is a passport strategy on a private Passport instance (never the global one, so a
 * host application's passport setup is untouched): by default passport-jwt with AUTH_JWT_SECRET,
 * requiring scope `push`; in dev mode (no secret) pushes need no token.
 */
import express, { type RequestHandler, type Router } from 'express';
import passport from 'passport';
import { ExtractJwt, Strategy as JwtStrategy } from 'passport-jwt';
import { hasScope, lacksRequiredExp, NO_EXP_REASON } from '../auth/jwt';
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

/** passport-jwt with HS256 and the `push` scope; tokens without `exp` are refused unless `requireExp: false`. */
export function jwtPushAuth(secret: string, options: { requireExp?: boolean } = {}): RequestHandler {
  const pp = new passport.Passport();
  pp.use('push-jwt', new JwtStrategy(
    { secretOrKey: secret, algorithms: ['HS256'], jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken() },
    (payload: Record<string, unknown>, done: (err: unknown, user?: unknown, info?: unknown) => void) => {
      if (lacksRequiredExp(payload, options)) done(null, false, { message: NO_EXP_REASON });
      else done(null, payload);
    },
  ));
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

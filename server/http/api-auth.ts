/**
 * Authentication of the HTTP API. Each route asks for a scope:
 *
 * | scope     | routes                                                            |
 * |-----------|-------------------------------------------------------------------|
 * | `push`    | `POST /push/:user`, `POST /push`, `GET /users/:user`              |
 * | `publish` | `POST /publish`                                                   |
 * | `admin`   | `GET /users`, `GET /users/:user`, `DELETE /users/:user/sessions`  |
 *
 * Authentication is a passport strategy on a private Passport instance (never the global one, so a
 * host application's passport setup is untouched): by default a bearer JWT checked as STOMP
 * sessions check theirs (AUTH_JWT_SECRET or AUTH_JWKS_URL), whose `scope` must name the route's
 * scope as a whole word; or the host's own strategy ({@link ApiAuthStrategy}). With neither secret
 * nor JWKS (dev mode) nothing is checked.
 */
import type { IncomingMessage } from 'node:http';
import type { RequestHandler } from 'express';
import passport from 'passport';
import { bearerToken, hasScope, verifyToken, type JwtOptions } from '../auth/jwt';
import { Errors, relayError } from '../errors';

/** What a caller of the HTTP API may do; each route needs one of a list of them. */
export type ApiScope = 'push' | 'publish' | 'admin';

/** A host application's own passport strategy for the HTTP API. */
export interface ApiAuthStrategy {
  /** The host's passport instance the strategy is registered on. */
  passport: passport.PassportStatic | passport.Authenticator;
  /** Strategy name registered on that passport instance. */
  strategy: string;
  /**
   * Whether an authenticated user has `scope`. Default: `push` only (pushing and reading one
   * user's presence, what the push API always allowed); `publish` and `admin` need an answer of
   * your own, so that every signed-in user of the host cannot disconnect the others.
   */
  authorize?(user: unknown, scope: ApiScope): boolean;
}

/** Builds the middleware that lets a request through when its caller has one of `scopes`. */
export type ApiAuth = (...scopes: ApiScope[]) => RequestHandler;

/**
 * A bearer JWT checked by {@link verifyToken} with `options`, exactly as STOMP sessions check theirs
 * (AUTH_JWT_SECRET for HS256, AUTH_JWKS_URL for RS256/ES256/EdDSA..., issuer, audience, `exp`
 * unless `requireExp: false`), and the route's scope.
 */
export function jwtApiAuth(options: JwtOptions): ApiAuth {
  const pp = new passport.Passport();
  const strategy = {
    name: 'api-jwt',
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
  pp.use('api-jwt', strategy as unknown as passport.Strategy);
  return strategyApiAuth({
    passport: pp,
    strategy: 'api-jwt',
    authorize: (user, scope) => hasScope(user as Record<string, unknown>, scope),
  });
}

/** Wraps a passport strategy so failures answer 401/403 JSON from the error catalogue. */
export function strategyApiAuth(auth: ApiAuthStrategy): ApiAuth {
  const authorize = auth.authorize ?? ((_user: unknown, scope: ApiScope) => scope === 'push');
  return (...scopes) =>
    (req, res, next) => {
      const decide = (err: unknown, user: unknown, info: unknown) => {
        if (err) return next(err);
        // Refusals go to the error middleware like every other failure (or, on the direct routes,
        // to their error answer): one rendering of the catalogue's JSON.
        if (!user) return next(relayError(Errors.UNAUTHORIZED, failureReason(info)));
        if (!scopes.some((scope) => authorize(user, scope))) {
          const names = scopes.map((s) => `"${s}"`).join(' or ');
          return next(relayError(Errors.FORBIDDEN, `credentials lack the ${names} scope`));
        }
        (req as { user?: unknown }).user = user;
        next();
      };
      // A strategy that passes (passport's 'session' strategy does, after putting the session's user
      // on the request) has not authenticated anyone by itself: decide on what it left there.
      const passed = (err?: unknown) =>
        decide(err, (req as { user?: unknown }).user, { message: `the ${auth.strategy} strategy authenticated no one` });
      auth.passport.authenticate(auth.strategy, { session: false }, decide)(req, res, passed);
    };
}

/** Dev mode: no authentication. */
export const noApiAuth: ApiAuth = () => (_req, _res, next) => next();

function failureReason(info: unknown): string {
  if (info instanceof Error) return info.message;
  if (typeof info === 'object' && info !== null && 'message' in info) return String((info as { message: unknown }).message);
  return 'missing or invalid bearer token';
}

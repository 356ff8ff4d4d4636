/**
 * JWT (HS256) checks shared by the STOMP authenticator and the push API's passport strategy.
 */
import jwt, { type JwtPayload } from 'jsonwebtoken';
import { Errors, relayError } from '../errors';

export interface JwtOptions {
  /** HS256 secret (AUTH_JWT_SECRET). */
  secret: string;
  /** Seconds of clock skew tolerated on exp/nbf (default 5). */
  clockToleranceSec?: number;
  /** Refuse tokens without an `exp` claim (default true; AUTH_JWT_REQUIRE_EXP). */
  requireExp?: boolean;
}

/** Default of {@link JwtOptions.clockToleranceSec}. */
export const DEFAULT_CLOCK_TOLERANCE_SEC = 5;

/** Why a token without `exp` is refused, in the words both STOMP and the push API use. */
export const NO_EXP_REASON = 'token has no "exp" claim (tokens must expire; AUTH_JWT_REQUIRE_EXP=false accepts them)';

/** True when `claims` lack an `exp` while `options` require one. */
export function lacksRequiredExp(claims: JwtPayload, options: Pick<JwtOptions, 'requireExp'>): boolean {
  return (options.requireExp ?? true) && claims.exp === undefined;
}

/**
 * Verifies signature (HS256 only: no `alg: none`, no key confusion), times, and (unless
 * `requireExp: false`) that the token expires at all. Throws AUTHENTICATION_FAILED.
 */
export function verifyJwt(token: string, options: JwtOptions): JwtPayload {
  try {
    const payload = jwt.verify(token, options.secret, {
      algorithms: ['HS256'],
      clockTolerance: options.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC,
    });
    if (typeof payload === 'string') throw new Error('token payload is not a JSON object');
    if (lacksRequiredExp(payload, options)) throw new Error(NO_EXP_REASON);
    return payload;
  } catch (err) {
    const reason = err instanceof jwt.TokenExpiredError ? 'token expired'
      : err instanceof jwt.NotBeforeError ? 'token not yet valid'
        : err instanceof jwt.JsonWebTokenError ? `invalid token (${err.message})`
          : (err as Error).message;
    throw relayError(Errors.AUTHENTICATION_FAILED, reason);
  }
}

/**
 * True when the token's `scope` (a whitespace-separated string, as in OAuth 2) or `scp` (string or
 * array) names `scope` as a whole word: `nopush` does not grant `push`.
 */
export function hasScope(claims: JwtPayload, scope: string): boolean {
  if (scope === '') return false;
  const s: unknown = claims.scope ?? claims.scp;
  if (typeof s === 'string') return s.split(/\s+/).includes(scope);
  if (Array.isArray(s)) return s.includes(scope);
  return false;
}

/** `Bearer abc` → `abc`; anything else → undefined. */
export function bearerToken(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const v = value.trim();
  return v.length > 7 && v.slice(0, 7).toLowerCase() === 'bearer ' ? v.slice(7).trim() : undefined;
}

/** Reads one query parameter from a request path such as `/ws?access_token=...`. */
export function queryParam(url: string, name: string): string | undefined {
  const q = url.indexOf('?');
  if (q === -1) return undefined;
  const value = new URLSearchParams(url.slice(q + 1)).get(name);
  return value ?? undefined;
}

/**
 * JWT checks shared by the STOMP authenticator and the push API's passport strategy: HS256 with a
 * shared secret (AUTH_JWT_SECRET, through jsonwebtoken), and RS256/PS256/ES256/EdDSA... with the keys
 * of a JWKS (AUTH_JWKS_URL, through jose: keys cached, fetched again for an unknown `kid`). A
 * token's `alg` picks the path, and each path accepts only its own algorithms: an HS256 token is
 * never checked against a public key, nor an RS256 one against the secret.
 */
import jwt, { type JwtPayload } from 'jsonwebtoken';
import { createRemoteJWKSet, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { Errors, relayError } from '../errors';

/** How JWTs are checked, for STOMP sessions ({@link JwtAuthenticator}) and the HTTP API alike. */
export interface JwtOptions {
  /** HS256 secret (AUTH_JWT_SECRET); without it HS256 tokens are refused. */
  secret?: string;
  /** Keys of asymmetric tokens (see {@link remoteJwks}); without them such tokens are refused. */
  jwks?: JWTVerifyGetKey;
  /** The `iss` every token must carry (AUTH_JWT_ISSUER); undefined: not checked. */
  issuer?: string;
  /** Audiences a token's `aud` must name one of (AUTH_JWT_AUDIENCE); undefined: not checked. */
  audience?: readonly string[];
  /** Seconds of clock skew tolerated on exp/nbf (default 5). */
  clockToleranceSec?: number;
  /** Refuse tokens without an `exp` claim (default true; AUTH_JWT_REQUIRE_EXP). */
  requireExp?: boolean;
}

/** Algorithms checked against the JWKS. */
export const JWKS_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/**
 * The keys at a JWKS URL, fetched on first use, kept for 10 minutes, and fetched again when a token
 * names a `kid` they lack, at most once per `refreshMs` (AUTH_JWKS_REFRESH_MS) so a flood of tokens
 * with made-up kids cannot flood the key server.
 */
export function remoteJwks(url: string, refreshMs: number): JWTVerifyGetKey {
  return createRemoteJWKSet(new URL(url), { cooldownDuration: refreshMs, timeoutDuration: 5_000, cacheMaxAge: 600_000 });
}

/**
 * Verifies a token by its algorithm (see the file comment), its times, issuer and audience, and
 * (unless `requireExp: false`) that it expires at all. Rejects with AUTHENTICATION_FAILED.
 */
export async function verifyToken(token: string, options: JwtOptions): Promise<JwtPayload> {
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch (err) {
    throw relayError(Errors.AUTHENTICATION_FAILED, `invalid token (${(err as Error).message})`);
  }
  if (alg === 'HS256') {
    if (options.secret === undefined)
      throw relayError(Errors.AUTHENTICATION_FAILED, 'invalid token (HS256 tokens are not accepted here: no AUTH_JWT_SECRET)');
    return verifyJwt(token, options);
  }
  if (typeof alg === 'string' && JWKS_ALGORITHMS.includes(alg)) {
    if (options.jwks === undefined)
      throw relayError(Errors.AUTHENTICATION_FAILED, `invalid token (${alg} tokens are not accepted here: no AUTH_JWKS_URL)`);
    return verifyWithJwks(token, options.jwks, options);
  }
  throw relayError(Errors.AUTHENTICATION_FAILED, `invalid token (algorithm ${JSON.stringify(alg)} is not accepted)`);
}

async function verifyWithJwks(token: string, jwks: JWTVerifyGetKey, options: JwtOptions): Promise<JwtPayload> {
  let payload: JwtPayload;
  try {
    ({ payload } = await jwtVerify(token, jwks, {
      algorithms: JWKS_ALGORITHMS,
      issuer: options.issuer,
      audience: options.audience === undefined ? undefined : [...options.audience],
      clockTolerance: options.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC,
    }));
  } catch (err) {
    throw relayError(Errors.AUTHENTICATION_FAILED, joseReason(err));
  }
  if (lacksRequiredExp(payload, options)) throw relayError(Errors.AUTHENTICATION_FAILED, NO_EXP_REASON);
  return payload;
}

/** A person's reading of what jose refused. */
function joseReason(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'token expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    return err.claim === 'nbf' ? 'token not yet valid' : `invalid token (${err.message})`;
  }
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'invalid token (no key in the JWKS matches its kid)';
  if (err instanceof joseErrors.JWKSMultipleMatchingKeys) return 'invalid token (several keys in the JWKS match its kid)';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'invalid token (invalid signature)';
  if (err instanceof joseErrors.JWKSTimeout) return 'cannot check the token: the JWKS did not answer in time';
  if (err instanceof joseErrors.JOSEError) return `invalid token (${err.message})`;
  // A JWKS that cannot be fetched or parsed (network error, not JSON).
  return `cannot check the token: the JWKS could not be read (${(err as Error).message})`;
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
    if (options.secret === undefined) throw new Error('no AUTH_JWT_SECRET to check an HS256 token with');
    const audience = options.audience === undefined ? undefined : ([...options.audience] as [string, ...string[]]);
    const payload = jwt.verify(token, options.secret, {
      algorithms: ['HS256'],
      clockTolerance: options.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC,
      issuer: options.issuer,
      audience,
    });
    if (typeof payload === 'string') throw new Error('token payload is not a JSON object');
    if (lacksRequiredExp(payload, options)) throw new Error(NO_EXP_REASON);
    return payload;
  } catch (err) {
    const reason =
      err instanceof jwt.TokenExpiredError
        ? 'token expired'
        : err instanceof jwt.NotBeforeError
          ? 'token not yet valid'
          : err instanceof jwt.JsonWebTokenError
            ? `invalid token (${err.message})`
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

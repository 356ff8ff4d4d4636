/**
 * STOMP authentication with a JWT whose `sub` names the user. The token may come, in this order of
 * preference, from the CONNECT `Authorization: Bearer …` header, the CONNECT `passcode` header
 * (what stomp.js's `connectHeaders.passcode` sends), the handshake's `access_token` query
 * parameter (SockJS cannot set headers), or the handshake's own Authorization header.
 *
 * The principal expires with the token (`exp` plus the clock tolerance): the session then gets
 * ERROR TOKEN_EXPIRED and is closed, and the client reconnects with a fresh token.
 */
import { Errors, relayError } from '../errors';
import type { AuthRequest, Authenticator, Principal } from './authenticator';
import { DEFAULT_CLOCK_TOLERANCE_SEC, bearerToken, queryParam, verifyToken, type JwtOptions } from './jwt';

/**
 * The authenticator of `AUTH_MODE=jwt`: the user is the `sub` of a JWT from the CONNECT `Authorization: Bearer …` or `passcode` header, or
 * the handshake's `access_token` query parameter, checked with {@link JwtOptions} (HS256 secret, JWKS, issuer, audience, `exp`). The
 * token's `exp` ends the session with ERROR TOKEN_EXPIRED.
 */
export class JwtAuthenticator implements Authenticator {
  readonly mode = 'jwt';

  constructor(private readonly options: JwtOptions) {}

  async authenticate(req: AuthRequest): Promise<Principal | null> {
    const h = req.connectHeaders;
    const token =
      bearerToken(h.Authorization ?? h.authorization) ??
      (h.passcode ? (bearerToken(h.passcode) ?? h.passcode) : undefined) ??
      queryParam(req.handshake.url, 'access_token') ??
      bearerToken(headerValue(req.handshake.headers.authorization));
    if (!token) {
      throw relayError(
        Errors.AUTHENTICATION_FAILED,
        'no token: send "Authorization: Bearer <jwt>" or passcode in CONNECT, or access_token in the URL',
      );
    }
    const claims = await verifyToken(token, this.options);
    if (typeof claims.sub !== 'string' || claims.sub === '') {
      throw relayError(Errors.AUTHENTICATION_FAILED, 'token has no "sub" claim naming the user');
    }
    // The session ends when the token would no longer be accepted: exp plus the tolerated skew.
    const tolerance = this.options.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC;
    const expiresAt = typeof claims.exp === 'number' ? (claims.exp + tolerance) * 1000 : undefined;
    return { name: claims.sub, claims, expiresAt };
  }
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

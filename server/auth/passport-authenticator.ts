/**
 * STOMP authentication through a host application's passport strategy (a session cookie, an
 * API key header...), run against the HTTP request that opened the WebSocket or SockJS session.
 *
 * ```ts
 * const relay = createRelay({
 *   authenticator: new PassportAuthenticator({
 *     passport, strategy: 'session-cookie',
 *     prepare: (req) => new Promise((done) => sessionMiddleware(req, {} as any, done)), // e.g. express-session
 *   }),
 * });
 * ```
 * The handshake headers are complete for both transports (the SockJS endpoint keeps the headers of
 * the request that opened each session, including Cookie and Authorization).
 */
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import type passport from 'passport';
import { Errors, relayError } from '../errors';
import type { AuthRequest, Authenticator, Principal } from './authenticator';

export interface PassportAuthenticatorOptions {
  passport: passport.PassportStatic | passport.Authenticator;
  /** Name of a strategy registered on that passport instance. */
  strategy: string;
  /** User name of what the strategy authenticated (default: `user.name ?? user.username ?? user.id ?? user.sub`). */
  userName?(user: unknown): string | undefined;
  /** Runs before the strategy, e.g. a session middleware that fills `req.session` from the cookie. */
  prepare?(req: IncomingMessage): Promise<void>;
}

export class PassportAuthenticator implements Authenticator {
  readonly mode: string;

  constructor(private readonly options: PassportAuthenticatorOptions) {
    this.mode = `passport:${options.strategy}`;
  }

  async authenticate(req: AuthRequest): Promise<Principal | null> {
    // A stand-in request carrying the handshake's URL and headers: strategies read only those.
    const http = new IncomingMessage(new Socket());
    http.url = req.handshake.url;
    http.method = 'GET';
    http.headers = { ...req.handshake.headers };
    await this.options.prepare?.(http);
    const user = await new Promise<unknown>((resolve, reject) => {
      // A strategy answers through `res` only to redirect (e.g. to a login page): a refusal here.
      const res = {
        statusCode: 200,
        setHeader() {},
        end: () => reject(relayError(Errors.AUTHENTICATION_FAILED, `the ${this.options.strategy} strategy redirected instead of authenticating`)),
      };
      const middleware = this.options.passport.authenticate(this.options.strategy, { session: false }, (err: unknown, u: unknown) => {
        if (err) reject(relayError(Errors.AUTHENTICATION_FAILED, err instanceof Error ? err.message : String(err)));
        else resolve(u);
      });
      middleware(http, res, (err?: unknown) => (err ? reject(relayError(Errors.AUTHENTICATION_FAILED, String(err))) : resolve(undefined)));
    });
    if (!user) throw relayError(Errors.AUTHENTICATION_FAILED, `the ${this.options.strategy} strategy did not authenticate this connection`);
    const name = (this.options.userName ?? defaultUserName)(user);
    if (!name) throw relayError(Errors.AUTHENTICATION_FAILED, 'authenticated user has no name');
    return { name, claims: typeof user === 'object' ? (user as Record<string, unknown>) : undefined };
  }
}

function defaultUserName(user: unknown): string | undefined {
  if (typeof user === 'string') return user;
  if (typeof user !== 'object' || user === null) return undefined;
  const u = user as Record<string, unknown>;
  for (const key of ['name', 'username', 'id', 'sub']) {
    if (typeof u[key] === 'string' && u[key] !== '') return u[key] as string;
  }
  return undefined;
}

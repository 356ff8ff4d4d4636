/**
 * STOMP authentication through a host application's passport strategy (a session cookie, an
 * API key header...), run against the HTTP request that opened the WebSocket or SockJS session.
 *
 * With express-session and passport's own `'session'` strategy (the host's login cookie):
 * ```ts
 * const sessions = session({ secret, resave: false, saveUninitialized: false });
 * const relay = createRelay({
 *   authenticator: new PassportAuthenticator({ passport, strategy: 'session', middleware: [sessions] }),
 * });
 * ```
 * The handshake headers are complete for both transports (the SockJS endpoint keeps the headers of
 * the request that opened each session, including Cookie and Authorization). docs/embedding.md
 * has the whole example.
 */
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import type passport from 'passport';
import { Errors, relayError } from '../errors';
import type { AuthRequest, Authenticator, Principal } from './authenticator';

/**
 * Connect-style middleware run on the handshake request before the strategy, e.g. express-session's
 * (an express `RequestHandler` fits). Its response is a stand-in that is never sent.
 */
// A method's parameters are compared both ways, so handlers typed for express's Request fit.
export type HandshakeMiddleware = {
  /** Handles `req`, then calls `next()` (or `next(err)` to refuse the session). */
  bivariant(req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void;
}['bivariant'];

/** How {@link PassportAuthenticator} runs the host's strategy. */
export interface PassportAuthenticatorOptions {
  /** The host's passport instance (`passport` itself, or a `new passport.Passport()`). */
  passport: passport.PassportStatic | passport.Authenticator;
  /**
   * Name of a strategy registered on that passport instance. `'session'` (passport's own, the
   * user a login put in the session) works with express-session in {@link middleware}.
   */
  strategy: string;
  /** User name of what the strategy authenticated (default: `user.name ?? user.username ?? user.id ?? user.sub`). */
  userName?(user: unknown): string | undefined;
  /** Middleware run in order before the strategy: typically the host's express-session middleware. */
  middleware?: HandshakeMiddleware[];
  /** Runs before the strategy (after {@link middleware}), for anything else the strategy needs on the request. */
  prepare?(req: IncomingMessage): Promise<void>;
}

/**
 * An {@link Authenticator} that asks a passport strategy of the host application, once per STOMP
 * session, with the handshake's URL and headers. The principal is named by
 * {@link PassportAuthenticatorOptions.userName}; its claims are the user object the strategy gave.
 * A strategy that fails, errs, redirects or authenticates no one: ERROR AUTHENTICATION_FAILED.
 */
export class PassportAuthenticator implements Authenticator {
  /** `passport:<strategy>`, as logged with each session. */
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
    for (const middleware of this.options.middleware ?? []) await runMiddleware(middleware, http);
    await this.options.prepare?.(http);
    const user = await new Promise<unknown>((resolve, reject) => {
      // A strategy answers through `res` only to redirect (e.g. to a login page): a refusal here.
      const res = {
        statusCode: 200,
        setHeader() {},
        end: () =>
          reject(relayError(Errors.AUTHENTICATION_FAILED, `the ${this.options.strategy} strategy redirected instead of authenticating`)),
      };
      const middleware = this.options.passport.authenticate(this.options.strategy, { session: false }, (err: unknown, u: unknown) => {
        if (err) reject(relayError(Errors.AUTHENTICATION_FAILED, err instanceof Error ? err.message : String(err)));
        else resolve(u);
      });
      // A strategy that passes decides nothing itself; passport's 'session' strategy passes after
      // putting the session's user on the request.
      middleware(http, res, (err?: unknown) =>
        err ? reject(relayError(Errors.AUTHENTICATION_FAILED, String(err))) : resolve((http as { user?: unknown }).user),
      );
    });
    if (!user) throw relayError(Errors.AUTHENTICATION_FAILED, `the ${this.options.strategy} strategy did not authenticate this connection`);
    const name = (this.options.userName ?? defaultUserName)(user);
    if (!name) throw relayError(Errors.AUTHENTICATION_FAILED, 'authenticated user has no name');
    return { name, claims: typeof user === 'object' ? (user as Record<string, unknown>) : undefined };
  }
}

/** Runs one connect-style middleware on `req`, with a response that is never sent. */
function runMiddleware(middleware: HandshakeMiddleware, req: IncomingMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    middleware(req, new ServerResponse(req), (err?: unknown) => {
      if (err) reject(relayError(Errors.AUTHENTICATION_FAILED, err instanceof Error ? err.message : String(err)));
      else resolve();
    });
  });
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

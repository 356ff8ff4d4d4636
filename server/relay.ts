/**
 * Wiring: a Relay owns one broker engine, one session hub and the transport endpoints, and exposes
 * HTTP routes. It attaches to any Node HTTP server — its own (`listen`, what the CLI does) or a host
 * application's (`attach` + mount `router`).
 *
 * Dependencies point one way: transports → sessions → broker; HTTP routes read from the broker and
 * hub. Nothing below this file knows about the others' concrete classes.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Router } from 'express';
import type { Duplex } from 'node:stream';
import type { Broker } from './broker/broker';
import { createBroker } from './broker/create-broker';
import { parseBrokerUrl, resolveConfig, type RelayConfig, type RelayOptions } from './config';
import { createLogger, type Logger } from './observability/logger';
import { RelayMetrics } from './observability/metrics';
import { SessionHub } from './session/session-hub';
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- RelaySessionEvents is named by a doc comment's {@link}
import { SessionEvents, type RelaySessionEventName, type RelaySessionEvents, type SessionEventListener } from './session/session-events';
import type { DestinationRouter } from './session/destination-router';
import type { Authenticator } from './auth/authenticator';
import type { Authorize } from './auth/authorization';
import { Acl } from './auth/acl';
import { DevLoginAuthenticator } from './auth/dev-login-authenticator';
import { JwtAuthenticator } from './auth/jwt-authenticator';
import { remoteJwks, type JwtOptions } from './auth/jwt';
import { BrokerAuthenticator } from './auth/broker-authenticator';
import { CredentialCheck } from './broker/rabbitmq/credential-check';
import {
  MessageHandlers,
  type AppContext,
  type AppHandler,
  type AppSender,
  type AppSubscribeHandler,
  type HandlerOptions,
} from './application/message-handlers';
import { ClusterPresence, type UserPresence } from './user/presence';
import { RelayRouter } from './user/relay-router';
import { isInternalDestination, userDestinationPrefixes } from './user/user-destinations';
import { isTempQueue, underPrefix } from './broker/destinations';
import {
  UserMessaging,
  applicationMessage,
  type AnonymousSendResult,
  type Payload,
  type SendResult,
  type SendToUserOptions,
} from './user/user-messaging';
import type { PushAuthStrategy } from './http/push';
import { jwtApiAuth, noApiAuth, strategyApiAuth } from './http/api-auth';
import { adminJsonRoutes, createAdminRoutes, type AdminRouteDeps } from './http/admin-routes';
import { DirectRoutes } from './http/direct-routes';
import { SessionControl } from './user/session-control';
import { WsEndpoint, pathOf } from './transport/ws-transport';
import { SockJsEndpoint } from './transport/sockjs-transport';
import type { Transport } from './transport/transport';
import { OriginPolicy } from './http/origin';
import { createRoutes } from './http/routes';
import { errorMiddleware } from './http/errors';
import { HttpRequestMeter, httpMetrics } from './http/http-metrics';
import { PACKAGE_VERSION } from './package-info';
import { Errors, relayError } from './errors';

/** Paths the relay answers on (part of the public contract: extend, don't rename). */
export const PATHS = Object.freeze({
  /** The plain WebSocket endpoint (STOMP subprotocols `v10.stomp`, `v11.stomp`, `v12.stomp`). */
  websocket: '/ws',
  /** The SockJS endpoint (`/sockjs/info`, `/sockjs/<server>/<session>/<transport>`). */
  sockjs: '/sockjs',
});

export interface CreateRelayOptions extends RelayOptions {
  /** A broker engine to use instead of the one `brokerUrl` selects (tests, custom engines). */
  broker?: Broker;
  /** Replaces the authenticator `authMode` selects (e.g. a host application's own). */
  authenticator?: Authenticator;
  /**
   * Decides on every SUBSCRIBE and SEND (Spring: a `ChannelInterceptor`, Spring Security's message
   * matchers): `true` allows, `false` ends the session with ERROR ACCESS_DENIED. See {@link Authorize}.
   */
  authorize?: Authorize;
  /** Replaces the destination router (advanced: user and application destinations are lost). */
  router?: DestinationRouter;
  /**
   * A passport strategy of the host application for the HTTP API (e.g. its session cookie), instead
   * of the JWT scope check. Its `authorize(user, scope)` grants scopes; without one, `push` only.
   */
  pushAuth?: PushAuthStrategy;
  /** Where the relay logs (default: pino at `logLevel` on stdout). */
  logger?: Logger;
  /** Serve the demo page at `/` (default true). The page expects the root: turn it off with {@link httpPrefix}. */
  serveDemo?: boolean;
  /**
   * Path under which {@link Relay.router} serves the relay's HTTP routes, e.g. `'/relay'` for
   * `/relay/push/:user`, `/relay/users`, `/relay/healthz`, `/relay/client/*`. Default: none, the
   * root, as the CLI serves them (and as docs/http-api.md lists them), which claims `/users/:user`,
   * `/push`, `/publish`, `/metrics`... A host application with routes of its own there sets a prefix.
   * The WebSocket and SockJS endpoints ({@link PATHS}) stay where they are; {@link Relay.publicRouter}
   * and {@link Relay.adminRouter} are not prefixed (mount them where you like).
   */
  httpPrefix?: string;
}

/**
 * One relay instance: its broker engine, sessions, HTTP routes and transport endpoints. Made by {@link createRelay}; embed it (`attach` +
 * `router` + `start`) or run it alone (`listen`).
 */
export class Relay {
  /** The resolved configuration (defaults, then the options), frozen. */
  readonly config: RelayConfig;
  /** The relay's logger (the `logger` option's child, with `instanceId` on every line). */
  readonly logger: Logger;
  /** The relay's Prometheus metrics, on a registry of its own (served at `/metrics`). */
  readonly metrics: RelayMetrics;
  /** The broker engine: embedded, RabbitMQ (`brokerUrl`), or the `broker` option's. */
  readonly broker: Broker;
  /** The relay's sessions. @internal Not part of the library contract: it may change. */
  readonly hub: SessionHub;
  /** Who STOMP sessions are: the `authenticator` option, or the one `authMode` selects. */
  readonly authenticator: Authenticator;
  /**
   * express Router with all the relay's HTTP routes ({@link publicRouter} and {@link adminRouter});
   * mount it on a host app, or let {@link listen} do it.
   */
  readonly router: Router;
  /** The public routes only: `/healthz`, `/readyz`, `/instance`, `/client/*`, `/ws` (426 without Upgrade), the demo page. */
  readonly publicRouter: Router;
  /**
   * The admin routes only: the HTTP API (`/push*`, `/publish`, `/users*`), `/metrics`, `/openapi.json`.
   * A host that keeps them off its public port mounts this on an internal server instead of {@link router}.
   */
  readonly adminRouter: Router;
  /** Cluster-wide presence: which users have sessions on which instances. */
  readonly presence: ClusterPresence;

  private readonly messaging: UserMessaging;
  private readonly control: SessionControl;
  private readonly events: SessionEvents;
  private readonly handlers: MessageHandlers;

  private readonly origins: OriginPolicy;
  private readonly wsEndpoint: WsEndpoint;
  private readonly sockjsEndpoint: SockJsEndpoint;
  /**
   * The HTTP API's body-taking routes answered before express on a server {@link listen} makes,
   * under a given path prefix; undefined with a host's `pushAuth` strategy (direct-routes.ts says why).
   */
  private readonly directRoutes: ((prefix: string) => DirectRoutes) | undefined;
  private readonly httpPrefix: string;
  private accepting = true;
  private ownServer: http.Server | null = null;
  private ownAdminServer: http.Server | null = null;
  private closing: Promise<void> | null = null;
  private unsubscribeReady: (() => void) | null = null;

  constructor(options: CreateRelayOptions = {}) {
    const { broker, authenticator, authorize, router, logger, serveDemo, pushAuth, httpPrefix, ...relayOptions } = options;
    this.config = resolveConfig(relayOptions);
    const prefix = normalizeHttpPrefix(httpPrefix);
    this.httpPrefix = prefix;
    // Every line names its instance: logs of several instances end up in one place.
    this.logger = (logger ?? createLogger(this.config.logLevel)).child({ instanceId: this.config.instanceId });
    // Rules are checked before anything is built: a bad ACL file stops the relay at once.
    const policy = this.policy(authorize);
    this.metrics = new RelayMetrics({ defaultMetrics: true, version: PACKAGE_VERSION });
    this.broker = broker ?? createBroker(this.config, this.logger, this.metrics);
    // One set of JWT checks (and one JWKS cache) for STOMP sessions and the push API.
    const jwtOptions = jwtOptionsOf(this.config);
    this.authenticator = authenticator ?? defaultAuthenticator(this.config, jwtOptions);
    warnAboutMissingAuth(this.logger, this.config, { authenticator: authenticator !== undefined, pushAuth: pushAuth !== undefined });
    this.handlers = new MessageHandlers({
      context: (sender) => this.appContext(sender),
      errorDestination: this.config.appErrorDestination,
      logger: this.logger,
    });
    this.hub = new SessionHub({
      broker: this.broker,
      config: this.config,
      authenticator: this.authenticator,
      authorize: policy,
      metrics: this.metrics,
      logger: this.logger,
      router:
        router ??
        new RelayRouter({
          relayPrefixes: this.config.relayPrefixes,
          userPrefix: this.config.userPrefix,
          appPrefix: this.config.appPrefix,
          handlers: this.handlers,
        }),
    });
    this.presence = new ClusterPresence({
      broker: this.broker,
      instanceId: this.config.instanceId,
      localUsers: () => this.hub.userCounts(),
      localUsersVersion: () => this.hub.userCountsVersion,
      localSessionsOf: (user) => this.hub.userSessionCount(user),
      logger: this.logger,
      intervalMs: this.config.presenceIntervalMs,
    });
    this.events = new SessionEvents(this.hub, this.logger);
    // Presence follows sessions through the same events the host application can listen to.
    this.on('session:connect', () => this.presence.localChanged());
    this.on('session:disconnect', () => this.presence.localChanged());
    this.messaging = new UserMessaging({
      broker: this.broker,
      presence: this.presence,
      metrics: this.metrics,
      destinationPrefixes: userDestinationPrefixes(this.config.relayPrefixes),
      routeWaitMs: this.config.userRouteWaitMs,
    });
    this.origins = new OriginPolicy(this.config.allowedOrigins);
    const onTransport = (t: Transport) => this.accept(t);
    this.wsEndpoint = new WsEndpoint({
      path: PATHS.websocket,
      // Caps one message, which may hold several frames (or part of one); the codec enforces frame size.
      maxPayload: this.config.limits.maxWsMessageBytes,
      onTransport,
    });
    this.sockjsEndpoint = new SockJsEndpoint({
      prefix: PATHS.sockjs,
      sockjsClientUrl: `${prefix}/client/sockjs.min.js`,
      maxMessageBytes: this.config.limits.maxWsMessageBytes,
      logger: this.logger,
      onTransport,
    });
    this.control = new SessionControl({
      broker: this.broker,
      instanceId: this.config.instanceId,
      logger: this.logger,
      endLocalSessions: (user, reason) => this.hub.endUserSessions(user, () => relayError(Errors.SESSION_REVOKED, reason)),
    });
    const meter = new HttpRequestMeter(this.metrics);
    const measure = httpMetrics(meter);
    this.publicRouter = express.Router();
    this.publicRouter.use(
      measure,
      createRoutes({
        broker: this.broker,
        instanceId: this.config.instanceId,
        isAccepting: () => this.accepting,
        knownInstances: () => this.presence.knownInstances(),
        serveDemo: serveDemo ?? true,
      }),
    );
    this.publicRouter.use(errorMiddleware(this.logger));
    const admin: AdminRouteDeps = {
      messaging: this.messaging,
      presence: this.presence,
      control: this.control,
      publish: (destination, payload, headers) => this.publish(destination, payload, headers),
      metrics: this.metrics,
      auth: pushAuth ? strategyApiAuth(pushAuth) : jwtOptions ? jwtApiAuth(jwtOptions) : noApiAuth,
      maxBodyBytes: this.config.limits.maxFrameBytes,
      pushMaxUsers: this.config.pushMaxUsers,
    };
    this.adminRouter = express.Router();
    this.adminRouter.use(measure, createAdminRoutes(admin));
    this.adminRouter.use(errorMiddleware(this.logger));
    const { auth, maxBodyBytes } = admin;
    this.directRoutes = pushAuth
      ? undefined
      : (routePrefix) =>
          new DirectRoutes({ routes: adminJsonRoutes(admin), auth, maxBodyBytes, prefix: routePrefix, meter, logger: this.logger });
    this.router = express.Router();
    // The API first: pushes are the traffic; health probes and static files are rare beside them.
    this.router.use(prefix || '/', this.adminRouter, this.publicRouter);
  }

  /**
   * Sends to every session of `user`, on any instance, subscribed to `/user` + `destination`
   * (Spring's `convertAndSendToUser`). Resolves once the broker took the message, with what presence
   * knows of the user's sessions.
   */
  sendToUser(user: string, destination: string, payload: Payload, options?: SendToUserOptions): Promise<SendResult> {
    return this.messaging.sendToUser(user, destination, payload, options);
  }

  /**
   * Like {@link sendToUser}, for one session of the user only (its CONNECTED `session` header). With
   * `user` null, to an anonymous session: its `/user/queue/…` subscriptions are its own, keyed by its
   * session id (as in Spring); the answer then says only whether the broker routed the message there.
   */
  sendToSession(user: string, sessionId: string, destination: string, payload: Payload, options?: SendToUserOptions): Promise<SendResult>;
  sendToSession(
    user: null,
    sessionId: string,
    destination: string,
    payload: Payload,
    options?: SendToUserOptions,
  ): Promise<AnonymousSendResult>;
  sendToSession(
    user: string | null,
    sessionId: string,
    destination: string,
    payload: Payload,
    options?: SendToUserOptions,
  ): Promise<SendResult | AnonymousSendResult> {
    if (user === null) return this.messaging.sendToAnonymousSession(sessionId, destination, payload, options);
    return this.messaging.sendToUser(user, destination, payload, { ...options, sessionId });
  }

  /**
   * Publishes to a broker destination (`/topic/...`, `/queue/...`) as if a client had sent it, under
   * the same rules: relayed prefixes only, never the relay's internal namespace, application headers
   * only (BAD_REQUEST for reserved ones). Resolves once the broker confirmed it.
   */
  async publish(destination: string, payload: Payload, headers: Record<string, string | number | boolean> = {}): Promise<void> {
    if (isInternalDestination(destination) || isTempQueue(destination) || !underPrefix(destination, this.config.relayPrefixes)) {
      throw relayError(Errors.DESTINATION_NOT_ALLOWED, destination);
    }
    await this.broker.publish({ destination, ...applicationMessage(payload, headers) }, { confirm: true });
  }

  /** What presence knows of `user` across the cluster. */
  userPresence(user: string): UserPresence {
    return this.presence.lookup(user);
  }

  /**
   * Registers an application handler (Spring's `@MessageMapping`): client SENDs to
   * `appPrefix + destination` (e.g. `/app/hello`) run it here. `options.sendToUser` /
   * `options.sendTo` route its return value (`@SendToUser` / `@SendTo`).
   */
  onMessage(destination: string, handler: AppHandler): this;
  onMessage(destination: string, options: HandlerOptions, handler: AppHandler): this;
  onMessage(destination: string, a: HandlerOptions | AppHandler, b?: AppHandler): this {
    const [options, handler] = typeof a === 'function' ? [{}, a] : [a, b as AppHandler];
    this.handlers.register(destination, options, handler);
    return this;
  }

  /**
   * Calls `listener` on every `event` of this instance's sessions: `session:connect`,
   * `session:disconnect`, `session:subscribe`, `session:unsubscribe` (Spring's session events; order,
   * pairing and payloads in {@link RelaySessionEvents}). Returns the function that removes the listener.
   */
  on<E extends RelaySessionEventName>(event: E, listener: SessionEventListener<E>): () => void {
    return this.events.on(event, listener);
  }

  /**
   * Registers a subscribe handler (Spring's `@SubscribeMapping`): a client SUBSCRIBE to
   * `appPrefix + destination` (e.g. `/app/snapshot/42` for `/snapshot/{id}`) is answered once by
   * what the handler returns, sent to that subscription only, without the broker; errors go to the
   * subscriber's `/user/queue/errors` as for {@link onMessage}.
   */
  onSubscribe(destination: string, handler: AppSubscribeHandler): this {
    this.handlers.registerSubscribe(destination, handler);
    return this;
  }

  private appContext(sender: AppSender): AppContext {
    return {
      replyToUser: async (destination, payload, options) => {
        const user = sender.principal?.name;
        // An anonymous sender's user destinations are its session's own.
        if (user === undefined) await this.sendToSession(null, sender.id, destination, payload, options);
        else await this.sendToUser(user, destination, payload, options);
      },
      sendToUser: async (user, destination, payload, options) => {
        await this.sendToUser(user, destination, payload, options);
      },
      publish: (destination, payload, headers) => this.publish(destination, payload, headers),
    };
  }

  /** The authorize option, or the rules of `config.aclFile` (read and checked now), or none. */
  private policy(authorize: Authorize | undefined): Authorize | undefined {
    const file = this.config.aclFile;
    if (file === undefined) return authorize;
    if (authorize !== undefined) {
      throw relayError(
        Errors.INVALID_CONFIG,
        'both an authorize function and an ACL file (aclFile / ACL_FILE) were given; pass one (an authorize function can call Acl.fromFile(path).decide itself)',
      );
    }
    const acl = Acl.fromFile(file);
    this.logger.info({ aclFile: file, rules: acl.size, default: acl.defaultAllows ? 'allow' : 'deny' }, 'authorization rules loaded');
    return acl.authorize;
  }

  /** Starts the broker engine. With RabbitMQ unreachable this still resolves; /readyz says not ready. */
  async start(): Promise<void> {
    // The relay's readiness (/readyz) follows the broker's, whatever the engine: its gauge is the
    // relay's. Each engine logs its own changes and reports its own connections.
    this.metrics.brokerReady.set(this.broker.ready ? 1 : 0);
    this.unsubscribeReady = this.broker.onReadyChange((ready) => {
      this.metrics.brokerReady.set(ready ? 1 : 0);
      this.metrics.brokerReadyChanges.inc();
    });
    await this.broker.start();
    this.metrics.brokerReady.set(this.broker.ready ? 1 : 0);
    await this.presence.start();
    await this.control.start();
  }

  /**
   * Installs the WebSocket and SockJS endpoints on `server`, in front of its existing listeners,
   * with the Origin check applied to both.
   */
  attach(server: http.Server): void {
    overshadow(server, 'request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (!pathOf(req.url).startsWith(PATHS.sockjs)) return false;
      if (!this.origins.allows(req)) {
        const err = relayError(Errors.ORIGIN_NOT_ALLOWED, String(req.headers.origin));
        res.writeHead(403, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: { code: err.code, message: err.message } }));
        return true;
      }
      return this.sockjsEndpoint.handle(req, res);
    });
    overshadow(server, 'upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      const path = pathOf(req.url);
      const ours = path === PATHS.websocket || path.startsWith(PATHS.sockjs + '/');
      if (!ours) return false;
      socket.on('error', () => socket.destroy());
      if (!this.origins.allows(req)) {
        socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return true;
      }
      if (path === PATHS.websocket) return this.wsEndpoint.handleUpgrade(req, socket, head);
      return this.sockjsEndpoint.handle(req, socket, head);
    });
  }

  /**
   * Standalone mode: starts the broker, creates an express app with {@link router}, listens on
   * `config.port` / `config.host` (or the given ones) and attaches the endpoints. With
   * `config.adminPort` set, the public server gets {@link publicRouter} only and a second server on
   * `adminPort` / `adminHost` gets {@link adminRouter} ({@link adminServer}).
   */
  async listen(port = this.config.port, host = this.config.host): Promise<AddressInfo> {
    const split = this.config.adminPort !== undefined;
    // The HTTP API is where the admin routes are: on the admin server (unprefixed, as adminRouter), or here.
    const server = http.createServer(split ? this.app(this.publicRouter) : this.withDirectRoutes(this.app(this.router), this.httpPrefix));
    this.ownServer = server;
    this.attach(server);
    await this.start();
    const address = await listenOn(server, port, host);
    // instanceId is on every line already (the relay's child logger): not repeated here.
    this.logger.info({ port: address.port, host, broker: this.broker.kind }, 'stomp-relay listening');
    if (split) {
      const adminHost = this.config.adminHost ?? host;
      const admin = http.createServer(this.withDirectRoutes(this.app(this.adminRouter), ''));
      this.ownAdminServer = admin;
      const adminAddress = await listenOn(admin, this.config.adminPort!, adminHost);
      this.logger.info({ port: adminAddress.port, host: adminHost }, 'admin port listening: HTTP API, metrics, OpenAPI');
    }
    return address;
  }

  /** An express app serving `router`, with JSON 404s and errors. */
  private app(router: Router): express.Express {
    const app = express();
    app.disable('x-powered-by');
    // API answers are small and never revalidated: an ETag is a hash of every body for nothing.
    app.set('etag', false);
    app.use(router);
    app.use((req, res) => {
      res.status(404).json({ error: { code: Errors.NOT_FOUND.code, message: `not found: ${req.method} ${req.path}` } });
    });
    app.use(errorMiddleware(this.logger));
    return app;
  }

  /**
   * `app` with the HTTP API's body-taking routes under `prefix` answered in front of it, without
   * express (direct-routes.ts): pushes are this server's traffic. Only for servers the relay owns.
   */
  private withDirectRoutes(app: express.Express, prefix: string): http.RequestListener {
    const direct = this.directRoutes?.(prefix);
    if (direct === undefined) return app;
    return (req, res) => {
      if (!direct.handle(req, res)) app(req, res);
    };
  }

  /** The server {@link listen} created, if any. */
  get server(): http.Server | null {
    return this.ownServer;
  }

  /** The admin server {@link listen} created when `adminPort` is set, if any. */
  get adminServer(): http.Server | null {
    return this.ownAdminServer;
  }

  /**
   * Graceful shutdown: stop taking sessions, tell connected clients (ERROR SHUTTING_DOWN, in
   * batches so a rolling restart does not cause a reconnect storm), let in-flight writes finish up
   * to `shutdownGraceMs`, then close endpoints, the broker and the server. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.accepting = false;
    await this.hub.drain({ deadlineMs: this.config.shutdownGraceMs });
    await this.presence.stop();
    await this.control.stop();
    this.sockjsEndpoint.close();
    await this.wsEndpoint.close();
    this.unsubscribeReady?.();
    await this.broker.stop();
    for (const server of [this.ownServer, this.ownAdminServer]) {
      if (!server) continue;
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  /**
   * Every transport becomes a session, whose guard makes calls into it safe. Once shutdown began the
   * hub is draining, and tells a new session ERROR SHUTTING_DOWN at once.
   */
  private accept(transport: Transport): void {
    this.hub.accept(transport);
  }
}

/**
 * Says so at warn when sessions or the HTTP API take anyone: dev mode (no `authJwtSecret` /
 * `AUTH_JWT_SECRET`, no authenticator of the host's), or an HTTP API with neither a JWT check nor
 * a host strategy. The CLI and an embedded relay log the same lines.
 */
function warnAboutMissingAuth(logger: Logger, config: RelayConfig, given: { authenticator: boolean; pushAuth: boolean }): void {
  const jwt = config.authJwtSecret !== undefined || config.authJwksUrl !== undefined;
  const devSessions = !given.authenticator && config.authMode === 'dev';
  if (devSessions && config.authJwtSecret === undefined) {
    logger.warn(
      'AUTH_JWT_SECRET is not set: dev mode. The CONNECT login header names the user and pushes need no token. Do not run this in production.',
    );
  } else if (devSessions) {
    logger.warn('AUTH_MODE=dev: the CONNECT login header names the user, unchecked. Do not run this in production.');
  } else if (!jwt && !given.pushAuth) {
    logger.warn(
      'AUTH_JWT_SECRET is not set: the HTTP API (POST /push, /publish, /users...) needs no token. Set it before exposing that API.',
    );
  }
}

/** `httpPrefix` as a path without a trailing slash ('' for the root); INVALID_CONFIG if it is not a path. */
function normalizeHttpPrefix(prefix: string | undefined): string {
  if (prefix === undefined || prefix === '' || prefix === '/') return '';
  if (!/^(\/[A-Za-z0-9._~-]+)+\/?$/.test(prefix)) {
    throw relayError(
      Errors.INVALID_CONFIG,
      `httpPrefix must be a path such as '/relay' (segments of letters, digits, '.', '_', '~', '-'), got ${JSON.stringify(prefix)}`,
    );
  }
  return prefix.replace(/\/$/, '');
}

/** How JWTs are checked (secret, JWKS, issuer, audience); undefined when neither key source is set. */
function jwtOptionsOf(config: RelayConfig): JwtOptions | undefined {
  if (config.authJwtSecret === undefined && config.authJwksUrl === undefined) return undefined;
  return {
    secret: config.authJwtSecret,
    jwks: config.authJwksUrl === undefined ? undefined : remoteJwks(config.authJwksUrl, config.authJwksRefreshMs),
    issuer: config.authJwtIssuer,
    audience: config.authJwtAudience,
    requireExp: config.authJwtRequireExp,
  };
}

/** The authenticator `config.authMode` names. */
function defaultAuthenticator(config: RelayConfig, jwtOptions: JwtOptions | undefined): Authenticator {
  switch (config.authMode) {
    case 'jwt':
      return new JwtAuthenticator(jwtOptions!);
    case 'broker':
      // Only host, port and vhost of BROKER_URL: each check signs in with the client's own credentials.
      return new BrokerAuthenticator(new CredentialCheck({ endpoint: parseBrokerUrl(config.brokerUrl!) }));
    default:
      return new DevLoginAuthenticator();
  }
}

/** Listens on `port` / `host`; resolves with the address, rejects on a listen error (port taken). */
function listenOn(server: http.Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** Creates a relay; see {@link Relay}. */
export function createRelay(options: CreateRelayOptions = {}): Relay {
  return new Relay(options);
}

/**
 * Puts `handler` in front of the existing listeners for `event` (as sockjs's installHandlers does):
 * when it returns true the request is ours; otherwise the previous listeners run.
 */
function overshadow(emitter: http.Server, event: 'request' | 'upgrade', handler: (...args: any[]) => boolean): void {
  const previous = emitter.listeners(event).slice() as Array<(...args: unknown[]) => void>;
  emitter.removeAllListeners(event);
  emitter.on(event, function (this: unknown, ...args: unknown[]) {
    if (handler(...args)) return;
    // An upgrade nobody else listens for (now: a host may add listeners after attach()) would hang.
    if (event === 'upgrade' && previous.length === 0 && emitter.listenerCount('upgrade') === 1) {
      (args[1] as Duplex).destroy();
      return;
    }
    for (const listener of previous) listener.apply(this, args);
  });
}

/**
 * Relay configuration: one typed object, built from defaults, then environment variables (CLI) or
 * options (library), validated once at start with readable messages, then frozen.
 */
import { DEFAULT_PARSER_LIMITS, type ParserLimits } from './codec/frame';
import { Errors, relayError } from './errors';

/** Per-session bounds: frame and header sizes (from the codec), subscriptions, buffered bytes, transactions, WebSocket messages. Breaking one ends the session with a coded ERROR (docs/protocol.md). */
export interface SessionLimits extends ParserLimits {
  /** Most subscriptions one session may hold at once. */
  maxSubscriptionsPerSession: number;
  /**
   * Outbound bytes a session may have queued (in the relay and the socket) before it counts as a
   * slow consumer and is closed with an ERROR frame (code SLOW_CONSUMER). See docs/protocol.md.
   */
  maxBufferedBytes: number;
  /** Most open transactions per session. */
  maxTransactionsPerSession: number;
  /** Most SEND/ACK/NACK frames one transaction may hold before COMMIT. */
  maxTransactionFrames: number;
  /**
   * Largest single WebSocket message (bytes). Not a frame limit (the parser enforces those): one
   * message may carry several frames, and a frame may span messages. Above it the client gets ERROR
   * MESSAGE_TOO_LARGE and the socket closes with 1009. Default: 4 MiB, or the frame limit + 64 KiB
   * when that is more, unless set.
   */
  maxWsMessageBytes: number;
}

/** STOMP heart-beats the server offers and wants (negotiated per session as the spec says). */
export interface HeartbeatConfig {
  /** Interval (ms) at which the server offers to send heart-beats (`cx` of CONNECTED heart-beat). 0 = never. */
  sendMs: number;
  /** Interval (ms) at which the server wants client heart-beats (`cy`). 0 = never. */
  receiveMs: number;
  /** A peer silent for `receiveInterval * graceFactor` is closed (HEARTBEAT_TIMEOUT). */
  graceFactor: number;
  /**
   * Finest interval (ms) a client can negotiate: one asking for finer heart-beats than
   * `sendMs`/`receiveMs` gets what it asks, but not below this (see negotiateHeartbeat). ≥ 1.
   */
  minMs: number;
}

/**
 * How STOMP sessions authenticate (AUTH_MODE): `dev` (the CONNECT `login` names the user, no
 * check), `jwt` (an HS256 JWT signed with AUTH_JWT_SECRET), `broker` (the CONNECT `login` /
 * `passcode` are checked against RabbitMQ's users, as Web-STOMP does).
 */
export type AuthMode = 'dev' | 'jwt' | 'broker';

export const AUTH_MODES: readonly AuthMode[] = ['dev', 'jwt', 'broker'];

/** The relay's whole configuration, resolved and frozen ({@link Relay.config}). Each field has its environment variable (`ENV_VARS`, `stomp-relay --help`, docs/operations.md). */
export interface RelayConfig {
  /**
   * HTTP port of the relay: WebSocket, SockJS, health, readiness, the client and the demo; also the
   * HTTP API and metrics unless {@link adminPort} is set.
   */
  port: number;
  /** Address the CLI's server listens on (`HOST`, default `0.0.0.0`). */
  host: string;
  /**
   * A second HTTP port for the HTTP API (`/push*`, `/publish`, `/users*`), `/metrics` and
   * `/openapi.json`, which {@link port} then no longer serves (404). Unset: everything on `port`.
   */
  adminPort: number | undefined;
  /** Address the admin port listens on (default: {@link host}). */
  adminHost: string | undefined;
  /** Most users one `POST /push` may name (beyond: 413 TOO_MANY_USERS). */
  pushMaxUsers: number;
  /**
   * `stomp://user:pass@host:61613/vhost`, or a comma-separated list of the nodes of one RabbitMQ
   * cluster (see {@link parseBrokerUrls}); undefined selects the embedded in-memory broker.
   */
  brokerUrl: string | undefined;
  /**
   * `amqp://user:pass@host:5672/vhost` (or a list, like `brokerUrl`) for the relay's AMQP 0-9-1
   * connections; undefined derives it from `brokerUrl` (see {@link brokerAmqpEndpoints}).
   */
  brokerAmqpUrl: string | undefined;
  /** Most TCP connections to the broker per instance, whatever the number of clients. */
  brokerPoolSize: number;
  /**
   * Most sessions per instance holding exclusive queues (RabbitMQ only): each gets one broker
   * connection of its own for them, outside the pool. 0 refuses exclusive queues.
   */
  brokerExclusiveConnections: number;
  /** How long the instance's route queue outlives it on RabbitMQ (`x-expires`). */
  routeQueueTtlMs: number;
  /**
   * How long a push to a user whom presence shows online, but whose message reached no route, is
   * retried before it is answered NOT_DELIVERED (routes being restored, a subscribe under way).
   */
  userRouteWaitMs: number;
  /**
   * How long user-destination messages stay replayable for `resume-from` (ms); 0 turns history off
   * (every resume is then a gap). docs/protocol.md "Resume".
   */
  resumeWindowMs: number;
  /** Most messages kept, and replayed, per (user, destination). */
  resumeMaxMessages: number;
  /** RabbitMQ: how many history streams the users are spread over (broker state is per stream). */
  resumePartitions: number;
  /**
   * Heart-beat interval (ms) asked of RabbitMQ and offered to it, both ways, on every broker
   * connection; 0 = none. A link silent for twice the interval is closed and reopened, so the
   * default 5000 finds a half-dead link (no data, no close) within about 12 s. Shorter finds it
   * sooner, but a relay or broker whose event loop stalls that long under load (seen at 2000 on a
   * loaded 2-core box) then drops healthy links. Nothing is lost meanwhile: user messages wait in
   * the instance's route queue.
   */
  brokerHeartbeatMs: number;
  /**
   * How sessions authenticate. Unset: `jwt` when {@link authJwtSecret} is set, else `dev` (after
   * {@link resolveConfig} / {@link configFromEnv} it is always set).
   */
  authMode: AuthMode | undefined;
  /**
   * HS256 secret of JWTs: of STOMP sessions in `jwt` mode, and of the push API in every mode (unset:
   * pushes need no token).
   */
  authJwtSecret: string | undefined;
  /**
   * Refuse JWTs without an `exp` claim (STOMP sessions and the push API). Default true: a token
   * that never expires is a credential that can never be taken back.
   */
  authJwtRequireExp: boolean;
  /**
   * URL of a JWKS (`https://issuer/.well-known/jwks.json`) whose keys check RS256, PS256, ES256,
   * EdDSA... JWTs, of sessions and of the push API; undefined: only HS256 with {@link authJwtSecret}.
   */
  authJwksUrl: string | undefined;
  /** Least time (ms) between two fetches of the JWKS; a token with an unknown `kid` triggers one. */
  authJwksRefreshMs: number;
  /** The `iss` every JWT must carry; undefined: not checked. */
  authJwtIssuer: string | undefined;
  /** Audiences a JWT's `aud` must name one of; undefined: not checked. */
  authJwtAudience: string[] | undefined;
  /**
   * Authorization rules for SUBSCRIBE and SEND, a `.json`, `.yaml` or `.yml` file (server/auth/acl.ts),
   * read and checked when the relay is created. Undefined: every destination the relay routes is allowed.
   */
  aclFile: string | undefined;
  /** Per-session bounds (`MAX_FRAME_BYTES`, `MAX_SUBSCRIPTIONS`...). */
  limits: SessionLimits;
  /** Heart-beats offered and wanted (`HEARTBEAT_SEND_MS`, `HEARTBEAT_RECEIVE_MS`...). */
  heartbeat: HeartbeatConfig;
  /** Destination prefixes relayed to the broker. Anything else (but /app and /user) gets ERROR. */
  relayPrefixes: string[];
  /** Prefix of application destinations handled in-process (Spring's `setApplicationDestinationPrefixes`). */
  appPrefix: string;
  /** Prefix of user destinations (Spring's `setUserDestinationPrefix`). */
  userPrefix: string;
  /**
   * Where application handler errors are reported, inside the sender's user space: `/queue/errors`
   * reaches the sending session's subscription to `/user/queue/errors` (Spring's `@SendToUser("/queue/errors")`).
   */
  appErrorDestination: string;
  /** Origins allowed to open WebSocket/SockJS sessions; `['*']` allows any. */
  allowedOrigins: string[];
  /** Name of this instance in logs, presence and CONNECTED `server` header. */
  instanceId: string;
  /** On SIGTERM: how long to wait for in-flight writes before closing sockets. */
  shutdownGraceMs: number;
  /**
   * Interval of presence snapshots between instances; a silent instance (e.g. killed) is forgotten
   * after three intervals.
   */
  presenceIntervalMs: number;
  /** pino level: fatal, error, warn, info, debug, trace, silent (`LOG_LEVEL`, default info). */
  logLevel: string;
}

/**
 * Default WebSocket message bound for a frame limit: room for a batch of frames (4 MiB), and never
 * less than one largest frame plus its headers' worth, so raising MAX_FRAME_BYTES alone keeps
 * working for clients that send each frame as one message (stomp.js does).
 */
export function defaultWsMessageBytes(maxFrameBytes: number): number {
  return Math.max(4 * 1024 * 1024, maxFrameBytes + 64 * 1024);
}

/** Every setting's default, before environment variables or options. */
export const DEFAULT_CONFIG: Readonly<RelayConfig> = Object.freeze({
  port: 8080,
  host: '0.0.0.0',
  adminPort: undefined,
  adminHost: undefined,
  pushMaxUsers: 1000,
  brokerUrl: undefined,
  brokerAmqpUrl: undefined,
  brokerPoolSize: 4,
  brokerExclusiveConnections: 100,
  routeQueueTtlMs: 30_000,
  userRouteWaitMs: 2_000,
  resumeWindowMs: 120_000,
  resumeMaxMessages: 1_000,
  resumePartitions: 4,
  brokerHeartbeatMs: 5_000,
  authMode: undefined,
  authJwtSecret: undefined,
  authJwtRequireExp: true,
  authJwksUrl: undefined,
  authJwksRefreshMs: 30_000,
  authJwtIssuer: undefined,
  authJwtAudience: undefined,
  aclFile: undefined,
  limits: Object.freeze({
    ...DEFAULT_PARSER_LIMITS,
    maxSubscriptionsPerSession: 256,
    maxBufferedBytes: 4 * 1024 * 1024,
    maxTransactionsPerSession: 16,
    maxTransactionFrames: 1024,
    maxWsMessageBytes: defaultWsMessageBytes(DEFAULT_PARSER_LIMITS.maxFrameBytes),
  }),
  heartbeat: Object.freeze({ sendMs: 10_000, receiveMs: 10_000, graceFactor: 2, minMs: 1_000 }),
  // `/temp-queue/` enables `reply-to: /temp-queue/<name>` on SEND (server/session/temp-queues.ts);
  // `/reply-queue/` lets clients answer such requests.
  relayPrefixes: ['/topic/', '/queue/', '/exchange/', '/amq/queue/', '/temp-queue/', '/reply-queue/'],
  appPrefix: '/app/',
  userPrefix: '/user/',
  appErrorDestination: '/queue/errors',
  allowedOrigins: ['*'],
  instanceId: `${require('node:os').hostname()}-${process.pid}`,
  shutdownGraceMs: 5_000,
  presenceIntervalMs: 5_000,
  logLevel: 'info',
}) as RelayConfig;

/** Options accepted by the library: any subset of {@link RelayConfig}, limits and heart-beat merged. */
export type RelayOptions = Partial<Omit<RelayConfig, 'limits' | 'heartbeat'>> & {
  /** Per-session bounds to change; the others keep their defaults. */
  limits?: Partial<SessionLimits>;
  /** Heart-beat settings to change; the others keep their defaults. */
  heartbeat?: Partial<HeartbeatConfig>;
};

/** One environment variable the CLI reads: its name, its `--help` line and how it sets the config. */
export interface EnvVar {
  /** The variable's name, e.g. `BROKER_URL`. */
  name: string;
  /** Its line in `stomp-relay --help`. */
  help: string;
  /** Sets what `value` says on `config` (throws INVALID_CONFIG on a bad value). */
  apply(config: RelayConfig, value: string): void;
}

const int = (name: string, value: string, min: number, max = Number.MAX_SAFE_INTEGER): number => {
  if (!/^\d+$/.test(value.trim())) throw relayError(Errors.INVALID_CONFIG, `${name} must be a whole number, got "${value}"`);
  const n = Number(value);
  if (n < min || n > max) throw relayError(Errors.INVALID_CONFIG, `${name} must be between ${min} and ${max}, got ${n}`);
  return n;
};
const bool = (name: string, value: string): boolean => {
  const v = value.trim().toLowerCase();
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw relayError(Errors.INVALID_CONFIG, `${name} must be true or false, got "${value}"`);
};
const list = (value: string): string[] => value.split(',').map((s) => s.trim()).filter(Boolean);

/** Every environment variable the CLI reads. `--help` prints this table; docs/operations.md mirrors it. */
export const ENV_VARS: readonly EnvVar[] = [
  { name: 'PORT', help: 'HTTP port (default 8080)', apply: (c, v) => { c.port = int('PORT', v, 0, 65535); } },
  { name: 'HOST', help: 'address to listen on (default 0.0.0.0)', apply: (c, v) => { c.host = v; } },
  { name: 'ADMIN_PORT', help: 'second HTTP port for /push*, /publish, /users*, /metrics, /openapi.json, which PORT then no longer serves; unset = all on PORT', apply: (c, v) => { c.adminPort = int('ADMIN_PORT', v, 0, 65535); } },
  { name: 'ADMIN_HOST', help: 'address the admin port listens on (default: HOST)', apply: (c, v) => { c.adminHost = v; } },
  { name: 'PUSH_MAX_USERS', help: 'most users one POST /push may name (default 1000)', apply: (c, v) => { c.pushMaxUsers = int('PUSH_MAX_USERS', v, 1, 100_000); } },
  { name: 'BROKER_URL', help: 'stomp://user:pass@host:61613/vhost of RabbitMQ, or a comma-separated list of the nodes of one cluster; unset = embedded broker', apply: (c, v) => { c.brokerUrl = v || undefined; } },
  { name: 'BROKER_AMQP_URL', help: 'amqp://user:pass@host:5672/vhost (or a comma-separated list of nodes) for AMQP 0-9-1; default: BROKER_URL\'s hosts, credentials and vhost, port 5672', apply: (c, v) => { c.brokerAmqpUrl = v || undefined; } },
  { name: 'BROKER_POOL_SIZE', help: 'broker connections per instance (default 4)', apply: (c, v) => { c.brokerPoolSize = int('BROKER_POOL_SIZE', v, 1, 64); } },
  { name: 'BROKER_EXCLUSIVE_CONNECTIONS', help: 'sessions per instance that may hold exclusive queues, one broker connection each (default 100, 0 = refuse them)', apply: (c, v) => { c.brokerExclusiveConnections = int('BROKER_EXCLUSIVE_CONNECTIONS', v, 0, 100_000); } },
  { name: 'ROUTE_QUEUE_TTL_MS', help: "how long an instance's route queue outlives it on RabbitMQ (default 30000)", apply: (c, v) => { c.routeQueueTtlMs = int('ROUTE_QUEUE_TTL_MS', v, 1000); } },
  { name: 'RESUME_WINDOW_MS', help: 'how long user-destination history is kept for resume-from; 0 = off (default 120000)', apply: (c, v) => { c.resumeWindowMs = int('RESUME_WINDOW_MS', v, 0); } },
  { name: 'RESUME_MAX_MESSAGES', help: 'most messages kept and replayed per (user, destination) (default 1000)', apply: (c, v) => { c.resumeMaxMessages = int('RESUME_MAX_MESSAGES', v, 1, 1_000_000); } },
  { name: 'RESUME_PARTITIONS', help: 'history streams (RabbitMQ) the users are spread over (default 4)', apply: (c, v) => { c.resumePartitions = int('RESUME_PARTITIONS', v, 1, 64); } },
  { name: 'USER_ROUTE_WAIT_MS', help: 'how long a push to an online user that reached no route is retried before it is answered 503 NOT_DELIVERED (default 2000)', apply: (c, v) => { c.userRouteWaitMs = int('USER_ROUTE_WAIT_MS', v, 0); } },
  { name: 'BROKER_HEARTBEAT_MS', help: 'heart-beat interval on broker connections; a link silent for 2 intervals is reopened (default 5000, 0 = off)', apply: (c, v) => { c.brokerHeartbeatMs = int('BROKER_HEARTBEAT_MS', v, 0); } },
  { name: 'AUTH_MODE', help: 'dev, jwt or broker (CONNECT login/passcode checked against RabbitMQ); default jwt with AUTH_JWT_SECRET, else dev', apply: (c, v) => { c.authMode = v.trim() as AuthMode; } },
  { name: 'AUTH_JWT_SECRET', help: 'HS256 secret for JWTs (sessions in jwt mode, and the push API); unset = dev mode (no auth)', apply: (c, v) => { c.authJwtSecret = v || undefined; } },
  { name: 'AUTH_JWT_REQUIRE_EXP', help: 'refuse JWTs without an exp claim, for sessions and pushes (default true)', apply: (c, v) => { c.authJwtRequireExp = bool('AUTH_JWT_REQUIRE_EXP', v); } },
  { name: 'AUTH_JWKS_URL', help: 'http(s) URL of a JWKS whose keys check RS256/PS256/ES256/EdDSA JWTs (sessions and the push API); with it AUTH_MODE defaults to jwt', apply: (c, v) => { c.authJwksUrl = v; } },
  { name: 'AUTH_JWKS_REFRESH_MS', help: 'least time between two JWKS fetches; an unknown kid triggers one (default 30000)', apply: (c, v) => { c.authJwksRefreshMs = int('AUTH_JWKS_REFRESH_MS', v, 0); } },
  { name: 'AUTH_JWT_ISSUER', help: 'the iss every JWT must carry (unset: not checked)', apply: (c, v) => { c.authJwtIssuer = v; } },
  { name: 'AUTH_JWT_AUDIENCE', help: 'comma-separated audiences; a JWT\'s aud must name one (unset: not checked)', apply: (c, v) => { c.authJwtAudience = list(v); } },
  { name: 'ACL_FILE', help: 'JSON or YAML rules saying who may SUBSCRIBE and SEND where (docs/operations.md#authorization-acl_file); unset = no rules', apply: (c, v) => { c.aclFile = v; } },
  { name: 'MAX_FRAME_BYTES', help: 'largest STOMP frame (default 1048576)', apply: (c, v) => { c.limits.maxFrameBytes = int('MAX_FRAME_BYTES', v, 256); } },
  { name: 'MAX_HEADERS', help: 'most headers per frame (default 64)', apply: (c, v) => { c.limits.maxHeaders = int('MAX_HEADERS', v, 4); } },
  { name: 'MAX_HEADER_LINE_BYTES', help: 'longest header line (default 8192)', apply: (c, v) => { c.limits.maxHeaderLineBytes = int('MAX_HEADER_LINE_BYTES', v, 64); } },
  { name: 'MAX_SUBSCRIPTIONS', help: 'subscriptions per session (default 256)', apply: (c, v) => { c.limits.maxSubscriptionsPerSession = int('MAX_SUBSCRIPTIONS', v, 1); } },
  { name: 'MAX_WS_MESSAGE_BYTES', help: 'largest WebSocket message, which may hold several frames (default 4194304, or MAX_FRAME_BYTES + 65536 if more)', apply: (c, v) => { c.limits.maxWsMessageBytes = int('MAX_WS_MESSAGE_BYTES', v, 1024); } },
  { name: 'MAX_BUFFERED_BYTES', help: 'outbound bytes queued per session before it is closed as a slow consumer (default 4194304)', apply: (c, v) => { c.limits.maxBufferedBytes = int('MAX_BUFFERED_BYTES', v, 1024); } },
  { name: 'HEARTBEAT_SEND_MS', help: 'server heart-beat interval offered to clients (default 10000, 0 = off)', apply: (c, v) => { c.heartbeat.sendMs = int('HEARTBEAT_SEND_MS', v, 0); } },
  { name: 'HEARTBEAT_RECEIVE_MS', help: 'client heart-beat interval the server asks for (default 10000, 0 = off)', apply: (c, v) => { c.heartbeat.receiveMs = int('HEARTBEAT_RECEIVE_MS', v, 0); } },
  { name: 'HEARTBEAT_MIN_MS', help: 'finest heart-beat interval a client may ask for; finer requests than the two above are honoured down to it (default 1000)', apply: (c, v) => { c.heartbeat.minMs = int('HEARTBEAT_MIN_MS', v, 1); } },
  { name: 'RELAY_PREFIXES', help: 'comma-separated destination prefixes relayed to the broker', apply: (c, v) => { c.relayPrefixes = list(v); } },
  { name: 'ALLOWED_ORIGINS', help: 'comma-separated Origins allowed to connect (default *)', apply: (c, v) => { c.allowedOrigins = list(v); } },
  { name: 'INSTANCE_ID', help: 'name of this instance (default hostname-pid)', apply: (c, v) => { c.instanceId = v; } },
  { name: 'SHUTDOWN_GRACE_MS', help: 'drain time on SIGTERM (default 5000)', apply: (c, v) => { c.shutdownGraceMs = int('SHUTDOWN_GRACE_MS', v, 0); } },
  { name: 'PRESENCE_INTERVAL_MS', help: 'presence snapshot interval; a silent instance is forgotten after 3 (default 5000)', apply: (c, v) => { c.presenceIntervalMs = int('PRESENCE_INTERVAL_MS', v, 100); } },
  { name: 'LOG_LEVEL', help: 'pino level: fatal, error, warn, info, debug, trace, silent (default info)', apply: (c, v) => { c.logLevel = v; } },
];

function cloneDefaults(): RelayConfig {
  return {
    ...DEFAULT_CONFIG,
    limits: { ...DEFAULT_CONFIG.limits },
    heartbeat: { ...DEFAULT_CONFIG.heartbeat },
    relayPrefixes: [...DEFAULT_CONFIG.relayPrefixes],
    allowedOrigins: [...DEFAULT_CONFIG.allowedOrigins],
  };
}

/** Builds a config from environment variables (the CLI's path). Throws RelayError INVALID_CONFIG. */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): RelayConfig {
  const config = cloneDefaults();
  for (const v of ENV_VARS) {
    const value = env[v.name];
    if (value !== undefined && value !== '') v.apply(config, value);
  }
  if (!env.MAX_WS_MESSAGE_BYTES) config.limits.maxWsMessageBytes = defaultWsMessageBytes(config.limits.maxFrameBytes);
  return validateConfig(config);
}

/** Builds a config from library options over the defaults. Throws RelayError INVALID_CONFIG. */
export function resolveConfig(options: RelayOptions = {}): RelayConfig {
  const base = cloneDefaults();
  const config: RelayConfig = {
    ...base,
    ...stripUndefined(options),
    limits: { ...base.limits, ...stripUndefined(options.limits ?? {}) },
    heartbeat: { ...base.heartbeat, ...stripUndefined(options.heartbeat ?? {}) },
  } as RelayConfig;
  if (options.limits?.maxWsMessageBytes === undefined) config.limits.maxWsMessageBytes = defaultWsMessageBytes(config.limits.maxFrameBytes);
  return validateConfig(config);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Checks every field and freezes the result. */
export function validateConfig(config: RelayConfig): RelayConfig {
  const fail = (msg: string): never => { throw relayError(Errors.INVALID_CONFIG, msg); };
  if (!Number.isInteger(config.port) || config.port < 0 || config.port > 65535) fail(`port must be 0-65535, got ${config.port}`);
  if (config.adminPort !== undefined) {
    if (!Number.isInteger(config.adminPort) || config.adminPort < 0 || config.adminPort > 65535) fail(`adminPort must be 0-65535, got ${config.adminPort}`);
    // Port 0 means "any free port" for both, so only a fixed port can clash.
    if (config.adminPort !== 0 && config.adminPort === config.port) fail(`ADMIN_PORT must differ from PORT (both ${config.port}); unset it to serve everything on PORT`);
  }
  if (!Number.isInteger(config.pushMaxUsers) || config.pushMaxUsers < 1) fail(`pushMaxUsers must be a whole number ≥ 1, got ${config.pushMaxUsers}`);
  validateBrokerUrls(config.brokerUrl, config.brokerAmqpUrl);
  if (!Number.isInteger(config.routeQueueTtlMs) || config.routeQueueTtlMs < 1000) fail('routeQueueTtlMs must be a whole number ≥ 1000');
  if (!Number.isInteger(config.userRouteWaitMs) || config.userRouteWaitMs < 0) fail('userRouteWaitMs must be a whole number ≥ 0');
  if (!Number.isInteger(config.resumeWindowMs) || config.resumeWindowMs < 0) fail('resumeWindowMs must be a whole number ≥ 0');
  if (!Number.isInteger(config.resumeMaxMessages) || config.resumeMaxMessages < 1 || config.resumeMaxMessages > 1_000_000) fail('resumeMaxMessages must be a whole number 1-1000000');
  if (!Number.isInteger(config.resumePartitions) || config.resumePartitions < 1 || config.resumePartitions > 64) fail('resumePartitions must be a whole number 1-64');
  if (!Number.isInteger(config.brokerPoolSize) || config.brokerPoolSize < 1) fail('brokerPoolSize must be a whole number ≥ 1');
  if (!Number.isInteger(config.brokerHeartbeatMs) || config.brokerHeartbeatMs < 0) fail(`brokerHeartbeatMs must be a whole number ≥ 0, got ${config.brokerHeartbeatMs}`);
  if (!Number.isInteger(config.brokerExclusiveConnections) || config.brokerExclusiveConnections < 0) fail('brokerExclusiveConnections must be a whole number ≥ 0');
  for (const [k, v] of Object.entries(config.limits)) {
    if (!Number.isInteger(v) || v < 1) fail(`limits.${k} must be a whole number ≥ 1, got ${v}`);
  }
  if (config.limits.maxHeaderLineBytes > config.limits.maxFrameBytes) fail('limits.maxHeaderLineBytes cannot exceed limits.maxFrameBytes');
  const hb = config.heartbeat;
  if (!(hb.sendMs >= 0) || !(hb.receiveMs >= 0)) fail('heart-beat intervals must be ≥ 0');
  if (!(hb.graceFactor >= 1)) fail('heartbeat.graceFactor must be ≥ 1');
  if (!Number.isInteger(hb.minMs) || hb.minMs < 1) fail(`heartbeat.minMs must be a whole number ≥ 1, got ${hb.minMs}`);
  for (const p of [...config.relayPrefixes, config.appPrefix, config.userPrefix]) {
    if (!p.startsWith('/') || !p.endsWith('/')) fail(`destination prefix "${p}" must start and end with "/"`);
  }
  const userInner = config.relayPrefixes.filter((p) => p !== '/temp-queue/' && p !== '/reply-queue/');
  if (typeof config.appErrorDestination !== 'string' || !userInner.some((p) => config.appErrorDestination.length > p.length && config.appErrorDestination.startsWith(p))) {
    fail(`appErrorDestination must be under one of ${userInner.join(', ')} (it is read inside ${config.userPrefix}), got "${String(config.appErrorDestination)}"`);
  }
  if (config.allowedOrigins.length === 0) fail('allowedOrigins cannot be empty (use * to allow any)');
  if (!config.instanceId || /[\s]/.test(config.instanceId)) fail('instanceId must be a non-empty word without spaces');
  if (!Number.isInteger(config.presenceIntervalMs) || config.presenceIntervalMs < 100) fail('presenceIntervalMs must be a whole number ≥ 100');
  if (!LOG_LEVELS.includes(config.logLevel)) fail(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${config.logLevel}"`);
  if (config.authJwtSecret !== undefined && config.authJwtSecret.length < 16) fail('AUTH_JWT_SECRET must be at least 16 characters');
  if (typeof config.authJwtRequireExp !== 'boolean') fail(`authJwtRequireExp must be true or false, got ${String(config.authJwtRequireExp)}`);
  if (config.authJwksUrl !== undefined) {
    let url: URL | undefined;
    try { url = new URL(config.authJwksUrl); } catch { url = undefined; }
    if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')) fail(`AUTH_JWKS_URL must be an http(s) URL, got "${config.authJwksUrl}"`);
  }
  if (!Number.isInteger(config.authJwksRefreshMs) || config.authJwksRefreshMs < 0) fail('authJwksRefreshMs must be a whole number ≥ 0');
  if (config.authJwtAudience !== undefined && (!Array.isArray(config.authJwtAudience) || config.authJwtAudience.length === 0)) {
    fail('AUTH_JWT_AUDIENCE must list at least one audience');
  }
  const hasJwtKeys = config.authJwtSecret !== undefined || config.authJwksUrl !== undefined;
  const authMode = config.authMode ?? (hasJwtKeys ? 'jwt' : 'dev');
  if (!AUTH_MODES.includes(authMode)) fail(`AUTH_MODE must be one of ${AUTH_MODES.join(', ')}, got "${String(authMode)}"`);
  if (authMode === 'jwt' && !hasJwtKeys) fail('AUTH_MODE=jwt needs AUTH_JWT_SECRET (the HS256 secret the tokens are signed with) or AUTH_JWKS_URL (the keys of RS256, ES256, EdDSA... tokens)');
  if (authMode === 'broker' && config.brokerUrl === undefined) {
    fail('AUTH_MODE=broker needs BROKER_URL: the RabbitMQ node whose users sign in (the embedded broker has no users)');
  }
  config.authMode = authMode;
  Object.freeze(config.limits);
  Object.freeze(config.heartbeat);
  Object.freeze(config.relayPrefixes);
  Object.freeze(config.allowedOrigins);
  if (config.authJwtAudience !== undefined) Object.freeze(config.authJwtAudience);
  return Object.freeze(config);
}

/** One RabbitMQ STOMP listener, as parsed from a `BROKER_URL` entry. */
export interface BrokerEndpoint {
  /** Host name or address. */
  host: string;
  /** STOMP port (default 61613). */
  port: number;
  /** STOMP `login` (default guest). */
  login: string;
  /** STOMP `passcode` (default guest). */
  passcode: string;
  /** STOMP `host` header: RabbitMQ's virtual host. */
  vhost: string;
}

/** Where RabbitMQ's AMQP 0-9-1 listener is (the relay binds user and topic routes over it). */
export interface AmqpEndpoint {
  /** Host name or address. */
  host: string;
  /** AMQP port (default 5672). */
  port: number;
  /** AMQP user. */
  username: string;
  /** AMQP password. */
  password: string;
  /** RabbitMQ virtual host. */
  vhost: string;
}

/**
 * Parses `stomp://user:pass@host:port/vhost` (vhost `/` when the path is empty, `/` or `/%2F`;
 * user and passcode guest, port 61613 when absent). One URL only: a comma separates the entries of
 * a list (see {@link parseBrokerUrls}); write a comma inside a vhost or credential as `%2C`.
 */
export function parseBrokerUrl(url: string): BrokerEndpoint {
  const endpoints = parseBrokerUrls(url);
  if (endpoints.length !== 1) throw relayError(Errors.INVALID_CONFIG, `BROKER_URL lists ${endpoints.length} URLs where one is expected`);
  return endpoints[0];
}

/**
 * Parses BROKER_URL: one `stomp://` URL, or a comma-separated list of the nodes of one RabbitMQ
 * cluster. Every entry is checked (a message names the bad one, its password hidden), no node may
 * appear twice, and all entries must share login, passcode and vhost: the nodes of one cluster
 * share users and virtual hosts, so a difference can only be a mistake.
 */
export function parseBrokerUrls(value: string): BrokerEndpoint[] {
  return parseUrlList('BROKER_URL', 'stomp:', 61613, value).map((u) => ({
    host: u.host, port: u.port, login: u.username, passcode: u.password, vhost: u.vhost,
  }));
}

/**
 * Parses BROKER_AMQP_URL: one `amqp://user:pass@host:5672/vhost` URL or a comma-separated list of
 * cluster nodes, with the same rules as {@link parseBrokerUrls} (port 5672 when absent).
 */
export function parseAmqpUrls(value: string): AmqpEndpoint[] {
  return parseUrlList('BROKER_AMQP_URL', 'amqp:', 5672, value);
}

/** The default AMQP endpoints for BROKER_URL's nodes: same hosts, credentials and vhost, port 5672. */
export function deriveAmqpEndpoints(stomp: readonly BrokerEndpoint[]): AmqpEndpoint[] {
  return stomp.map((e) => ({ host: e.host, port: 5672, username: e.login, password: e.passcode, vhost: e.vhost }));
}

/**
 * Where the relay's AMQP connections go: BROKER_AMQP_URL's nodes, else those derived from
 * BROKER_URL; undefined with the embedded broker. For a config that passed validation (`resolveConfig`, `configFromEnv`).
 */
export function brokerAmqpEndpoints(config: Pick<RelayConfig, 'brokerUrl' | 'brokerAmqpUrl'>): AmqpEndpoint[] | undefined {
  if (config.brokerAmqpUrl !== undefined) return parseAmqpUrls(config.brokerAmqpUrl);
  if (config.brokerUrl === undefined) return undefined;
  return deriveAmqpEndpoints(parseBrokerUrls(config.brokerUrl));
}

/** BROKER_URL and BROKER_AMQP_URL together: both lists valid, one vhost for both. */
function validateBrokerUrls(brokerUrl: string | undefined, brokerAmqpUrl: string | undefined): void {
  const stomp = brokerUrl === undefined ? undefined : parseBrokerUrls(brokerUrl);
  if (brokerAmqpUrl === undefined) return;
  const amqp = parseAmqpUrls(brokerAmqpUrl);
  if (stomp === undefined) {
    throw relayError(Errors.INVALID_CONFIG, 'BROKER_AMQP_URL is set but BROKER_URL is not (the embedded broker needs neither)');
  }
  if (amqp[0].vhost !== stomp[0].vhost) {
    throw relayError(Errors.INVALID_CONFIG, `BROKER_AMQP_URL's vhost "${amqp[0].vhost}" differs from BROKER_URL's "${stomp[0].vhost}": the relay uses one virtual host for both`);
  }
}

/** Parses a comma-separated list of `protocol` URLs; entries in AMQP's field names (parseBrokerUrls renames them). */
function parseUrlList(name: string, protocol: 'stomp:' | 'amqp:', defaultPort: number, value: string): AmqpEndpoint[] {
  const [userWord, passwordWord] = protocol === 'stomp:' ? ['login', 'passcode'] : ['user', 'password'];
  const entries = value.split(',').map((e) => e.trim());
  if (entries.length === 1 && entries[0] === '') throw relayError(Errors.INVALID_CONFIG, `${name} lists no URL`);
  const label = (i: number): string => entries.length === 1 ? name : `${name} entry ${i + 1} of ${entries.length} (${redact(entries[i])})`;
  const out: AmqpEndpoint[] = [];
  entries.forEach((entry, i) => {
    if (entry === '') throw relayError(Errors.INVALID_CONFIG, `${name} entry ${i + 1} of ${entries.length} is empty (a stray comma?)`);
    const problem = (reason: string): never => {
      throw relayError(Errors.INVALID_CONFIG, entries.length === 1 ? `${name} ${reason}` : `${label(i)}: ${reason}`);
    };
    const endpoint = parseUrl(entry, protocol, defaultPort, problem);
    const first = out[0];
    if (first !== undefined) {
      const sharedBy = 'the nodes of one cluster share users and virtual hosts';
      if (endpoint.vhost !== first.vhost) problem(`vhost "${endpoint.vhost}" differs from entry 1's "${first.vhost}" (${sharedBy})`);
      if (endpoint.username !== first.username) problem(`${userWord} "${endpoint.username}" differs from entry 1's "${first.username}" (${sharedBy})`);
      if (endpoint.password !== first.password) problem(`${passwordWord} differs from entry 1's (${sharedBy})`);
      const twin = out.findIndex((e) => e.host === endpoint.host && e.port === endpoint.port);
      if (twin >= 0) problem(`repeats ${endpoint.host}:${endpoint.port} (entry ${twin + 1})`);
    }
    out.push(endpoint);
  });
  return out;
}

/** Reasons read after the variable's name: "BROKER_URL must start with stomp://". */
function parseUrl(url: string, protocol: string, defaultPort: number, problem: (reason: string) => never): AmqpEndpoint {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return problem(`is not a URL: "${redact(url)}"`);
  }
  if (u.protocol !== protocol) problem(`must start with ${protocol}//, got "${u.protocol}//"`);
  if (!u.hostname) problem('has no host');
  if (u.search !== '' || u.hash !== '') problem(`has a query or fragment ("${u.search}${u.hash}") the relay does not read`);
  const decode = (part: string, what: string): string => {
    try {
      return decodeURIComponent(part);
    } catch {
      return problem(`has a malformed percent-escape in its ${what}`);
    }
  };
  const path = decode(u.pathname.replace(/^\//, ''), 'vhost');
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : defaultPort,
    username: decode(u.username, 'user name') || 'guest',
    password: decode(u.password, 'password') || 'guest',
    vhost: path === '' ? '/' : path,
  };
}

/** A URL as it may appear in a message: the password replaced by `***`. */
function redact(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*):[^@/]*@/i, '$1:***@');
}

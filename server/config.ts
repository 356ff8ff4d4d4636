/**
 * Relay configuration: one typed object, built from defaults, then environment variables (CLI) or
 * options (library), validated once at start with readable messages, then frozen.
 */
import { isDigits } from './codec/digits';
import { DEFAULT_PARSER_LIMITS, type ParserLimits } from './codec/frame';
import { Errors, isRelayError, relayError } from './errors';
import { BROKER_DESTINATION_PREFIXES } from './broker/destinations';
import { userDestinationPrefixes } from './user/user-destinations';

/**
 * Per-session bounds: frame and header sizes (from the codec), subscriptions, buffered bytes, transactions, WebSocket messages. Breaking
 * one ends the session with a coded ERROR (docs/protocol.md).
 */
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
  /** A peer silent for the negotiated receive interval × `graceFactor` is closed (HEARTBEAT_TIMEOUT). */
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

/**
 * The relay's whole configuration, resolved and frozen ({@link Relay.config}). Each field has its environment variable (`ENV_VARS`, `stomp-
 * relay --help`, docs/operations.md).
 */
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
   * How sessions authenticate. Unset: `jwt` when {@link authJwtSecret} or {@link authJwksUrl} is set, else `dev` (after
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

/** Where a setting lives in {@link RelayConfig}: a field, or one of `limits` or `heartbeat`. */
type OptionPath =
  Exclude<keyof RelayConfig, 'limits' | 'heartbeat'> | `limits.${keyof SessionLimits}` | `heartbeat.${keyof HeartbeatConfig}`;

/** How a setting's value is read from the environment and checked, from either source. */
type SettingType =
  | { readonly type: 'int'; readonly min: number; readonly max?: number }
  | { readonly type: 'number'; readonly min: number }
  | { readonly type: 'bool' }
  | { readonly type: 'text' }
  | { readonly type: 'choice'; readonly choices: readonly string[] }
  | { readonly type: 'list' };

/** One row of {@link SETTINGS}. */
type Setting = SettingType & {
  /** The library option (RelayOptions): where the value lives in RelayConfig. */
  readonly option: OptionPath;
  /** The environment variable the CLI reads; none for library-only settings. */
  readonly env?: string;
  /** What it is, for `--help`; the default is appended from {@link default}. */
  readonly help?: string;
  /** The default value; undefined = unset. */
  readonly default: unknown;
  /** `--help`'s words for the default when the value does not say it (`hostname-pid`). */
  readonly shownDefault?: string;
  /** Said after the default in `--help` (`0 = off`). */
  readonly note?: string;
  /** A further check of a set value; returns the problem, read after the setting's name. */
  readonly check?: (value: never) => string | undefined;
};

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const PORT = { type: 'int', min: 0, max: 65535 } as const;
const prefixCheck = (p: string): string | undefined =>
  p.startsWith('/') && p.endsWith('/') ? undefined : `must start and end with "/", got "${p}"`;

/**
 * Every setting of the relay, once: its library option, environment variable, default, bounds and
 * `--help` text. {@link DEFAULT_CONFIG}, {@link ENV_VARS} (and so `--help`), {@link configFromEnv},
 * {@link resolveConfig} and {@link validateConfig} are all generated from it, so a value from the
 * environment and the same value as a library option are read and bounded alike.
 * docs/operations.md mirrors the environment rows (a test checks every one is there).
 */
const SETTINGS: readonly Setting[] = [
  { option: 'port', env: 'PORT', help: 'HTTP port', default: 8080, ...PORT },
  { option: 'host', env: 'HOST', help: 'address to listen on', default: '0.0.0.0', type: 'text' },
  {
    option: 'adminPort',
    env: 'ADMIN_PORT',
    help: 'second HTTP port for /push*, /publish, /users*, /metrics, /openapi.json, which PORT then no longer serves; unset = all on PORT',
    default: undefined,
    ...PORT,
  },
  {
    option: 'adminHost',
    env: 'ADMIN_HOST',
    help: 'address the admin port listens on',
    default: undefined,
    shownDefault: 'HOST',
    type: 'text',
  },
  {
    option: 'pushMaxUsers',
    env: 'PUSH_MAX_USERS',
    help: 'most users one POST /push may name',
    default: 1000,
    type: 'int',
    min: 1,
    max: 100_000,
  },
  {
    option: 'brokerUrl',
    env: 'BROKER_URL',
    help: 'stomp://user:pass@host:61613/vhost of RabbitMQ, or a comma-separated list of the nodes of one cluster; unset = embedded broker',
    default: undefined,
    type: 'text',
  },
  {
    option: 'brokerAmqpUrl',
    env: 'BROKER_AMQP_URL',
    help: "amqp://user:pass@host:5672/vhost (or a comma-separated list of nodes) for AMQP 0-9-1; default: BROKER_URL's hosts, credentials and vhost, port 5672",
    default: undefined,
    type: 'text',
  },
  { option: 'brokerPoolSize', env: 'BROKER_POOL_SIZE', help: 'broker connections per instance', default: 4, type: 'int', min: 1, max: 64 },
  {
    option: 'brokerExclusiveConnections',
    env: 'BROKER_EXCLUSIVE_CONNECTIONS',
    help: 'sessions per instance that may hold exclusive queues, one broker connection each',
    default: 100,
    note: '0 = refuse them',
    type: 'int',
    min: 0,
    max: 100_000,
  },
  {
    option: 'routeQueueTtlMs',
    env: 'ROUTE_QUEUE_TTL_MS',
    help: "how long an instance's route queue outlives it on RabbitMQ",
    default: 30_000,
    type: 'int',
    min: 1000,
  },
  {
    option: 'userRouteWaitMs',
    env: 'USER_ROUTE_WAIT_MS',
    help: 'how long a push to an online user that reached no route is retried before it is answered 503 NOT_DELIVERED',
    default: 2_000,
    type: 'int',
    min: 0,
  },
  {
    option: 'brokerHeartbeatMs',
    env: 'BROKER_HEARTBEAT_MS',
    help: 'heart-beat interval on broker connections; a link silent for 2 intervals is reopened',
    default: 5_000,
    note: '0 = off',
    type: 'int',
    min: 0,
  },
  {
    option: 'resumeWindowMs',
    env: 'RESUME_WINDOW_MS',
    help: 'how long user-destination history is kept for resume-from',
    default: 120_000,
    note: '0 = off',
    type: 'int',
    min: 0,
  },
  {
    option: 'resumeMaxMessages',
    env: 'RESUME_MAX_MESSAGES',
    help: 'most messages kept and replayed per (user, destination)',
    default: 1000,
    type: 'int',
    min: 1,
    max: 1_000_000,
  },
  {
    option: 'resumePartitions',
    env: 'RESUME_PARTITIONS',
    help: 'history streams (RabbitMQ) the users are spread over',
    default: 4,
    type: 'int',
    min: 1,
    max: 64,
  },
  {
    option: 'authMode',
    env: 'AUTH_MODE',
    help: 'dev, jwt or broker (CONNECT login/passcode checked against RabbitMQ); default jwt with AUTH_JWT_SECRET, else dev',
    default: undefined,
    type: 'choice',
    choices: AUTH_MODES,
  },
  {
    option: 'authJwtSecret',
    env: 'AUTH_JWT_SECRET',
    help: 'HS256 secret for JWTs (sessions in jwt mode, and the push API); unset = dev mode (no auth)',
    default: undefined,
    type: 'text',
    check: (secret: string) => (secret.length < 16 ? 'must be at least 16 characters' : undefined),
  },
  {
    option: 'authJwtRequireExp',
    env: 'AUTH_JWT_REQUIRE_EXP',
    help: 'refuse JWTs without an exp claim, for sessions and pushes',
    default: true,
    type: 'bool',
  },
  {
    option: 'authJwksUrl',
    env: 'AUTH_JWKS_URL',
    help: 'http(s) URL of a JWKS whose keys check RS256/PS256/ES256/EdDSA JWTs (sessions and the push API); with it AUTH_MODE defaults to jwt',
    default: undefined,
    type: 'text',
    check: (url: string) => (isHttpUrl(url) ? undefined : `must be an http(s) URL, got "${url}"`),
  },
  {
    option: 'authJwksRefreshMs',
    env: 'AUTH_JWKS_REFRESH_MS',
    help: 'least time between two JWKS fetches; an unknown kid triggers one',
    default: 30_000,
    type: 'int',
    min: 0,
  },
  {
    option: 'authJwtIssuer',
    env: 'AUTH_JWT_ISSUER',
    help: 'the iss every JWT must carry (unset: not checked)',
    default: undefined,
    type: 'text',
  },
  {
    option: 'authJwtAudience',
    env: 'AUTH_JWT_AUDIENCE',
    help: "comma-separated audiences; a JWT's aud must name one (unset: not checked)",
    default: undefined,
    type: 'list',
    check: (audiences: string[]) => (audiences.length === 0 ? 'must list at least one audience' : undefined),
  },
  {
    option: 'aclFile',
    env: 'ACL_FILE',
    help: 'JSON or YAML rules saying who may SUBSCRIBE and SEND where (docs/operations.md#authorization-acl_file); unset = no rules',
    default: undefined,
    type: 'text',
  },
  {
    option: 'limits.maxFrameBytes',
    env: 'MAX_FRAME_BYTES',
    help: 'largest STOMP frame',
    default: DEFAULT_PARSER_LIMITS.maxFrameBytes,
    type: 'int',
    min: 256,
  },
  {
    option: 'limits.maxHeaders',
    env: 'MAX_HEADERS',
    help: 'most headers per frame',
    default: DEFAULT_PARSER_LIMITS.maxHeaders,
    type: 'int',
    min: 4,
  },
  {
    option: 'limits.maxHeaderLineBytes',
    env: 'MAX_HEADER_LINE_BYTES',
    help: 'longest header line',
    default: DEFAULT_PARSER_LIMITS.maxHeaderLineBytes,
    type: 'int',
    min: 64,
  },
  {
    option: 'limits.maxSubscriptionsPerSession',
    env: 'MAX_SUBSCRIPTIONS',
    help: 'subscriptions per session',
    default: 256,
    type: 'int',
    min: 1,
  },
  {
    option: 'limits.maxWsMessageBytes',
    env: 'MAX_WS_MESSAGE_BYTES',
    help: 'largest WebSocket message, which may hold several frames',
    default: defaultWsMessageBytes(DEFAULT_PARSER_LIMITS.maxFrameBytes),
    note: 'or MAX_FRAME_BYTES + 65536 if more',
    type: 'int',
    min: 1024,
  },
  {
    option: 'limits.maxBufferedBytes',
    env: 'MAX_BUFFERED_BYTES',
    help: 'outbound bytes queued per session before it is closed as a slow consumer',
    default: 4 * 1024 * 1024,
    type: 'int',
    min: 1024,
  },
  { option: 'limits.maxTransactionsPerSession', default: 16, type: 'int', min: 1 },
  { option: 'limits.maxTransactionFrames', default: 1024, type: 'int', min: 1 },
  {
    option: 'heartbeat.sendMs',
    env: 'HEARTBEAT_SEND_MS',
    help: 'server heart-beat interval offered to clients',
    default: 10_000,
    note: '0 = off',
    type: 'int',
    min: 0,
  },
  {
    option: 'heartbeat.receiveMs',
    env: 'HEARTBEAT_RECEIVE_MS',
    help: 'client heart-beat interval the server asks for',
    default: 10_000,
    note: '0 = off',
    type: 'int',
    min: 0,
  },
  {
    option: 'heartbeat.minMs',
    env: 'HEARTBEAT_MIN_MS',
    help: 'finest heart-beat interval a client may ask for; finer requests than the two above are honoured down to it',
    default: 1_000,
    type: 'int',
    min: 1,
  },
  { option: 'heartbeat.graceFactor', default: 2, type: 'number', min: 1 },
  {
    // `/temp-queue/` enables `reply-to: /temp-queue/<name>` on SEND (server/session/temp-queues.ts);
    // `/reply-queue/` lets clients answer such requests.
    option: 'relayPrefixes',
    env: 'RELAY_PREFIXES',
    help: 'comma-separated destination prefixes relayed to the broker',
    default: BROKER_DESTINATION_PREFIXES,
    type: 'list',
    check: (prefixes: string[]) => prefixes.map(prefixCheck).find((p) => p !== undefined),
  },
  { option: 'appPrefix', default: '/app/', type: 'text', check: prefixCheck },
  { option: 'userPrefix', default: '/user/', type: 'text', check: prefixCheck },
  { option: 'appErrorDestination', default: '/queue/errors', type: 'text' },
  {
    option: 'allowedOrigins',
    env: 'ALLOWED_ORIGINS',
    help: 'comma-separated Origins allowed to connect',
    default: ['*'],
    type: 'list',
    check: (origins: string[]) => (origins.length === 0 ? 'cannot be empty (use * to allow any)' : undefined),
  },
  {
    option: 'instanceId',
    env: 'INSTANCE_ID',
    help: 'name of this instance',
    default: `${require('node:os').hostname()}-${process.pid}`,
    shownDefault: 'hostname-pid',
    type: 'text',
    check: (id: string) => (id === '' || /[\s]/.test(id) ? 'must be a non-empty word without spaces' : undefined),
  },
  { option: 'shutdownGraceMs', env: 'SHUTDOWN_GRACE_MS', help: 'drain time on SIGTERM', default: 5_000, type: 'int', min: 0 },
  {
    option: 'presenceIntervalMs',
    env: 'PRESENCE_INTERVAL_MS',
    help: 'presence snapshot interval; a silent instance is forgotten after 3',
    default: 5_000,
    type: 'int',
    min: 100,
  },
  {
    option: 'logLevel',
    env: 'LOG_LEVEL',
    help: `pino level: ${LOG_LEVELS.join(', ')}`,
    default: 'info',
    type: 'choice',
    choices: LOG_LEVELS,
  },
];

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}

/** Reads a setting's value at `path` of a config (or an options object). */
function valueAt(config: object, path: OptionPath): unknown {
  const dot = path.indexOf('.');
  const holder = (dot < 0 ? config : (config as Record<string, unknown>)[path.slice(0, dot)]) as Record<string, unknown> | undefined;
  return holder?.[dot < 0 ? path : path.slice(dot + 1)];
}

function setValueAt(config: RelayConfig, path: OptionPath, value: unknown): void {
  const dot = path.indexOf('.');
  const holder = (dot < 0 ? config : (config as unknown as Record<string, unknown>)[path.slice(0, dot)]) as Record<string, unknown>;
  holder[dot < 0 ? path : path.slice(dot + 1)] = value;
}

function buildDefaults(): RelayConfig {
  const config = { limits: {}, heartbeat: {} } as RelayConfig;
  for (const s of SETTINGS) setValueAt(config, s.option, Array.isArray(s.default) ? [...s.default] : s.default);
  return config;
}

/** Every setting's default, before environment variables or options (generated from the settings table). */
export const DEFAULT_CONFIG: Readonly<RelayConfig> = (() => {
  const config = buildDefaults();
  Object.freeze(config.limits);
  Object.freeze(config.heartbeat);
  return Object.freeze(config);
})();

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

/** `(default 5000, 0 = off)`, as `--help` shows it. */
function defaultText(s: Setting): string {
  const value =
    s.shownDefault ?? (s.default === undefined ? undefined : Array.isArray(s.default) ? s.default.join(',') : String(s.default));
  const words = [value === undefined ? undefined : `default ${value}`, s.note].filter((w) => w !== undefined);
  return words.length === 0 ? '' : ` (${words.join(', ')})`;
}

/**
 * Reads one environment value into its setting's type, or returns the problem. Bounds are not
 * checked here but by {@link validateConfig}, the same for both sources.
 */
function fromEnv(s: Setting & { env: string }, value: string): { value: unknown } | { problem: string } {
  switch (s.type) {
    case 'int':
    case 'number':
      return isDigits(value.trim()) ? { value: Number(value) } : { problem: `${s.env} must be a whole number, got "${value}"` };
    case 'bool': {
      const v = value.trim().toLowerCase();
      return v === 'true' || v === 'false' ? { value: v === 'true' } : { problem: `${s.env} must be true or false, got "${value}"` };
    }
    case 'choice':
      return { value: value.trim() };
    case 'list':
      return {
        value: value
          .split(',')
          .map((item) => item.trim())
          .filter(Boolean),
      };
    case 'text':
      return { value };
  }
}

/** Every environment variable the CLI reads, generated from the settings table (`SETTINGS`). `--help` prints this table. */
export const ENV_VARS: readonly EnvVar[] = SETTINGS.filter((s): s is Setting & { env: string } => s.env !== undefined).map((s) => ({
  name: s.env,
  help: `${s.help ?? ''}${defaultText(s)}`,
  apply: (config: RelayConfig, value: string) => {
    const read = fromEnv(s, value);
    if ('problem' in read) throw relayError(Errors.INVALID_CONFIG, read.problem);
    setValueAt(config, s.option, read.value);
  },
}));

function cloneDefaults(): RelayConfig {
  return {
    ...DEFAULT_CONFIG,
    limits: { ...DEFAULT_CONFIG.limits },
    heartbeat: { ...DEFAULT_CONFIG.heartbeat },
    relayPrefixes: [...DEFAULT_CONFIG.relayPrefixes],
    allowedOrigins: [...DEFAULT_CONFIG.allowedOrigins],
  };
}

/**
 * Builds a config from environment variables (the CLI's path). Throws RelayError INVALID_CONFIG
 * listing every problem, each under its variable's name.
 */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): RelayConfig {
  const config = cloneDefaults();
  const problems: string[] = [];
  for (const s of SETTINGS) {
    if (s.env === undefined) continue;
    const value = env[s.env];
    if (value === undefined || value === '') continue;
    const read = fromEnv(s as Setting & { env: string }, value);
    if ('problem' in read) problems.push(read.problem);
    else setValueAt(config, s.option, read.value);
  }
  if (!env.MAX_WS_MESSAGE_BYTES) config.limits.maxWsMessageBytes = defaultWsMessageBytes(config.limits.maxFrameBytes);
  return validate(config, 'env', problems);
}

/**
 * Builds a config from library options over the defaults. Throws RelayError INVALID_CONFIG listing
 * every problem, each under its option's name.
 */
export function resolveConfig(options: RelayOptions = {}): RelayConfig {
  const base = cloneDefaults();
  const config: RelayConfig = {
    ...base,
    ...stripUndefined(options),
    limits: { ...base.limits, ...stripUndefined(options.limits ?? {}) },
    heartbeat: { ...base.heartbeat, ...stripUndefined(options.heartbeat ?? {}) },
  } as RelayConfig;
  if (options.limits?.maxWsMessageBytes === undefined) config.limits.maxWsMessageBytes = defaultWsMessageBytes(config.limits.maxFrameBytes);
  return validate(config, 'options', []);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Checks every field (problems named as library options) and freezes the result. */
export function validateConfig(config: RelayConfig): RelayConfig {
  return validate(config, 'options', []);
}

/** The problem with one set value of a setting, read after its name; undefined when it is fine. */
function settingProblem(s: Setting, value: unknown): string | undefined {
  switch (s.type) {
    case 'int': {
      const max = s.max ?? Number.MAX_SAFE_INTEGER;
      if (typeof value !== 'number' || !Number.isInteger(value)) return `must be a whole number, got ${String(value)}`;
      if (value < s.min || value > max) return `must be between ${s.min} and ${max}, got ${value}`;
      break;
    }
    case 'number':
      if (typeof value !== 'number' || !(value >= s.min)) return `must be a number ≥ ${s.min}, got ${String(value)}`;
      break;
    case 'bool':
      if (typeof value !== 'boolean') return `must be true or false, got ${String(value)}`;
      break;
    case 'choice':
      if (typeof value !== 'string' || !s.choices.includes(value)) return `must be one of ${s.choices.join(', ')}, got "${String(value)}"`;
      break;
    case 'text':
      if (typeof value !== 'string') return `must be a string, got ${typeof value}`;
      break;
    case 'list':
      if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) return 'must be a list of strings';
      break;
  }
  return s.check?.(value as never);
}

/**
 * What a problem is reported under: the environment variable on the CLI's path; the option, with
 * its environment variable beside it, for library options (`authJwksUrl (AUTH_JWKS_URL)`).
 */
function nameOf(s: Setting, source: 'env' | 'options'): string {
  if (s.env === undefined) return s.option;
  return source === 'env' ? s.env : `${s.option} (${s.env})`;
}

function validate(config: RelayConfig, source: 'env' | 'options', problems: string[]): RelayConfig {
  const fail = (msg: string): void => {
    problems.push(msg);
  };
  for (const s of SETTINGS) {
    const value = valueAt(config, s.option);
    if (value === undefined) continue; // unset; required settings all have defaults
    const problem = settingProblem(s, value);
    if (problem !== undefined) fail(`${nameOf(s, source)} ${problem}`);
  }
  // Rules between settings.
  if (config.adminPort !== undefined && config.adminPort !== 0 && config.adminPort === config.port) {
    // Port 0 means "any free port" for both, so only a fixed port can clash.
    fail(`ADMIN_PORT must differ from PORT (both ${config.port}); unset it to serve everything on PORT`);
  }
  try {
    validateBrokerUrls(config.brokerUrl, config.brokerAmqpUrl);
  } catch (err) {
    fail(configProblem(err));
  }
  if (config.limits.maxHeaderLineBytes > config.limits.maxFrameBytes) fail('limits.maxHeaderLineBytes cannot exceed limits.maxFrameBytes');
  const userInner = Array.isArray(config.relayPrefixes) ? userDestinationPrefixes(config.relayPrefixes) : [];
  if (
    typeof config.appErrorDestination !== 'string' ||
    !userInner.some((p) => config.appErrorDestination.length > p.length && config.appErrorDestination.startsWith(p))
  ) {
    fail(
      `appErrorDestination must be under one of ${userInner.join(', ')} (it is read inside ${config.userPrefix}), got "${String(config.appErrorDestination)}"`,
    );
  }
  const hasJwtKeys = config.authJwtSecret !== undefined || config.authJwksUrl !== undefined;
  const authMode = config.authMode ?? (hasJwtKeys ? 'jwt' : 'dev');
  if (authMode === 'jwt' && !hasJwtKeys)
    fail(
      'AUTH_MODE=jwt needs AUTH_JWT_SECRET (the HS256 secret the tokens are signed with) or AUTH_JWKS_URL (the keys of RS256, ES256, EdDSA... tokens)',
    );
  if (authMode === 'broker' && config.brokerUrl === undefined) {
    fail('AUTH_MODE=broker needs BROKER_URL: the RabbitMQ node whose users sign in (the embedded broker has no users)');
  }
  if (problems.length > 0) throw relayError(Errors.INVALID_CONFIG, problems.join('; '));
  config.authMode = authMode;
  Object.freeze(config.limits);
  Object.freeze(config.heartbeat);
  Object.freeze(config.relayPrefixes);
  Object.freeze(config.allowedOrigins);
  if (config.authJwtAudience !== undefined) Object.freeze(config.authJwtAudience);
  return Object.freeze(config);
}

/** An INVALID_CONFIG error's own words, without the catalogue's "invalid configuration: " prefix. */
function configProblem(err: unknown): string {
  if (!isRelayError(err)) throw err;
  const prefix = 'invalid configuration: ';
  return err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
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
    host: u.host,
    port: u.port,
    login: u.username,
    passcode: u.password,
    vhost: u.vhost,
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
    throw relayError(
      Errors.INVALID_CONFIG,
      `BROKER_AMQP_URL's vhost "${amqp[0].vhost}" differs from BROKER_URL's "${stomp[0].vhost}": the relay uses one virtual host for both`,
    );
  }
}

/** Parses a comma-separated list of `protocol` URLs; entries in AMQP's field names (parseBrokerUrls renames them). */
function parseUrlList(name: string, protocol: 'stomp:' | 'amqp:', defaultPort: number, value: string): AmqpEndpoint[] {
  const [userWord, passwordWord] = protocol === 'stomp:' ? ['login', 'passcode'] : ['user', 'password'];
  const entries = value.split(',').map((e) => e.trim());
  if (entries.length === 1 && entries[0] === '') throw relayError(Errors.INVALID_CONFIG, `${name} lists no URL`);
  const label = (i: number): string =>
    entries.length === 1 ? name : `${name} entry ${i + 1} of ${entries.length} (${redact(entries[i])})`;
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
      if (endpoint.username !== first.username)
        problem(`${userWord} "${endpoint.username}" differs from entry 1's "${first.username}" (${sharedBy})`);
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

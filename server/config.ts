/**
 * Relay configuration: one typed object, built from defaults, then environment variables (CLI) or
 * options (library), validated once at start with readable messages, then frozen.
 */
import { DEFAULT_PARSER_LIMITS, type ParserLimits } from './codec/frame';
import { Errors, relayError } from './errors';

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
}

export interface HeartbeatConfig {
  /** Interval (ms) at which the server offers to send heart-beats (`cx` of CONNECTED heart-beat). 0 = never. */
  sendMs: number;
  /** Interval (ms) at which the server wants client heart-beats (`cy`). 0 = never. */
  receiveMs: number;
  /** A peer silent for `receiveInterval * graceFactor` is closed (HEARTBEAT_TIMEOUT). */
  graceFactor: number;
}

export interface RelayConfig {
  /** HTTP port for everything: WebSocket, SockJS, push API, health, metrics, demo. */
  port: number;
  host: string;
  /** `stomp://user:pass@host:61613/vhost`; undefined selects the embedded in-memory broker. */
  brokerUrl: string | undefined;
  /** Most TCP connections to the broker per instance, whatever the number of clients. */
  brokerPoolSize: number;
  /**
   * Most sessions per instance holding exclusive queues (RabbitMQ only): each gets one broker
   * connection of its own for them, outside the pool. 0 refuses exclusive queues.
   */
  brokerExclusiveConnections: number;
  /** HS256 secret; undefined = dev mode (CONNECT `login` names the user, pushes need no token). */
  authJwtSecret: string | undefined;
  limits: SessionLimits;
  heartbeat: HeartbeatConfig;
  /** Destination prefixes relayed to the broker. Anything else (but /app and /user) gets ERROR. */
  relayPrefixes: string[];
  /** Prefix of application destinations handled in-process (Spring's `setApplicationDestinationPrefixes`). */
  appPrefix: string;
  /** Prefix of user destinations (Spring's `setUserDestinationPrefix`). */
  userPrefix: string;
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
  logLevel: string;
}

export const DEFAULT_CONFIG: Readonly<RelayConfig> = Object.freeze({
  port: 8080,
  host: '0.0.0.0',
  brokerUrl: undefined,
  brokerPoolSize: 4,
  brokerExclusiveConnections: 100,
  authJwtSecret: undefined,
  limits: Object.freeze({
    ...DEFAULT_PARSER_LIMITS,
    maxSubscriptionsPerSession: 256,
    maxBufferedBytes: 4 * 1024 * 1024,
    maxTransactionsPerSession: 16,
    maxTransactionFrames: 1024,
  }),
  heartbeat: Object.freeze({ sendMs: 10_000, receiveMs: 10_000, graceFactor: 2 }),
  // `/temp-queue/` enables `reply-to: /temp-queue/<name>` on SEND (server/session/temp-queues.ts);
  // `/reply-queue/` lets clients answer such requests.
  relayPrefixes: ['/topic/', '/queue/', '/exchange/', '/amq/queue/', '/temp-queue/', '/reply-queue/'],
  appPrefix: '/app/',
  userPrefix: '/user/',
  allowedOrigins: ['*'],
  instanceId: `${require('node:os').hostname()}-${process.pid}`,
  shutdownGraceMs: 5_000,
  presenceIntervalMs: 5_000,
  logLevel: 'info',
}) as RelayConfig;

/** Options accepted by the library: any subset of {@link RelayConfig}, limits and heart-beat merged. */
export type RelayOptions = Partial<Omit<RelayConfig, 'limits' | 'heartbeat'>> & {
  limits?: Partial<SessionLimits>;
  heartbeat?: Partial<HeartbeatConfig>;
};

interface EnvVar {
  name: string;
  help: string;
  apply(config: RelayConfig, value: string): void;
}

const int = (name: string, value: string, min: number, max = Number.MAX_SAFE_INTEGER): number => {
  if (!/^\d+$/.test(value.trim())) throw relayError(Errors.INVALID_CONFIG, `${name} must be a whole number, got "${value}"`);
  const n = Number(value);
  if (n < min || n > max) throw relayError(Errors.INVALID_CONFIG, `${name} must be between ${min} and ${max}, got ${n}`);
  return n;
};
const list = (value: string): string[] => value.split(',').map((s) => s.trim()).filter(Boolean);

/** Every environment variable the CLI reads. `--help` prints this table; docs/operations.md mirrors it. */
export const ENV_VARS: readonly EnvVar[] = [
  { name: 'PORT', help: 'HTTP port (default 8080)', apply: (c, v) => { c.port = int('PORT', v, 0, 65535); } },
  { name: 'HOST', help: 'address to listen on (default 0.0.0.0)', apply: (c, v) => { c.host = v; } },
  { name: 'BROKER_URL', help: 'stomp://user:pass@host:61613/vhost of RabbitMQ; unset = embedded broker', apply: (c, v) => { c.brokerUrl = v || undefined; } },
  { name: 'BROKER_POOL_SIZE', help: 'broker connections per instance (default 4)', apply: (c, v) => { c.brokerPoolSize = int('BROKER_POOL_SIZE', v, 1, 64); } },
  { name: 'BROKER_EXCLUSIVE_CONNECTIONS', help: 'sessions per instance that may hold exclusive queues, one broker connection each (default 100, 0 = refuse them)', apply: (c, v) => { c.brokerExclusiveConnections = int('BROKER_EXCLUSIVE_CONNECTIONS', v, 0, 100_000); } },
  { name: 'AUTH_JWT_SECRET', help: 'HS256 secret for JWTs; unset = dev mode (no auth)', apply: (c, v) => { c.authJwtSecret = v || undefined; } },
  { name: 'MAX_FRAME_BYTES', help: 'largest STOMP frame (default 1048576)', apply: (c, v) => { c.limits.maxFrameBytes = int('MAX_FRAME_BYTES', v, 256); } },
  { name: 'MAX_HEADERS', help: 'most headers per frame (default 64)', apply: (c, v) => { c.limits.maxHeaders = int('MAX_HEADERS', v, 4); } },
  { name: 'MAX_HEADER_LINE_BYTES', help: 'longest header line (default 8192)', apply: (c, v) => { c.limits.maxHeaderLineBytes = int('MAX_HEADER_LINE_BYTES', v, 64); } },
  { name: 'MAX_SUBSCRIPTIONS', help: 'subscriptions per session (default 256)', apply: (c, v) => { c.limits.maxSubscriptionsPerSession = int('MAX_SUBSCRIPTIONS', v, 1); } },
  { name: 'MAX_BUFFERED_BYTES', help: 'outbound bytes queued per session before it is closed as a slow consumer (default 4194304)', apply: (c, v) => { c.limits.maxBufferedBytes = int('MAX_BUFFERED_BYTES', v, 1024); } },
  { name: 'HEARTBEAT_SEND_MS', help: 'server heart-beat interval offered to clients (default 10000, 0 = off)', apply: (c, v) => { c.heartbeat.sendMs = int('HEARTBEAT_SEND_MS', v, 0); } },
  { name: 'HEARTBEAT_RECEIVE_MS', help: 'client heart-beat interval the server asks for (default 10000, 0 = off)', apply: (c, v) => { c.heartbeat.receiveMs = int('HEARTBEAT_RECEIVE_MS', v, 0); } },
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
  if (config.brokerUrl !== undefined) parseBrokerUrl(config.brokerUrl);
  if (!Number.isInteger(config.brokerPoolSize) || config.brokerPoolSize < 1) fail('brokerPoolSize must be a whole number ≥ 1');
  if (!Number.isInteger(config.brokerExclusiveConnections) || config.brokerExclusiveConnections < 0) fail('brokerExclusiveConnections must be a whole number ≥ 0');
  for (const [k, v] of Object.entries(config.limits)) {
    if (!Number.isInteger(v) || v < 1) fail(`limits.${k} must be a whole number ≥ 1, got ${v}`);
  }
  if (config.limits.maxHeaderLineBytes > config.limits.maxFrameBytes) fail('limits.maxHeaderLineBytes cannot exceed limits.maxFrameBytes');
  const hb = config.heartbeat;
  if (!(hb.sendMs >= 0) || !(hb.receiveMs >= 0)) fail('heart-beat intervals must be ≥ 0');
  if (!(hb.graceFactor >= 1)) fail('heartbeat.graceFactor must be ≥ 1');
  for (const p of [...config.relayPrefixes, config.appPrefix, config.userPrefix]) {
    if (!p.startsWith('/') || !p.endsWith('/')) fail(`destination prefix "${p}" must start and end with "/"`);
  }
  if (config.allowedOrigins.length === 0) fail('allowedOrigins cannot be empty (use * to allow any)');
  if (!config.instanceId || /[\s]/.test(config.instanceId)) fail('instanceId must be a non-empty word without spaces');
  if (!Number.isInteger(config.presenceIntervalMs) || config.presenceIntervalMs < 100) fail('presenceIntervalMs must be a whole number ≥ 100');
  if (!LOG_LEVELS.includes(config.logLevel)) fail(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${config.logLevel}"`);
  if (config.authJwtSecret !== undefined && config.authJwtSecret.length < 16) fail('AUTH_JWT_SECRET must be at least 16 characters');
  Object.freeze(config.limits);
  Object.freeze(config.heartbeat);
  Object.freeze(config.relayPrefixes);
  Object.freeze(config.allowedOrigins);
  return Object.freeze(config);
}

export interface BrokerEndpoint {
  host: string;
  port: number;
  login: string;
  passcode: string;
  /** STOMP `host` header: RabbitMQ's virtual host. */
  vhost: string;
}

/** Parses `stomp://user:pass@host:port/vhost` (vhost `/` when the path is empty or `/`). */
export function parseBrokerUrl(url: string): BrokerEndpoint {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw relayError(Errors.INVALID_CONFIG, `BROKER_URL is not a URL: "${url}"`);
  }
  if (u.protocol !== 'stomp:') throw relayError(Errors.INVALID_CONFIG, `BROKER_URL must start with stomp://, got "${u.protocol}//"`);
  if (!u.hostname) throw relayError(Errors.INVALID_CONFIG, 'BROKER_URL has no host');
  const path = decodeURIComponent(u.pathname.replace(/^\//, ''));
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : 61613,
    login: decodeURIComponent(u.username) || 'guest',
    passcode: decodeURIComponent(u.password) || 'guest',
    vhost: path === '' ? '/' : path,
  };
}

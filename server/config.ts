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
  brokerAmqpUrl: undefined,
  brokerPoolSize: 4,
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
  { name: 'BROKER_URL', help: 'stomp://user:pass@host:61613/vhost of RabbitMQ, or a comma-separated list of the nodes of one cluster; unset = embedded broker', apply: (c, v) => { c.brokerUrl = v || undefined; } },
  { name: 'BROKER_AMQP_URL', help: 'amqp://user:pass@host:5672/vhost (or a comma-separated list of nodes) for AMQP 0-9-1; default: BROKER_URL\'s hosts, credentials and vhost, port 5672', apply: (c, v) => { c.brokerAmqpUrl = v || undefined; } },
  { name: 'BROKER_POOL_SIZE', help: 'broker connections per instance (default 4)', apply: (c, v) => { c.brokerPoolSize = int('BROKER_POOL_SIZE', v, 1, 64); } },
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
  validateBrokerUrls(config.brokerUrl, config.brokerAmqpUrl);
  if (!Number.isInteger(config.brokerPoolSize) || config.brokerPoolSize < 1) fail('brokerPoolSize must be a whole number ≥ 1');
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

/** One node's AMQP 0-9-1 listener (`amqp://user:pass@host:5672/vhost`). */
export interface AmqpEndpoint {
  host: string;
  port: number;
  username: string;
  password: string;
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
 * BROKER_URL; undefined with the embedded broker. For a config that passed {@link validateConfig}.
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

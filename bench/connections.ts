/**
 * Memory and CPU per idle session: N sessions connected to one server process (or spread over
 * `--instances` relays), each CONNECTED with two subscriptions (`/user/queue/n` and one of 100
 * topics, receipted), then left idle. Reports the servers' RSS before and after, per session, for
 * each path:
 *
 *   - `ws-embedded`, `sockjs-embedded`: one relay, embedded broker, over `/ws` or SockJS's websocket
 *     transport (`/sockjs/<server>/<session>/websocket`, SockJS framing, as sockjs-client uses it);
 *   - `ws-rabbitmq`, `sockjs-rabbitmq`: the same on a private RabbitMQ node (the broker's memory,
 *     queues, connections and channels too; its restart behaviour is bench/scale.ts's);
 *   - `ws-floor`: a plain `ws` server that answers CONNECT and receipts and keeps nothing but the
 *     socket (bench/peers/ws-floor/server.ts): what a socket costs with no protocol at all.
 *
 *     npx tsx bench/connections.ts [--sessions 10000] [--paths ws-embedded,ws-floor,...] [--heartbeat 10000]
 *                                  [--instances 1] [--idle 60000] [--push-sample 1000] [--probe-timeout 60000]
 *                                  [--load-processes auto] [--settle 5000] [--dist] [--relay-root <dir>] [--over-fd-limit]
 *                                  [--relay-node-args=--trace-gc,...] [--node-args=--max-semi-space-size=4,...]
 *                                  [--server-env=MALLOC_ARENA_MAX=2,...]
 *
 * `--instances N` (RabbitMQ paths only) runs N relay processes on the one private RabbitMQ node and
 * spreads the `--sessions` over them (user i on instance i mod N), so the figures show what each
 * instance and the broker hold: broker state is meant to grow with instances, not with users.
 *
 * For every relay the run reports sessions, RSS, heap, open files, and CPU seconds of the connect
 * phase, of the subscribe phase and of `--idle` ms of idle time (heart-beats only); for RabbitMQ its
 * memory, queues, bindings, connections and channels before and after the users, and its CPU. Then
 * it checks that the idle sessions are alive, with deadlines: `POST /push/u<i>` through the first
 * instance to `--push-sample` users spread over the others (over all users with one instance), and
 * one `POST /publish` to each of the 100 topics through the first instance, which must reach every
 * session exactly once.
 *
 * Use `--dist` (after `npm run build`) for figures of what production runs: tsx compiles with
 * esbuild's keepNames, which gives every function its own `name` property (a 256-byte property
 * dictionary per closure), so a relay run from the sources looks several KB per session heavier.
 *
 * Sessions offer `heart-beat: <h>,<h>` as stomp.js does (default 10 s both ways, so the relay runs
 * its heart-beat clocks; 0 = none). They live in load processes (bench/lib/user-load.ts), each on a
 * loopback source address of its own. One process may hold only `ulimit -n` sockets (20 000 here),
 * so one server can take 20 000 less the files it holds at start (26 for a relay on RabbitMQ: node's
 * own 17, stdio, the listener, its broker links) and the few this script opens to it; the script
 * refuses up front a share that does not fit (`--over-fd-limit` lets it try, to find the exact
 * maximum: connections past it are accepted and closed at once by libuv). RSS is read from /proc
 * after `--settle` ms of quiet and the idle time; heap and external memory from the relay's /metrics
 * (no forced GC, so they include garbage not yet collected).
 */
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import { startRabbitNode, type RabbitNode } from '../test/harness/rabbitmq';
import { runConcurrently } from './lib/bounded';
import { Cleanup } from './lib/cleanup';
import { ensureOpenFileLimit, openFileLimit } from './lib/file-limit';
import { environmentBanner, fmt, markdownTable } from './lib/markdown';
import { startPeerProcess } from './lib/peer-process';
import { PushClient } from './lib/push-client';
import { rabbitFootprint, type RabbitFootprint } from './lib/rabbit-footprint';
import { cpuSecondsOfProcessesMatching, freePort, processMallocHeapBytes, processOpenFiles, startRelayProcess } from './lib/relay-process';
import {
  instanceOfUser, pushBody, sampleUsersOffFirstInstance, sourceAddressOf, splitRange, sumPhase, sumStatus, userLogin, usersOfInstance, UserLoadProcess,
  type PhaseResult, type RoundStatus,
} from './lib/user-load';

const PATHS = ['ws-embedded', 'sockjs-embedded', 'ws-rabbitmq', 'sockjs-rabbitmq', 'ws-floor'] as const;
type PathKey = (typeof PATHS)[number];

const { values: args } = parseArgs({
  options: {
    /** Sessions per path, over all instances. */
    sessions: { type: 'string', default: '10000' },
    paths: { type: 'string', default: 'ws-embedded,sockjs-embedded,ws-floor' },
    heartbeat: { type: 'string', default: '10000' },
    /** Relay processes per path on the one RabbitMQ node (RabbitMQ paths only). */
    instances: { type: 'string', default: '1' },
    /** Load processes holding the sessions; default: one per 10 000 sessions. */
    'load-processes': { type: 'string', default: '0' },
    'connect-concurrency': { type: 'string', default: '64' },
    'subscribe-concurrency': { type: 'string', default: '64' },
    /** Quiet time before each RSS reading. */
    settle: { type: 'string', default: '5000' },
    /** Idle time whose CPU is measured (heart-beats only); 0 = none. */
    idle: { type: 'string', default: '60000' },
    /** Users pushed to through the first instance once idle (on the other instances when there are several); 0 = no liveness check. */
    'push-sample': { type: 'string', default: '1000' },
    /** Deadline of each liveness check (pushes answered and delivered; topic messages delivered). */
    'probe-timeout': { type: 'string', default: '60000' },
    'phase-timeout': { type: 'string', default: '600000' },
    dist: { type: 'boolean', default: false },
    /** Run the relays from another source tree (e.g. a `git worktree` of an older commit), for before/after figures. */
    'relay-root': { type: 'string', default: '' },
    /** Connect even when an instance's share does not fit its open-file limit (to find the exact maximum). */
    'over-fd-limit': { type: 'boolean', default: false },
    /**
     * Extra node flags for every relay, comma-separated, given as `--relay-node-args=--trace-gc` (diagnostics; output goes to
     * BENCH_RELAY_LOG_DIR). Not for figures compared with the floor, which runs without them.
     */
    'relay-node-args': { type: 'string', default: '' },
    /**
     * Node flags for every server under test, relays and the floor alike, comma-separated after '='
     * (an operator's option such as `--node-args=--max-semi-space-size=4`, measured as its own row).
     */
    'node-args': { type: 'string', default: '' },
    /**
     * Environment for every server under test, relays and the floor alike, `KEY=VALUE` pairs
     * comma-separated after '=' (an operator's option such as `--server-env=MALLOC_ARENA_MAX=2`,
     * measured as its own row).
     */
    'server-env': { type: 'string', default: '' },
  },
  strict: true,
});

const SESSIONS = whole('sessions', 1);
const HEARTBEAT_MS = whole('heartbeat', 0);
const INSTANCES = whole('instances', 1);
const LOAD_PROCESSES = whole('load-processes', 0) || Math.max(1, Math.ceil(SESSIONS / 10_000));
const SETTLE_MS = whole('settle', 0);
const IDLE_MS = whole('idle', 0);
const PUSH_SAMPLE = whole('push-sample', 0);
const PROBE_TIMEOUT_MS = whole('probe-timeout', 1);
const PHASE_TIMEOUT_MS = whole('phase-timeout', 1);
/** `--node-args`: given to relays and floor alike. */
const SERVER_NODE_ARGS = args['node-args'].split(/[ ,]+/).filter(Boolean);
/** `--server-env`: given to relays and floor alike. */
const SERVER_ENV: Record<string, string> = Object.fromEntries(
  args['server-env'].split(',').filter(Boolean).map((pair) => {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`--server-env: expected KEY=VALUE, got "${pair}"`);
    return [pair.slice(0, at), pair.slice(at + 1)];
  }),
);
const SELECTED = args.paths.split(',').map((p) => p.trim()).filter(Boolean) as PathKey[];
const TOPICS = 100;
/** Pushes and publishes in flight to the first instance during the liveness check (its keep-alive sockets). */
const PROBE_CONCURRENCY = 4;
/**
 * Files a server needs beside its sessions and the files it holds at start: the liveness check's
 * HTTP sockets, one /metrics scrape, one spare (e.g. the broker link's reconnect).
 */
const SERVER_FD_RESERVE = PROBE_CONCURRENCY + 2;
/** Files a load process needs beside its sockets (node's own, IPC). */
const LOAD_FD_RESERVE = 64;
const PUSH_ROUND = 1;
const TOPIC_ROUND = 1;

function whole(name: keyof typeof args, min: number): number {
  const n = Number(args[name]);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be a whole number ≥ ${min}, got ${String(args[name])}`);
  return n;
}

/** One server process under test. */
interface Server {
  name: string;
  /** What the load processes connect to (SockJS: the `/sockjs` base). */
  url: string;
  /** The relay's HTTP base (push, publish, /metrics); undefined for the floor. */
  httpUrl?: string;
  sockjs: boolean;
  rssBytes(): number;
  /** Resident bytes of glibc's main malloc arena (processMallocHeapBytes). */
  mallocHeapBytes(): number;
  cpuSeconds(): number;
  openFiles(): number;
  /** Heap used, external memory and sessions from the relay's /metrics; undefined for the floor. */
  metrics?(): Promise<RelayMetrics | undefined>;
  stop(): Promise<void>;
}

interface RelayMetrics {
  heapUsed: number;
  /** What V8 has committed for the heap (used or not), and for its young generation. */
  heapCommitted: number;
  newSpaceCommitted: number;
  external: number;
  sessions: number;
}

/** The servers of one path: one, or `--instances` relays on one RabbitMQ node. */
interface Deployment {
  servers: Server[];
  node?: RabbitNode;
}

/** What one server measured. */
interface ServerMeasured {
  name: string;
  rssBefore: number;
  rssAfter: number;
  mallocBefore: number;
  mallocAfter: number;
  filesBefore: number;
  filesAfter: number;
  metricsBefore?: RelayMetrics;
  metricsAfter?: RelayMetrics;
  /** Sessions its users connected and subscribed (counted by the clients: user i is on instance i mod N). */
  sessions: number;
  cpu: PhaseCpu;
}

/** CPU seconds of one process (or a sum) in the connect, subscribe and idle phases. */
interface PhaseCpu {
  connect: number;
  subscribe: number;
  idle: number;
}

interface Probe {
  pushesSent: number;
  pushesAccepted: number;
  firstRefusal?: string;
  /** Sampled users whose push arrived, per instance their session is on. */
  deliveredByInstance: number[];
  sampledByInstance: number[];
  pushSeconds: number;
  topicsPublished: number;
  topicsAccepted: number;
  topicSeconds: number;
  status: RoundStatus;
}

interface Measured {
  path: PathKey;
  sessions: PhaseResult;
  subscribed: PhaseResult;
  connectSeconds: number;
  subscribeSeconds: number;
  servers: ServerMeasured[];
  broker?: { before: RabbitFootprint; after: RabbitFootprint; cpu: PhaseCpu };
  loadsCpu: PhaseCpu;
  probe?: Probe;
  /** Sessions closed and ERROR frames seen by the clients once idle (heart-beats kept them alive?). */
  closed: number;
  errorFrames: number;
  loadBefore: number;
  loadAfter: number;
}

async function main(): Promise<void> {
  for (const p of SELECTED) if (!PATHS.includes(p)) throw new Error(`--paths: unknown ${p} (known: ${PATHS.join(', ')})`);
  if (INSTANCES > 1) {
    const single = SELECTED.filter((p) => !p.endsWith('rabbitmq'));
    if (single.length > 0) throw new Error(`--instances ${INSTANCES} needs a shared broker: ${single.join(', ')} cannot run on several instances (use ws-rabbitmq, sockjs-rabbitmq)`);
  }
  const perLoad = Math.ceil(SESSIONS / LOAD_PROCESSES);
  ensureOpenFileLimit(perLoad + LOAD_FD_RESERVE);
  if (perLoad + LOAD_FD_RESERVE > openFileLimit()) {
    throw new Error(`one load process may hold ${openFileLimit()} files (ulimit -n): use --load-processes ${Math.ceil(SESSIONS / (openFileLimit() - LOAD_FD_RESERVE))} or more`);
  }
  const cleanup = new Cleanup();
  try {
    process.stdout.write(`${environmentBanner()}\n`);
    process.stdout.write(`${fmt.int(SESSIONS)} idle sessions per path over ${INSTANCES} instance(s) (CONNECTED, 2 subscriptions, heart-beat ${HEARTBEAT_MS},${HEARTBEAT_MS}), ` +
      `${LOAD_PROCESSES} load process(es); ulimit -n ${openFileLimit()}; idle ${IDLE_MS} ms.\n\n`);
    let node: Promise<RabbitNode> | undefined;
    const rabbit = (): Promise<RabbitNode> => (node ??= startRabbitNode().then((n) => {
      cleanup.add('RabbitMQ node', () => n.stop());
      return n;
    }));
    const results: Measured[] = [];
    for (const path of SELECTED) {
      progress(`${path}: starting`);
      const deployment = await deploy(path, rabbit, cleanup);
      try {
        checkCapacity(deployment.servers);
        results.push(await measure(path, deployment, cleanup));
      } finally {
        await Promise.all(deployment.servers.map((s) => s.stop()));
      }
    }
    process.stdout.write(report(results) + '\n');
  } finally {
    await cleanup.run();
  }
}

async function deploy(path: PathKey, rabbit: () => Promise<RabbitNode>, cleanup: Cleanup): Promise<Deployment> {
  if (path === 'ws-floor') {
    const floor = await startPeerProcess({ name: 'ws-floor', script: 'bench/peers/ws-floor/server.ts', port: await freePort(), nodeArgs: SERVER_NODE_ARGS, env: SERVER_ENV });
    cleanup.add('ws-floor', () => floor.stop(), () => floor.kill());
    return {
      servers: [{
        name: 'ws-floor', url: `ws://127.0.0.1:${floor.port}/stomp`, sockjs: false,
        rssBytes: () => floor.rssBytes(), mallocHeapBytes: () => processMallocHeapBytes(floor.pid), cpuSeconds: () => floor.cpuSeconds(), openFiles: () => processOpenFiles(floor.pid), stop: () => floor.stop(),
      }],
    };
  }
  const node = path.endsWith('rabbitmq') ? await rabbit() : undefined;
  const count = node ? INSTANCES : 1;
  const servers = await Promise.all(Array.from({ length: count }, (_, k) => startRelay(path, k, node, cleanup)));
  return { servers, node };
}

async function startRelay(path: PathKey, k: number, node: RabbitNode | undefined, cleanup: Cleanup): Promise<Server> {
  const relay = await startRelayProcess({
    brokerUrl: node?.brokerUrl, brokerAmqpUrl: node?.amqpUrl, instanceId: `conn-${path}-${k}`, dist: args.dist, readyTimeoutMs: 60_000,
    root: args['relay-root'] || undefined,
    nodeArgs: [...SERVER_NODE_ARGS, ...args['relay-node-args'].split(/[ ,]+/).filter(Boolean)],
    env: SERVER_ENV,
  });
  cleanup.add(`relay ${relay.instanceId}`, () => relay.stop(), () => relay.kill());
  const sockjs = path.startsWith('sockjs');
  return {
    name: relay.instanceId,
    url: sockjs ? `${relay.httpUrl}/sockjs` : relay.wsUrl,
    httpUrl: relay.httpUrl,
    sockjs,
    rssBytes: () => relay.rssBytes(),
    mallocHeapBytes: () => processMallocHeapBytes(relay.pid),
    cpuSeconds: () => relay.cpuSeconds(),
    openFiles: () => relay.openFiles(),
    metrics: async () => {
      try {
        const text = await (await fetch(`${relay.httpUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
        const read = (name: string): number => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN);
        // stomp_relay_sessions has a series per transport.
        const sessions = [...text.matchAll(/^stomp_relay_sessions\{[^}]*\} (\S+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
        return {
          heapUsed: read('nodejs_heap_size_used_bytes'),
          heapCommitted: read('nodejs_heap_size_total_bytes'),
          newSpaceCommitted: read('nodejs_heap_space_size_total_bytes\\{space="new"\\}'),
          external: read('nodejs_external_memory_bytes'),
          sessions,
        };
      } catch {
        return undefined;
      }
    },
    stop: () => relay.stop(),
  };
}

/** Refuses at once when an instance's share of the sessions cannot fit under its open-file limit. */
function checkCapacity(servers: Server[]): void {
  const limit = openFileLimit();
  const share = Math.ceil(SESSIONS / servers.length);
  for (const server of servers) {
    const open = server.openFiles();
    if (!Number.isFinite(open)) continue;
    const capacity = limit - open - SERVER_FD_RESERVE;
    if (share <= capacity) continue;
    const text = `${server.name} can hold at most ${capacity} sessions (ulimit -n ${limit}, ${open} files open at start, ${SERVER_FD_RESERVE} kept for this ` +
      `script's HTTP requests), but ${share} would connect to it: use --sessions ${capacity * servers.length} or more --instances`;
    if (!args['over-fd-limit']) throw new Error(text);
    progress(`warning (--over-fd-limit): ${text}`);
  }
}

async function measure(path: PathKey, deployment: Deployment, cleanup: Cleanup): Promise<Measured> {
  const { servers, node } = deployment;
  await settle();
  const loadBefore = os.loadavg()[0]!;
  const rssBefore = servers.map((s) => s.rssBytes());
  const mallocBefore = servers.map((s) => s.mallocHeapBytes());
  const filesBefore = servers.map((s) => s.openFiles());
  const metricsBefore = await Promise.all(servers.map((s) => s.metrics?.()));
  const brokerBefore = node ? await rabbitFootprint(node) : undefined;
  const loads = splitRange(SESSIONS, LOAD_PROCESSES).map((range, p) => UserLoadProcess.start({
    ...range,
    urls: servers.map((s) => s.url),
    topics: TOPICS,
    localAddress: sourceAddressOf(p),
    connectConcurrency: Math.max(1, Math.ceil(whole('connect-concurrency', 1) / LOAD_PROCESSES)),
    subscribeConcurrency: Math.max(1, Math.ceil(whole('subscribe-concurrency', 1) / LOAD_PROCESSES)),
    connectTimeoutMs: 30_000,
    sockjs: servers[0]!.sockjs,
    heartbeatMs: HEARTBEAT_MS,
  }));
  const dropLoads = cleanup.add(`${path} load processes`, async () => { await Promise.all(loads.map((l) => l.close())); }, () => loads.forEach((l) => l.kill()));
  const cpuNow = (): CpuReading => ({
    servers: servers.map((s) => s.cpuSeconds()),
    broker: node ? cpuSecondsOfProcessesMatching(node.dir) : NaN,
    loads: loads.reduce((n, l) => n + l.cpuSeconds(), 0),
  });
  const ticker = setInterval(() => progress(`${path}: ${fmt.int(loads.reduce((n, l) => n + l.progress, 0))} / ${fmt.int(SESSIONS)}`), 10_000);
  try {
    progress(`${path}: connecting ${fmt.int(SESSIONS)} over ${servers.length} instance(s)`);
    const cpu0 = cpuNow();
    let start = Date.now();
    const sessions = sumPhase(await Promise.all(loads.map((l) => l.connect(PHASE_TIMEOUT_MS))));
    const connectSeconds = (Date.now() - start) / 1000;
    const cpu1 = cpuNow();
    progress(`${path}: ${fmt.int(sessions.ok)} connected, ${sessions.failed} failed in ${connectSeconds.toFixed(1)} s${sessions.firstError ? ` (${sessions.firstError})` : ''}; subscribing`);
    start = Date.now();
    const subscribed = sumPhase(await Promise.all(loads.map((l) => l.subscribe(PHASE_TIMEOUT_MS))));
    const subscribeSeconds = (Date.now() - start) / 1000;
    const cpu2 = cpuNow();
    clearInterval(ticker);
    progress(`${path}: ${fmt.int(subscribed.ok)} subscribed in ${subscribeSeconds.toFixed(1)} s${subscribed.firstError ? ` (${subscribed.firstError})` : ''}; ` +
      `settling ${SETTLE_MS} ms, then idle for ${IDLE_MS} ms`);
    await settle();
    const cpu3 = cpuNow();
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS));
    const cpu4 = cpuNow();
    const rssAfter = servers.map((s) => s.rssBytes());
    const mallocAfter = servers.map((s) => s.mallocHeapBytes());
    const filesAfter = servers.map((s) => s.openFiles());
    const metricsAfter = await Promise.all(servers.map((s) => s.metrics?.()));
    const brokerAfter = node ? await rabbitFootprint(node) : undefined;
    const statuses = await Promise.all(loads.map((l) => l.status(0, false)));
    const phases = (pick: (r: CpuReading) => number): PhaseCpu => ({ connect: pick(cpu1) - pick(cpu0), subscribe: pick(cpu2) - pick(cpu1), idle: pick(cpu4) - pick(cpu3) });
    const probe = PUSH_SAMPLE > 0 && servers[0]!.httpUrl ? await probeLiveness(path, servers, loads, subscribed.ok) : undefined;
    return {
      path, sessions, subscribed, connectSeconds, subscribeSeconds,
      servers: servers.map((s, k) => ({
        name: s.name, rssBefore: rssBefore[k]!, rssAfter: rssAfter[k]!, mallocBefore: mallocBefore[k]!, mallocAfter: mallocAfter[k]!, filesBefore: filesBefore[k]!, filesAfter: filesAfter[k]!,
        metricsBefore: metricsBefore[k], metricsAfter: metricsAfter[k],
        // Without /metrics (the floor): its share, had every user connected (user i on instance i mod N).
        sessions: metricsAfter[k]?.sessions ?? usersOfInstance(k, servers.length, subscribed.ok),
        cpu: phases((r) => r.servers[k]!),
      })),
      broker: brokerBefore && brokerAfter ? { before: brokerBefore, after: brokerAfter, cpu: phases((r) => r.broker) } : undefined,
      loadsCpu: phases((r) => r.loads),
      probe,
      closed: statuses.reduce((n, s) => n + s.closed, 0),
      errorFrames: statuses.reduce((n, s) => n + s.errorFrames, 0),
      loadBefore, loadAfter: os.loadavg()[0]!,
    };
  } finally {
    clearInterval(ticker);
    await dropLoads();
  }
}

interface CpuReading {
  servers: number[];
  broker: number;
  loads: number;
}

/**
 * Proves the idle sessions alive: pushes through the first instance to a sample of users spread over
 * the other instances (every user with one instance), and one publish to each topic through the first
 * instance, which must reach every subscribed session once; each part bounded by --probe-timeout.
 */
async function probeLiveness(path: PathKey, servers: Server[], loads: UserLoadProcess[], subscribedSessions: number): Promise<Probe> {
  const n = servers.length;
  const client = new PushClient(servers[0]!.httpUrl!, PROBE_CONCURRENCY);
  try {
    const sample = sampleUsersOffFirstInstance(SESSIONS, n, PUSH_SAMPLE);
    progress(`${path}: liveness: ${fmt.int(sample.length)} pushes through ${servers[0]!.name}`);
    let accepted = 0;
    let firstRefusal: string | undefined;
    const acceptedUsers = new Set<number>();
    let start = Date.now();
    const deadline = start + PROBE_TIMEOUT_MS;
    const pushesSent = await runConcurrently(sample.length, PROBE_CONCURRENCY, async (i) => {
      const user = sample[i]!;
      const answer = await client.push(userLogin(user), '/queue/n', pushBody(PUSH_ROUND, user)).catch((err: Error) => ({ status: 0, text: err.message }));
      if (answer.status === 202) {
        accepted++;
        acceptedUsers.add(user);
      } else firstRefusal ??= `u${user}: ${answer.status} ${answer.text}`;
    }, deadline);
    const roundStatus = async (missing: boolean): Promise<RoundStatus> => sumStatus(await Promise.all(loads.map((l) => l.status(PUSH_ROUND, missing))));
    await pollUntil(async () => (await roundStatus(false)).delivered >= accepted, deadline);
    const pushSeconds = (Date.now() - start) / 1000;
    const missing = new Set((await roundStatus(true)).missing);
    const sampledByInstance = new Array<number>(n).fill(0);
    const deliveredByInstance = new Array<number>(n).fill(0);
    for (const user of sample) {
      sampledByInstance[instanceOfUser(user, n)]!++;
      if (!missing.has(user)) deliveredByInstance[instanceOfUser(user, n)]!++;
    }

    progress(`${path}: liveness: one message to each of ${TOPICS} topics through ${servers[0]!.name}`);
    start = Date.now();
    const topicDeadline = start + PROBE_TIMEOUT_MS;
    let topicsAccepted = 0;
    const topicsPublished = await runConcurrently(TOPICS, PROBE_CONCURRENCY, async (k) => {
      const answer = await client.publish(`/topic/t${k}`, pushBody(TOPIC_ROUND, k)).catch((err: Error) => ({ status: 0, text: err.message }));
      if (answer.status === 202) topicsAccepted++;
      else firstRefusal ??= `/topic/t${k}: ${answer.status} ${answer.text}`;
    }, topicDeadline);
    await pollUntil(async () => (await roundStatus(false)).topicDelivered >= subscribedSessions, topicDeadline);
    const status = await roundStatus(false);
    const topicSeconds = (status.topicLastAt - start) / 1000;
    progress(`${path}: liveness: pushes ${fmt.int(deliveredByInstance.reduce((a, b) => a + b, 0))} / ${fmt.int(sample.length)} delivered; ` +
      `topic messages reached ${fmt.int(status.topicDelivered)} / ${fmt.int(subscribedSessions)} sessions`);
    return {
      pushesSent, pushesAccepted: accepted, firstRefusal, deliveredByInstance, sampledByInstance, pushSeconds,
      topicsPublished, topicsAccepted, topicSeconds, status,
    };
  } finally {
    client.close();
  }
}

/** Polls `condition` every 200 ms until it holds or `deadline` (Date.now()) passed. */
async function pollUntil(condition: () => Promise<boolean>, deadline: number): Promise<boolean> {
  for (;;) {
    if (await condition()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
}

function report(results: Measured[]): string {
  const kb = (bytes: number, n: number): string => (Number.isFinite(bytes) && n > 0 ? (bytes / n / 1024).toFixed(2) : 'n/a');
  const mb = (bytes: number): string => (Number.isFinite(bytes) ? (bytes / 1024 / 1024).toFixed(1) : 'n/a');
  const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
  const s1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
  const heapDelta = (m: ServerMeasured, key: 'heapUsed' | 'heapCommitted' | 'external'): number =>
    (m.metricsBefore && m.metricsAfter ? m.metricsAfter[key] - m.metricsBefore[key] : NaN);
  const floor = results.find((r) => r.path === 'ws-floor');
  const sessionsOf = (r: Measured): number => r.subscribed.ok || r.sessions.ok;
  const perSession = (r: Measured): number => (sum(r.servers.map((m) => m.rssAfter)) - sum(r.servers.map((m) => m.rssBefore))) / Math.max(1, sessionsOf(r));
  const rows = results.map((r) => {
    const n = sessionsOf(r);
    const relays = r.servers.every((m) => m.metricsBefore && m.metricsAfter);
    return [
      r.path,
      String(r.servers.length),
      fmt.int(r.sessions.ok),
      fmt.int(r.subscribed.ok),
      `${fmt.int(r.sessions.ok / r.connectSeconds)} / ${fmt.int(r.subscribed.ok / r.subscribeSeconds)}`,
      mb(sum(r.servers.map((m) => m.rssBefore))),
      mb(sum(r.servers.map((m) => m.rssAfter))),
      `**${kb(sum(r.servers.map((m) => m.rssAfter - m.rssBefore)), n)}**`,
      relays ? kb(sum(r.servers.map((m) => heapDelta(m, 'heapUsed'))), n) : '—',
      relays ? kb(sum(r.servers.map((m) => heapDelta(m, 'external'))), n) : '—',
      floor && r !== floor ? fmt.ratio(perSession(r) / perSession(floor)) : '—',
      `${r.closed} / ${r.errorFrames}`,
      `${r.loadBefore.toFixed(2)} → ${r.loadAfter.toFixed(2)}`,
    ];
  });
  const out = [
    markdownTable(
      ['path', 'instances', 'sessions', 'subscribed (2 each)', 'connect / subscribe per s', 'RSS before MB', 'RSS idle MB', 'RSS KB / session', 'heap KB / session', 'external KB / session', '÷ floor', 'closed / ERROR', 'load 1 min'],
      rows,
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
    ),
    '',
    'RSS KB / session: (RSS after the sessions subscribed and idled − RSS before any connected) ÷ sessions, summed over instances. Heap and external: from /metrics, without a forced GC.',
    '',
    `Per server process (CPU seconds of the connect phase, the subscribe phase and ${(IDLE_MS / 1000).toFixed(0)} s idle with heart-beats; "idle % core" = idle CPU ÷ idle time):`,
    '',
    markdownTable(
      ['path', 'process', 'sessions', 'open files start → idle', 'RSS before → idle MB', 'RSS KB / session', 'heap KB / session', 'heap committed KB / session', 'young generation committed MB', 'malloc arena KB / session', 'CPU s connect', 'CPU s subscribe', 'CPU s idle', 'idle % core'],
      results.flatMap((r) => r.servers.map((m) => [
        r.path, m.name, fmt.int(m.sessions), `${fmt.int(m.filesBefore)} → ${fmt.int(m.filesAfter)}`, `${mb(m.rssBefore)} → ${mb(m.rssAfter)}`,
        kb(m.rssAfter - m.rssBefore, m.sessions), kb(heapDelta(m, 'heapUsed'), m.sessions), kb(heapDelta(m, 'heapCommitted'), m.sessions),
        m.metricsBefore && m.metricsAfter ? `${mb(m.metricsBefore.newSpaceCommitted)} → ${mb(m.metricsAfter.newSpaceCommitted)}` : 'n/a',
        kb(m.mallocAfter - m.mallocBefore, m.sessions),
        s1(m.cpu.connect), s1(m.cpu.subscribe), s1(m.cpu.idle), IDLE_MS > 0 ? `${((m.cpu.idle / (IDLE_MS / 1000)) * 100).toFixed(1)} %` : '—',
      ])),
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    'Malloc arena: the resident part of the process\'s `[heap]` mapping (glibc\'s main arena: the main thread\'s native allocations and the free chunks glibc keeps), growth per session.',
    '',
    `Load processes (the clients), CPU s connect / subscribe / idle: ${results.map((r) => `${r.path} ${s1(r.loadsCpu.connect)} / ${s1(r.loadsCpu.subscribe)} / ${s1(r.loadsCpu.idle)}`).join('; ')}.`,
  ];
  const brokered = results.filter((r) => r.broker);
  if (brokered.length > 0) {
    const arrow = (pick: (f: RabbitFootprint) => number, show: (x: number) => string = fmt.int): (r: Measured) => string =>
      (r) => `${show(pick(r.broker!.before))} → ${show(pick(r.broker!.after))}`;
    const columns: Array<[string, (r: Measured) => string]> = [
      ['RSS MB', arrow((f) => f.rssBytes, mb)],
      ['`erlang:memory` MB (full GC)', arrow((f) => f.erlangMemoryBytes, mb)],
      ['per session KB', (r) => kb(r.broker!.after.erlangMemoryBytes - r.broker!.before.erlangMemoryBytes, sessionsOf(r))],
      ['queues', arrow((f) => f.queues)],
      ['bindings', arrow((f) => f.bindings)],
      ['AMQP connections', arrow((f) => f.amqpConnections)],
      ['STOMP connections', arrow((f) => f.stompConnections)],
      ['channels', arrow((f) => f.channels)],
      ['CPU s connect / subscribe / idle', (r) => `${s1(r.broker!.cpu.connect)} / ${s1(r.broker!.cpu.subscribe)} / ${s1(r.broker!.cpu.idle)}`],
    ];
    out.push('', 'RabbitMQ, before the users (relays connected) → with every session idle:', '',
      markdownTable(['path', 'instances', ...columns.map((c) => c[0])], brokered.map((r) => [r.path, String(r.servers.length), ...columns.map((c) => c[1](r))]),
        ['l', 'r', ...columns.map(() => 'r' as const)]));
  }
  const probed = results.filter((r) => r.probe);
  if (probed.length > 0) {
    out.push('', `Alive? Once idle, through the first instance: \`POST /push/u<i>\` to a sample of users (on the other instances when there are several), ` +
      `then one \`POST /publish\` to each of the ${TOPICS} topics, which every subscribed session must get once (deadline ${PROBE_TIMEOUT_MS / 1000} s each):`, '',
      markdownTable(
        ['path', 'pushes sent / 202', 'pushes delivered, by instance of the user', 'push round s', 'topics published / 202', 'sessions reached by their topic', 'first publish → last delivery s', 'duplicates / misrouted'],
        probed.map((r) => {
          const p = r.probe!;
          const byInstance = p.sampledByInstance.map((n, k) => (n > 0 ? `#${k}: ${fmt.int(p.deliveredByInstance[k]!)} / ${fmt.int(n)}` : '')).filter(Boolean).join(', ');
          return [
            r.path, `${fmt.int(p.pushesSent)} / ${fmt.int(p.pushesAccepted)}`, byInstance, p.pushSeconds.toFixed(2),
            `${fmt.int(p.topicsPublished)} / ${fmt.int(p.topicsAccepted)}`, `**${fmt.int(p.status.topicDelivered)} / ${fmt.int(r.subscribed.ok)}**`, p.topicSeconds.toFixed(2),
            `${fmt.int(p.status.duplicates + p.status.topicDuplicates)} / ${fmt.int(p.status.misrouted)}`,
          ];
        }),
        ['l', 'r', 'l', 'r', 'r', 'r', 'r', 'r'],
      ));
    for (const r of probed) if (r.probe!.firstRefusal) out.push('', `${r.path}: first refused request: ${r.probe!.firstRefusal}`);
  }
  for (const r of results) {
    if (r.sessions.firstError) out.push('', `${r.path}: first connect failure: ${r.sessions.firstError}`);
    if (r.subscribed.firstError) out.push('', `${r.path}: first subscribe failure: ${r.subscribed.firstError}`);
  }
  return out.join('\n');
}

function progress(text: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${text}\n`);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`connections bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);

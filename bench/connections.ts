/**
 * Memory per idle session: N sessions connected to one server process, each CONNECTED with two
 * subscriptions (`/user/queue/n` and one of 100 topics, receipted), then left idle. Reports the
 * server's RSS before and after, per session, for each path:
 *
 *   - `ws-embedded`, `sockjs-embedded`: one relay, embedded broker, over `/ws` or SockJS's websocket
 *     transport (`/sockjs/<server>/<session>/websocket`, SockJS framing, as sockjs-client uses it);
 *   - `ws-rabbitmq`, `sockjs-rabbitmq`: the same on a private RabbitMQ node (relay RSS only; the
 *     broker's per-user cost is bench/scale.ts's);
 *   - `ws-floor`: a plain `ws` server that answers CONNECT and receipts and keeps nothing but the
 *     socket (bench/peers/ws-floor/server.ts): what a socket costs with no protocol at all.
 *
 *     npx tsx bench/connections.ts [--sessions 10000] [--paths ws-embedded,ws-floor,...] [--heartbeat 10000]
 *                                  [--load-processes auto] [--settle 5000] [--dist] [--relay-root <dir>]
 *
 * Use `--dist` (after `npm run build`) for figures of what production runs: tsx compiles with
 * esbuild's keepNames, which gives every function its own `name` property (a 256-byte property
 * dictionary per closure), so a relay run from the sources looks several KB per session heavier.
 *
 * Sessions offer `heart-beat: <h>,<h>` as stomp.js does (default 10 s both ways, so the relay runs
 * its heart-beat clocks; 0 = none). They live in load processes (bench/lib/user-load.ts), each on a
 * loopback source address of its own. One process may hold only `ulimit -n` sockets (20 000 here),
 * so one server can take about 19 900. RSS is read from /proc after `--settle` ms of quiet; heap and
 * external memory from the relay's /metrics (no forced GC, so they include garbage not yet collected).
 */
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import { startRabbitNode, type RabbitNode } from '../test/harness/rabbitmq';
import { Cleanup } from './lib/cleanup';
import { ensureOpenFileLimit, openFileLimit } from './lib/file-limit';
import { environmentBanner, fmt, markdownTable } from './lib/markdown';
import { startPeerProcess } from './lib/peer-process';
import { freePort, startRelayProcess } from './lib/relay-process';
import { sourceAddressOf, splitRange, sumPhase, UserLoadProcess, type PhaseResult } from './lib/user-load';

const PATHS = ['ws-embedded', 'sockjs-embedded', 'ws-rabbitmq', 'sockjs-rabbitmq', 'ws-floor'] as const;
type PathKey = (typeof PATHS)[number];

const { values: args } = parseArgs({
  options: {
    sessions: { type: 'string', default: '10000' },
    paths: { type: 'string', default: 'ws-embedded,sockjs-embedded,ws-floor' },
    heartbeat: { type: 'string', default: '10000' },
    /** Load processes holding the sessions; default: one per 10 000 sessions. */
    'load-processes': { type: 'string', default: '0' },
    'connect-concurrency': { type: 'string', default: '64' },
    'subscribe-concurrency': { type: 'string', default: '64' },
    /** Quiet time before each RSS reading. */
    settle: { type: 'string', default: '5000' },
    'phase-timeout': { type: 'string', default: '600000' },
    dist: { type: 'boolean', default: false },
    /** Run the relays from another source tree (e.g. a `git worktree` of an older commit), for before/after figures. */
    'relay-root': { type: 'string', default: '' },
  },
  strict: true,
});

const SESSIONS = whole('sessions', 1);
const HEARTBEAT_MS = whole('heartbeat', 0);
const LOAD_PROCESSES = whole('load-processes', 0) || Math.max(1, Math.ceil(SESSIONS / 10_000));
const SETTLE_MS = whole('settle', 0);
const PHASE_TIMEOUT_MS = whole('phase-timeout', 1);
const SELECTED = args.paths.split(',').map((p) => p.trim()).filter(Boolean) as PathKey[];
/** Files a relay keeps for itself beyond its sessions (listeners, broker links, /metrics scrapes). */
const SERVER_FD_RESERVE = 64;

function whole(name: keyof typeof args, min: number): number {
  const n = Number(args[name]);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be a whole number ≥ ${min}, got ${String(args[name])}`);
  return n;
}

/** One server process under test. */
interface Server {
  /** What the load processes connect to (SockJS: the `/sockjs` base). */
  url: string;
  sockjs: boolean;
  rssBytes(): number;
  openFiles?(): number;
  /** Heap used and external memory from the relay's /metrics; undefined for the floor. */
  heap?(): Promise<{ heapUsed: number; external: number } | undefined>;
  stop(): Promise<void>;
}

interface Measured {
  path: PathKey;
  sessions: PhaseResult;
  subscribed: PhaseResult;
  connectSeconds: number;
  subscribeSeconds: number;
  rssBefore: number;
  rssAfter: number;
  heapBefore?: { heapUsed: number; external: number };
  heapAfter?: { heapUsed: number; external: number };
  /** Sessions closed and ERROR frames seen by the clients once idle (heart-beats kept them alive?). */
  closed: number;
  errorFrames: number;
  loadBefore: number;
  loadAfter: number;
}

async function main(): Promise<void> {
  for (const p of SELECTED) if (!PATHS.includes(p)) throw new Error(`--paths: unknown ${p} (known: ${PATHS.join(', ')})`);
  ensureOpenFileLimit(Math.ceil(SESSIONS / LOAD_PROCESSES) + 256);
  if (SESSIONS + SERVER_FD_RESERVE > openFileLimit()) {
    throw new Error(`one server process may hold ${openFileLimit()} files (ulimit -n): use --sessions ${openFileLimit() - SERVER_FD_RESERVE} or fewer`);
  }
  const cleanup = new Cleanup();
  try {
    process.stdout.write(`${environmentBanner()}\n`);
    process.stdout.write(`${fmt.int(SESSIONS)} idle sessions per path (CONNECTED, 2 subscriptions, heart-beat ${HEARTBEAT_MS},${HEARTBEAT_MS}), ` +
      `${LOAD_PROCESSES} load process(es); ulimit -n ${openFileLimit()}.\n\n`);
    let node: Promise<RabbitNode> | undefined;
    const rabbit = (): Promise<RabbitNode> => (node ??= startRabbitNode().then((n) => {
      cleanup.add('RabbitMQ node', () => n.stop());
      return n;
    }));
    const results: Measured[] = [];
    for (const path of SELECTED) {
      progress(`${path}: starting`);
      const server = await startServer(path, rabbit, cleanup);
      try {
        results.push(await measure(path, server, cleanup));
      } finally {
        await server.stop();
      }
    }
    process.stdout.write(report(results) + '\n');
  } finally {
    await cleanup.run();
  }
}

async function startServer(path: PathKey, rabbit: () => Promise<RabbitNode>, cleanup: Cleanup): Promise<Server> {
  if (path === 'ws-floor') {
    const floor = await startPeerProcess({ name: 'ws-floor', script: 'bench/peers/ws-floor/server.ts', port: await freePort() });
    cleanup.add('ws-floor', () => floor.stop(), () => floor.kill());
    return { url: `ws://127.0.0.1:${floor.port}/stomp`, sockjs: false, rssBytes: () => floor.rssBytes(), stop: () => floor.stop() };
  }
  const node = path.endsWith('rabbitmq') ? await rabbit() : undefined;
  const relay = await startRelayProcess({
    brokerUrl: node?.brokerUrl, brokerAmqpUrl: node?.amqpUrl, instanceId: `conn-${path}`, dist: args.dist, readyTimeoutMs: 60_000,
    root: args['relay-root'] || undefined,
  });
  cleanup.add(`relay ${relay.instanceId}`, () => relay.stop(), () => relay.kill());
  const sockjs = path.startsWith('sockjs');
  return {
    url: sockjs ? `${relay.httpUrl}/sockjs` : relay.wsUrl,
    sockjs,
    rssBytes: () => relay.rssBytes(),
    openFiles: () => relay.openFiles(),
    heap: async () => {
      try {
        const text = await (await fetch(`${relay.httpUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
        const read = (name: string): number => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? NaN);
        return { heapUsed: read('nodejs_heap_size_used_bytes'), external: read('nodejs_external_memory_bytes') };
      } catch {
        return undefined;
      }
    },
    stop: () => relay.stop(),
  };
}

async function measure(path: PathKey, server: Server, cleanup: Cleanup): Promise<Measured> {
  await settle();
  const loadBefore = os.loadavg()[0]!;
  const rssBefore = server.rssBytes();
  const heapBefore = await server.heap?.();
  const loads = splitRange(SESSIONS, LOAD_PROCESSES).map((range, p) => UserLoadProcess.start({
    ...range,
    urls: [server.url],
    topics: 100,
    localAddress: sourceAddressOf(p),
    connectConcurrency: Math.max(1, Math.ceil(whole('connect-concurrency', 1) / LOAD_PROCESSES)),
    subscribeConcurrency: Math.max(1, Math.ceil(whole('subscribe-concurrency', 1) / LOAD_PROCESSES)),
    connectTimeoutMs: 30_000,
    sockjs: server.sockjs,
    heartbeatMs: HEARTBEAT_MS,
  }));
  const dropLoads = cleanup.add(`${path} load processes`, async () => { await Promise.all(loads.map((l) => l.close())); }, () => loads.forEach((l) => l.kill()));
  try {
    progress(`${path}: connecting ${fmt.int(SESSIONS)}`);
    let start = Date.now();
    const sessions = sumPhase(await Promise.all(loads.map((l) => l.connect(PHASE_TIMEOUT_MS))));
    const connectSeconds = (Date.now() - start) / 1000;
    progress(`${path}: ${fmt.int(sessions.ok)} connected, ${sessions.failed} failed in ${connectSeconds.toFixed(1)} s${sessions.firstError ? ` (${sessions.firstError})` : ''}; subscribing`);
    start = Date.now();
    const subscribed = sumPhase(await Promise.all(loads.map((l) => l.subscribe(PHASE_TIMEOUT_MS))));
    const subscribeSeconds = (Date.now() - start) / 1000;
    progress(`${path}: ${fmt.int(subscribed.ok)} subscribed in ${subscribeSeconds.toFixed(1)} s${subscribed.firstError ? ` (${subscribed.firstError})` : ''}; idle for ${SETTLE_MS} ms`);
    await settle();
    const rssAfter = server.rssBytes();
    const heapAfter = await server.heap?.();
    const statuses = await Promise.all(loads.map((l) => l.status(0, false)));
    return {
      path, sessions, subscribed, connectSeconds, subscribeSeconds, rssBefore, rssAfter, heapBefore, heapAfter,
      closed: statuses.reduce((n, s) => n + s.closed, 0),
      errorFrames: statuses.reduce((n, s) => n + s.errorFrames, 0),
      loadBefore, loadAfter: os.loadavg()[0]!,
    };
  } finally {
    await dropLoads();
  }
}

function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
}

function report(results: Measured[]): string {
  const kb = (bytes: number, n: number): string => (Number.isFinite(bytes) && n > 0 ? (bytes / n / 1024).toFixed(2) : 'n/a');
  const mb = (bytes: number): string => (Number.isFinite(bytes) ? (bytes / 1024 / 1024).toFixed(1) : 'n/a');
  const floor = results.find((r) => r.path === 'ws-floor');
  const perSession = (r: Measured): number => (r.rssAfter - r.rssBefore) / Math.max(1, r.subscribed.ok || r.sessions.ok);
  const rows = results.map((r) => {
    const n = r.subscribed.ok || r.sessions.ok;
    return [
      r.path,
      fmt.int(r.sessions.ok),
      fmt.int(r.subscribed.ok),
      `${fmt.int(r.sessions.ok / r.connectSeconds)} / ${fmt.int(r.subscribed.ok / r.subscribeSeconds)}`,
      mb(r.rssBefore),
      mb(r.rssAfter),
      `**${kb(r.rssAfter - r.rssBefore, n)}**`,
      r.heapBefore && r.heapAfter ? kb(r.heapAfter.heapUsed - r.heapBefore.heapUsed, n) : '—',
      r.heapBefore && r.heapAfter ? kb(r.heapAfter.external - r.heapBefore.external, n) : '—',
      floor && r !== floor ? fmt.ratio(perSession(r) / perSession(floor)) : '—',
      `${r.closed} / ${r.errorFrames}`,
      `${r.loadBefore.toFixed(2)} → ${r.loadAfter.toFixed(2)}`,
    ];
  });
  return [
    markdownTable(
      ['path', 'sessions', 'subscribed (2 each)', 'connect / subscribe per s', 'RSS before MB', 'RSS idle MB', 'RSS KB / session', 'heap KB / session', 'external KB / session', '÷ floor', 'closed / ERROR', 'load 1 min'],
      rows,
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
    ),
    '',
    'RSS KB / session: (RSS after the sessions subscribed and idled − RSS before any connected) ÷ sessions. Heap and external: from /metrics, without a forced GC.',
  ].join('\n');
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

/**
 * Topic fan-out: one publisher, N subscribers on one topic, 100-byte messages; the same load shape
 * against five server paths, side by side in one run on one machine:
 *
 *   1. two relay instances on one private RabbitMQ node (subscribers spread over both, publisher on A),
 *   2. RabbitMQ's own Web-STOMP plugin on that node (peer: what browsers would use without a relay),
 *   3. one relay instance with the embedded broker,
 *   4. two Socket.IO 4.8 instances with @socket.io/redis-adapter on a private redis-server (peer:
 *      what a Node team would pick instead; topics are rooms, bench/peers/socketio/server.ts),
 *   5. the bare `ws` floor: one plain `ws` server writing the publisher's bytes (the MESSAGE frame a
 *      relay subscriber gets) to every receiver, with no protocol work (bench/peers/ws-floor/server.ts).
 *
 * Each path runs two scenarios: a fixed publish rate (latency comparable across paths) and the
 * highest rate the publisher's socket takes (throughput). Servers run as child processes, so they
 * do not share the load clients' event loop. Ratios are reported against each peer in the same round.
 *
 * The publisher runs in this process; the receivers run in `--receiver-processes` child processes
 * (bench/lib/fanout-receivers.ts), so that one load process is not the bound of every path. They are
 * `--clients lean` by default (bench/lib/lean-receivers.ts: count WebSocket messages, read only the
 * stamp, the same small cost for STOMP, Socket.IO and the floor, so the servers are what is measured)
 * or `--clients library` (the STOMP parser of the relay, socket.io-client: what an application's own
 * client spends). Latency is delivery time minus the publisher's stamp, on a clock shared by the
 * processes (stampClockMs in bench/lib/stats.ts).
 *
 *     npx tsx bench/fanout.ts [--subscribers 200] [--messages 2000] [--rate 50] [--size 100] [--rounds 1] [--only a,b]
 *                             [--receiver-processes 2] [--clients lean|library] [--profile-relays <dir>] [--dist]
 *
 * The default fixed rate, 50 msg/s × 200 subscribers = 10,000 deliveries/s, is one Web-STOMP keeps up
 * with on the 2-core reference machine (p99 ~15 ms); at 200 msg/s it fell seconds behind, which
 * would compare queueing, not latency. Raise it on bigger machines.
 *
 * Bounded: M messages per scenario, every wait has a deadline; undelivered messages count as lost.
 * The clients share the machine with the servers, so compare the ratios, not the absolute numbers.
 */
import * as os from 'node:os';
import * as pathModule from 'node:path';
import { parseArgs } from 'node:util';
import { startRabbitNode, type RabbitNode } from '../test/harness/rabbitmq';
import { paced, waitForAsync } from './lib/bounded';
import { Cleanup } from './lib/cleanup';
import { ensureOpenFileLimit } from './lib/file-limit';
import { environmentBanner, fmt, markdownTable } from './lib/markdown';
import { cpuSecondsOfProcessesMatching, freePort, selfCpuSeconds, startRelayProcess, type RelayProcess } from './lib/relay-process';
import { stampBody, stampClockMs, type LatencySummary } from './lib/stats';
import { openFloorClient, openSocketIoClient, openStompClient, type FanoutPublisher } from './lib/fanout-clients';
import { FanoutReceivers, type ReceiverClients, type ReceiverCounts, type ReceiverSpec } from './lib/fanout-receivers';
import { startPeerProcess, type PeerProcess } from './lib/peer-process';
import { startRedisServer } from './lib/redis-server';

const { values: args } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '200' },
    messages: { type: 'string', default: '2000' },
    rate: { type: 'string', default: '50' },
    size: { type: 'string', default: '100' },
    /** Max-rate scenario: stop publishing after this long, whatever was sent. */
    'publish-timeout': { type: 'string', default: '60000' },
    /** After the last publish: how long to wait for the remaining deliveries. */
    'drain-timeout': { type: 'string', default: '30000' },
    dist: { type: 'boolean', default: false },
    /** Repeat the whole comparison, alternating the order of paths (ABC, CBA, ...); ratios per round and median. */
    rounds: { type: 'string', default: '1' },
    /** Comma-separated subset of: relay-rabbitmq, web-stomp, relay-embedded, socketio, ws-floor. */
    only: { type: 'string', default: '' },
    /** Child processes the receivers are spread over; default: one per core, at least 2 and at most 4. */
    'receiver-processes': { type: 'string', default: String(Math.max(2, Math.min(4, os.availableParallelism()))) },
    /** Receiver clients: `lean` (same minimal cost on every path) or `library` (the full clients). */
    clients: { type: 'string', default: 'lean' },
    /** Writes a V8 CPU profile of each relay process into this folder when it exits (node --cpu-prof), as bench/scale.ts does. */
    'profile-relays': { type: 'string', default: '' },
    /**
     * Extra Erlang VM flags for the RabbitMQ node (`RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS`), e.g.
     * `--rabbit-erl-args='+sbwt none +sbwtdcpu none +sbwtdio none'` (scheduler busy-waiting off, as
     * RabbitMQ's runtime guide describes for shared CPUs): an operator's setting, measured as its own run.
     */
    'rabbit-erl-args': { type: 'string', default: '' },
  },
  strict: true,
});

const SUBSCRIBERS = positive('subscribers');
const MESSAGES = positive('messages');
const RATE = positive('rate');
const SIZE = positive('size');
const PUBLISH_TIMEOUT_MS = positive('publish-timeout');
const DRAIN_TIMEOUT_MS = positive('drain-timeout');
const ROUNDS = positive('rounds');
const RECEIVER_PROCESSES = positive('receiver-processes');
const CLIENTS = clientsArg(args.clients);
const TOPIC = '/topic/bench.fanout';
/** Paths in the order they run (odd rounds) and are listed. */
const TARGET_ORDER = ['relay-rabbitmq', 'web-stomp', 'relay-embedded', 'socketio', 'ws-floor'];
/** Publisher pauses while this much is queued in its socket (max-rate scenario flow control). */
const PUBLISHER_MAX_BUFFERED = 512 * 1024;
const WARMUP_BASE = 900_000_000;

function positive(name: keyof typeof args): number {
  const n = Number(args[name]);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${String(args[name])}`);
  return n;
}

function clientsArg(value: string | undefined): ReceiverClients {
  if (value === 'lean' || value === 'library') return value;
  throw new Error(`--clients must be lean or library, got ${String(value)}`);
}

/** One server path under test. */
interface Target {
  key: string;
  label: string;
  /** A peer the other paths are compared with (ratios against it are reported). */
  peer?: boolean;
  /** Starts what the path needs; returns how to open its clients, its CPU clock and a stop function. */
  setup(): Promise<PathUnderTest>;
}

interface PathUnderTest {
  /** How the receivers (in the receiver processes) connect. */
  receivers: Omit<ReceiverSpec, 'clients' | 'topic'>;
  openPublisher(): Promise<FanoutPublisher>;
  /** CPU seconds of every server and broker process of the path so far. */
  cpuSeconds(): number;
  /** The broker's (RabbitMQ's or Redis's) part of {@link cpuSeconds}; 0 for paths without one. */
  brokerCpuSeconds(): number;
  stop(): Promise<void>;
}

interface Scenario {
  name: string;
  rate: number;
}

interface Row {
  round: number;
  target: Target;
  scenario: Scenario;
  sent: number;
  publishSeconds: number;
  deliverySeconds: number;
  counts: ReceiverCounts;
  latency: LatencySummary;
  errors: number;
  closedSubscribers: number;
  serverCpu: number;
  /** The broker's part of serverCpu. */
  brokerCpu: number;
  /** CPU of this process (the publisher) and of the receiver processes, during the scenario. */
  publisherCpu: number;
  receiverCpu: number;
  /** 1-minute load average when the scenario started (the machine is shared: read ratios). */
  load: number;
}

async function main(): Promise<void> {
  // Receiver processes inherit the limit; relays are separate processes.
  ensureOpenFileLimit(SUBSCRIBERS + 256);
  const cleanup = new Cleanup();
  const rows: Row[] = [];
  try {
    process.stdout.write(`${environmentBanner()}\n`);
    process.stdout.write(`${SUBSCRIBERS} subscribers on ${TOPIC} (${CLIENTS} clients in ${RECEIVER_PROCESSES} receiver processes), 1 publisher, ${MESSAGES} messages of ${SIZE} B per scenario; relays run as child processes (${args.dist ? 'dist/server/cli.js' : 'server/cli.ts via tsx'}).\n\n`);

    const scenarios: Scenario[] = [
      { name: `fixed ${RATE} msg/s`, rate: RATE },
      { name: 'max rate', rate: Infinity },
    ];
    // The RabbitMQ node starts only when a selected path uses it.
    let node: Promise<RabbitNode> | undefined;
    const rabbit = (): Promise<RabbitNode> => (node ??= startRabbitNode({ erlArgs: args['rabbit-erl-args'] || undefined }).then((n) => {
      cleanup.add('RabbitMQ node', () => n.stop());
      return n;
    }));
    const targets = buildTargets(rabbit, cleanup);
    const only = args.only ? new Set(args.only.split(',')) : undefined;
    const unknown = [...(only ?? [])].filter((k) => !targets.some((t) => t.key === k));
    if (unknown.length > 0) throw new Error(`--only: unknown path ${unknown.join(', ')} (known: ${targets.map((t) => t.key).join(', ')})`);
    const selected = targets.filter((t) => !only || only.has(t.key));
    for (let round = 1; round <= ROUNDS; round++) {
      // Alternate the order so that a path is not always the one measured while the box warms up.
      for (const target of round % 2 === 1 ? selected : [...selected].reverse()) {
        process.stderr.write(`round ${round}: ${target.label}: connecting ${SUBSCRIBERS} subscribers\n`);
        rows.push(...(await runTarget(target, scenarios, cleanup, round)));
      }
    }
    process.stdout.write(report(rows) + '\n');
  } finally {
    await cleanup.run();
  }
}

function buildTargets(rabbit: () => Promise<RabbitNode>, cleanup: Cleanup): Target[] {
  const rabbitCpu = async (): Promise<() => number> => {
    const node = await rabbit();
    return () => cpuSecondsOfProcessesMatching(node.dir);
  };
  const relays = async (count: number, node: RabbitNode | undefined): Promise<RelayProcess[]> => {
    const brokerUrl = node?.brokerUrl;
    const started: RelayProcess[] = [];
    for (let i = 0; i < count; i++) {
      const relay = await startRelayProcess({
        brokerUrl, brokerAmqpUrl: node?.amqpUrl, instanceId: `bench-${brokerUrl ? 'rmq' : 'mem'}-${String.fromCharCode(65 + i)}`, dist: args.dist,
        nodeArgs: args['profile-relays'] ? ['--cpu-prof', `--cpu-prof-dir=${pathModule.resolve(args['profile-relays'])}`] : undefined,
      });
      started.push(relay);
      cleanup.add(`relay ${relay.instanceId}`, () => relay.stop(), () => relay.kill());
    }
    return started;
  };
  /** Receivers on `urls` round-robin (login `bench-<i>` unless `login`), the publisher on `publisherUrl`. */
  const stomp = (urls: string[], publisherUrl: string, login?: string, passcode?: string) => ({
    receivers: { protocol: 'stomp' as const, urls, login, passcode },
    openPublisher: () => openStompClient({ url: publisherUrl, login: login ?? `bench-${SUBSCRIBERS}`, passcode }),
  });
  const peers = async (count: number, start: (i: number) => Promise<PeerProcess>): Promise<PeerProcess[]> => {
    const started: PeerProcess[] = [];
    for (let i = 0; i < count; i++) {
      const peer = await start(i);
      started.push(peer);
      cleanup.add(peer.name, () => peer.stop(), () => peer.kill());
    }
    return started;
  };
  const relayTarget = (key: string, label: string, count: number, withRabbit: boolean): Target => ({
    key,
    label,
    async setup() {
      const node = withRabbit ? await rabbit() : undefined;
      const brokerCpu = withRabbit ? await rabbitCpu() : () => 0;
      const rs = await relays(count, node);
      return {
        ...stomp(rs.map((r) => r.wsUrl), rs[0]!.wsUrl),
        // RabbitMQ works for the relays too, so the server-side CPU includes it.
        cpuSeconds: () => rs.reduce((sum, r) => sum + r.cpuSeconds(), 0) + brokerCpu(),
        brokerCpuSeconds: brokerCpu,
        stop: async () => { for (const r of rs) await r.stop(); },
      };
    },
  });
  return [
    relayTarget('relay-rabbitmq', 'relay ×2 → RabbitMQ', 2, true),
    {
      key: 'web-stomp',
      label: 'RabbitMQ Web-STOMP (peer)',
      peer: true,
      async setup() {
        const url = `ws://127.0.0.1:${(await rabbit()).webStompPort}/ws`;
        const brokerCpu = await rabbitCpu();
        return { ...stomp([url], url, 'guest', 'guest'), cpuSeconds: brokerCpu, brokerCpuSeconds: brokerCpu, stop: async () => undefined };
      },
    },
    relayTarget('relay-embedded', 'relay ×1, embedded broker', 1, false),
    {
      key: 'socketio',
      label: 'Socket.IO ×2 + Redis (peer)',
      peer: true,
      async setup() {
        const redis = await startRedisServer();
        const dropRedis = cleanup.add('redis-server', () => redis.stop(), () => redis.kill());
        const servers = await peers(2, async (i) => startPeerProcess({
          name: `socketio-${String.fromCharCode(65 + i)}`, script: 'bench/peers/socketio/server.ts', port: await freePort(), env: { REDIS_URL: redis.url },
        }));
        const urls = servers.map((p) => `http://127.0.0.1:${p.port}`);
        return {
          receivers: { protocol: 'socketio', urls },
          openPublisher: () => openSocketIoClient(urls[0]!),
          cpuSeconds: () => servers.reduce((sum, p) => sum + p.cpuSeconds(), 0) + redis.cpuSeconds(),
          brokerCpuSeconds: () => redis.cpuSeconds(),
          stop: async () => {
            for (const p of servers) await p.stop();
            await dropRedis();
          },
        };
      },
    },
    {
      key: 'ws-floor',
      label: 'bare ws floor ×1 (peer)',
      peer: true,
      async setup() {
        const [floor] = await peers(1, async () => startPeerProcess({ name: 'ws-floor', script: 'bench/peers/ws-floor/server.ts', port: await freePort() }));
        const url = `ws://127.0.0.1:${floor!.port}`;
        return {
          receivers: { protocol: 'floor', urls: [url] },
          openPublisher: () => openFloorClient(url, 'pub'),
          cpuSeconds: () => floor!.cpuSeconds(),
          brokerCpuSeconds: () => 0,
          stop: () => floor!.stop(),
        };
      },
    },
  ];
}

async function runTarget(target: Target, scenarios: Scenario[], cleanup: Cleanup, round: number): Promise<Row[]> {
  const path = await target.setup();
  const receivers = FanoutReceivers.start({ ...path.receivers, clients: CLIENTS, topic: TOPIC }, SUBSCRIBERS, RECEIVER_PROCESSES);
  const dropReceivers = cleanup.add(`${target.label} receivers`, () => receivers.close(), () => receivers.kill());
  let publisher: FanoutPublisher | undefined;
  const dropPublisher = cleanup.add(`${target.label} publisher`, async () => { await publisher?.close(); }, () => publisher?.terminate());
  const rows: Row[] = [];
  try {
    await receivers.open();
    publisher = await path.openPublisher();
    await receivers.track(WARMUP_BASE, 1_000_000);
    await receivers.subscribe();

    // Warm-up: publish until every subscriber has seen a message (routes exist on every instance).
    let warmSeq = 0;
    let reached = 0;
    const warmed = await waitForAsync(async () => {
      reached = (await receivers.counts()).subscribersReached;
      if (reached < SUBSCRIBERS) publisher!.publish(TOPIC, stampBody(WARMUP_BASE + warmSeq++, stampClockMs(), SIZE));
      return reached >= SUBSCRIBERS;
    }, 15_000, 50);
    if (!warmed.met) throw new Error(`${target.label}: only ${reached}/${SUBSCRIBERS} subscribers got a warm-up message within 15 s`);

    for (const [s, scenario] of scenarios.entries()) {
      process.stderr.write(`${target.label}: ${scenario.name}\n`);
      const base = (s + 1) * 10_000_000;
      await receivers.track(base, MESSAGES);
      const load = os.loadavg()[0]!;
      const serverCpu0 = path.cpuSeconds();
      const brokerCpu0 = path.brokerCpuSeconds();
      const publisherCpu0 = selfCpuSeconds();
      const receiverCpu0 = receivers.cpuSeconds();
      const start = stampClockMs();
      const publishBudget = scenario.rate === Infinity ? PUBLISH_TIMEOUT_MS : Math.max(PUBLISH_TIMEOUT_MS, (3 * MESSAGES * 1000) / scenario.rate);
      const sent = await paced({
        count: MESSAGES,
        rate: scenario.rate,
        sendOne: (i) => publisher!.publish(TOPIC, stampBody(base + i, stampClockMs(), SIZE)),
        canSend: () => publisher!.bufferedAmount < PUBLISHER_MAX_BUFFERED,
        deadline: Date.now() + publishBudget,
      });
      const publishSeconds = (stampClockMs() - start) / 1000;
      // Polling the receiver processes costs them an IPC message per interval: 20 ms is 50 a second.
      let counts = await receivers.counts();
      await waitForAsync(async () => {
        counts = await receivers.counts();
        return counts.delivered >= SUBSCRIBERS * sent || publisher!.closed;
      }, DRAIN_TIMEOUT_MS, 20);
      // CPU first: reading the samples is work of the receiver processes, not part of the scenario.
      const serverCpu = path.cpuSeconds() - serverCpu0;
      const brokerCpu = path.brokerCpuSeconds() - brokerCpu0;
      const publisherCpu = selfCpuSeconds() - publisherCpu0;
      const receiverCpu = receivers.cpuSeconds() - receiverCpu0;
      counts = await receivers.counts();
      rows.push({
        round,
        target,
        scenario,
        sent,
        publishSeconds,
        deliverySeconds: (counts.lastDeliveryAt - start) / 1000,
        counts,
        latency: (await receivers.latency()).summary(),
        errors: counts.errors + publisher.errors,
        closedSubscribers: counts.closed,
        serverCpu,
        brokerCpu,
        publisherCpu,
        receiverCpu,
        load,
      });
    }
    return rows;
  } finally {
    await dropPublisher();
    await dropReceivers();
    await path.stop();
  }
}

function report(rows: Row[]): string {
  const out: string[] = [];
  const perDeliveryUs = (row: Row): number => (row.serverCpu / Math.max(1, row.counts.delivered)) * 1e6;
  const rate = (row: Row): number => row.counts.delivered / row.deliverySeconds;
  out.push(markdownTable(
    ['round', 'server path', 'scenario', 'sent', 'publish msg/s', 'deliveries/s', 'p50 ms', 'p99 ms', 'max ms', 'undelivered at deadline', 'dup', 'errors / closed subs', 'server CPU s', 'of which broker', 'server CPU µs / delivery', 'publisher CPU s', 'receivers CPU s', 'load 1 min'],
    rows.map((r) => [
      String(r.round),
      r.target.label,
      r.scenario.name,
      fmt.int(r.sent),
      fmt.int(r.sent / r.publishSeconds),
      fmt.int(rate(r)),
      fmt.ms(r.latency.p50),
      fmt.ms(r.latency.p99),
      fmt.ms(r.latency.max),
      // Lost counts against what was published; messages never sent (publish timeout) are not "lost".
      fmt.int(SUBSCRIBERS * r.sent - r.counts.delivered),
      fmt.int(r.counts.duplicates),
      `${r.errors} / ${r.closedSubscribers}`,
      r.serverCpu.toFixed(1),
      r.brokerCpu.toFixed(1),
      perDeliveryUs(r).toFixed(2),
      r.publisherCpu.toFixed(1),
      r.receiverCpu.toFixed(1),
      r.load.toFixed(2),
    ]),
    ['r', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  ));
  out.push('');
  out.push(`Server CPU: every server and broker process of the path (relays + RabbitMQ node; Web-STOMP: the node; Socket.IO: both instances + redis-server; floor: its process), from /proc/<pid>/stat. Publisher CPU: this process; receivers CPU: the ${RECEIVER_PROCESSES} receiver processes (${CLIENTS} clients). Deliveries/s: counted deliveries ÷ (last delivery − first publish).`);
  // Every path against every peer of the same round and scenario; a peer only against the peers
  // listed after it (Web-STOMP and Socket.IO against the floor), so no pair appears twice.
  const order = (row: Row): number => TARGET_ORDER.indexOf(row.target.key);
  const ratios = rows.flatMap((r) => rows
    .filter((p) => p.target.peer && p.scenario === r.scenario && p.round === r.round && (!r.target.peer || order(p) > order(r)))
    .map((p) => {
      const mine = r.latency;
      const theirs = p.latency;
      return { row: r, peer: p, values: [rate(r) / rate(p), mine.p50 / theirs.p50, mine.p99 / theirs.p99, perDeliveryUs(r) / perDeliveryUs(p)] };
    }));
  const ratioHeader = ['deliveries/s ÷ peer', 'p50 ÷ peer', 'p99 ÷ peer', 'server CPU per delivery ÷ peer'];
  if (ratios.length > 0) {
    out.push('');
    out.push('Ratios against each peer in the same round (throughput: higher is better; latency and CPU: lower is better; max-rate latencies are queueing time of the burst):');
    out.push('');
    out.push(markdownTable(['round', 'server path', 'peer', 'scenario', ...ratioHeader],
      ratios.map((x) => [String(x.row.round), x.row.target.label, x.peer.target.label, x.row.scenario.name, ...x.values.map(fmt.ratio)]),
      ['r', 'l', 'l', 'l', 'r', 'r', 'r', 'r']));
  }
  if (ROUNDS > 1 && ratios.length > 0) {
    const groups = new Map<string, typeof ratios>();
    for (const x of ratios) {
      const key = `${x.row.target.key}\u0000${x.peer.target.key}\u0000${x.row.scenario.name}`;
      groups.set(key, [...(groups.get(key) ?? []), x]);
    }
    out.push('');
    out.push(`Median over ${ROUNDS} rounds:`);
    out.push('');
    out.push(markdownTable(['server path', 'peer', 'scenario', ...ratioHeader],
      [...groups.values()].map((g) => [g[0]!.row.target.label, g[0]!.peer.target.label, g[0]!.row.scenario.name,
        ...g[0]!.values.map((_, i) => fmt.ratio(median(g.map((x) => x.values[i]!))))]),
      ['l', 'l', 'l', 'r', 'r', 'r', 'r']));
  }
  return out.join('\n');
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`fanout bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);

/**
 * Topic fan-out: one publisher, N subscribers on one topic, 100-byte messages; the same client code
 * against three broker paths, side by side in one run on one machine:
 *
 *   1. two relay instances on one private RabbitMQ node (subscribers spread over both, publisher on A),
 *   2. RabbitMQ's own Web-STOMP plugin on that node (the peer: what browsers would use without a relay),
 *   3. one relay instance with the embedded broker.
 *
 * Each path runs two scenarios: a fixed publish rate (latency comparable across paths) and the
 * highest rate the publisher's socket takes (throughput). Relays run as child processes (the CLI),
 * so they do not share the load clients' event loop.
 *
 *     npx tsx bench/fanout.ts [--subscribers 200] [--messages 2000] [--rate 50] [--size 100] [--rounds 1] [--dist]
 *
 * The default fixed rate, 50 msg/s × 200 subscribers = 10,000 deliveries/s, is one Web-STOMP keeps up
 * with on the 2-core reference machine (p99 ~15 ms); at 200 msg/s it fell seconds behind, which
 * would compare queueing, not latency. Raise it on bigger machines.
 *
 * Bounded: M messages per scenario, every wait has a deadline; undelivered messages count as lost.
 * The clients share the machine with the servers, so compare the ratios, not the absolute numbers.
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { startRabbitNode, type RabbitNode } from '../test/harness/rabbitmq';
import { paced, waitFor } from './lib/bounded';
import { Cleanup } from './lib/cleanup';
import { DeliveryTracker } from './lib/delivery-tracker';
import { ensureOpenFileLimit } from './lib/file-limit';
import { environmentBanner, fmt, markdownTable } from './lib/markdown';
import { cpuSecondsOfProcessesMatching, selfCpuSeconds, startRelayProcess, type RelayProcess } from './lib/relay-process';
import { stampBody } from './lib/stats';
import { connectMany, connectStomp, type StompWsClient } from './lib/stomp-ws-client';

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
    /** Comma-separated subset of: relay-rabbitmq, web-stomp, relay-embedded. */
    only: { type: 'string', default: '' },
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
const TOPIC = '/topic/bench.fanout';
/** Publisher pauses while this much is queued in its socket (max-rate scenario flow control). */
const PUBLISHER_MAX_BUFFERED = 512 * 1024;
const WARMUP_BASE = 900_000_000;

function positive(name: keyof typeof args): number {
  const n = Number(args[name]);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${String(args[name])}`);
  return n;
}

/** One broker path under test. */
interface Target {
  key: string;
  label: string;
  /** Starts what the path needs; returns URLs and a stop function. */
  setup(): Promise<{ subscriberUrl(i: number): string; publisherUrl: string; login(i: number): string; passcode?: string; cpuSeconds(): number; stop(): Promise<void> }>;
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
  tracker: DeliveryTracker;
  errors: number;
  closedSubscribers: number;
  serverCpu: number;
  clientCpu: number;
}

async function main(): Promise<void> {
  // Subscribers + publisher in this process, plus slack; relays are separate processes.
  ensureOpenFileLimit(SUBSCRIBERS + 256);
  const cleanup = new Cleanup();
  const rows: Row[] = [];
  try {
    process.stdout.write(`${environmentBanner()}\n`);
    process.stdout.write(`${SUBSCRIBERS} subscribers on ${TOPIC}, 1 publisher, ${MESSAGES} messages of ${SIZE} B per scenario; relays run as child processes (${args.dist ? 'dist/server/cli.js' : 'server/cli.ts via tsx'}).\n\n`);

    const node = await startRabbitNode();
    cleanup.add('RabbitMQ node', () => node.stop());
    const rabbitCpu = (): number => cpuSecondsOfProcessesMatching(node.dir);

    const scenarios: Scenario[] = [
      { name: `fixed ${RATE} msg/s`, rate: RATE },
      { name: 'max rate', rate: Infinity },
    ];
    const targets = buildTargets(node, rabbitCpu, cleanup);
    const only = args.only ? new Set(args.only.split(',')) : undefined;
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

function buildTargets(node: RabbitNode, rabbitCpu: () => number, cleanup: Cleanup): Target[] {
  const relays = async (count: number, brokerUrl: string | undefined): Promise<RelayProcess[]> => {
    const started: RelayProcess[] = [];
    for (let i = 0; i < count; i++) {
      const relay = await startRelayProcess({ brokerUrl, brokerAmqpUrl: brokerUrl ? node.amqpUrl : undefined, instanceId: `bench-${brokerUrl ? 'rmq' : 'mem'}-${String.fromCharCode(65 + i)}`, dist: args.dist });
      started.push(relay);
      cleanup.add(`relay ${relay.instanceId}`, () => relay.stop(), () => relay.kill());
    }
    return started;
  };
  const relayTarget = (key: string, label: string, count: number, brokerUrl: string | undefined): Target => ({
    key,
    label,
    async setup() {
      const rs = await relays(count, brokerUrl);
      return {
        subscriberUrl: (i) => rs[i % rs.length]!.wsUrl,
        publisherUrl: rs[0]!.wsUrl,
        login: (i) => `bench-${i}`,
        // RabbitMQ works for the relays too, so the server-side CPU includes it.
        cpuSeconds: () => rs.reduce((sum, r) => sum + r.cpuSeconds(), 0) + (brokerUrl ? rabbitCpu() : 0),
        stop: async () => { for (const r of rs) await r.stop(); },
      };
    },
  });
  return [
    relayTarget('relay-rabbitmq', 'relay ×2 → RabbitMQ', 2, node.brokerUrl),
    {
      key: 'web-stomp',
      label: 'RabbitMQ Web-STOMP (peer)',
      async setup() {
        const url = `ws://127.0.0.1:${node.webStompPort}/ws`;
        return { subscriberUrl: () => url, publisherUrl: url, login: () => 'guest', passcode: 'guest', cpuSeconds: rabbitCpu, stop: async () => undefined };
      },
    },
    relayTarget('relay-embedded', 'relay ×1, embedded broker', 1, undefined),
  ];
}

async function runTarget(target: Target, scenarios: Scenario[], cleanup: Cleanup, round: number): Promise<Row[]> {
  const path = await target.setup();
  const clients: StompWsClient[] = [];
  const dropClients = cleanup.add(`${target.label} clients`, async () => {
    await Promise.all(clients.map((c) => c.close(1_000)));
  }, () => clients.forEach((c) => c.terminate()));
  const rows: Row[] = [];
  try {
    const subscribers = await connectMany(SUBSCRIBERS, (i) => ({ url: path.subscriberUrl(i), login: path.login(i), passcode: path.passcode }));
    clients.push(...subscribers);
    const publisher = await connectStomp({ url: path.publisherUrl, login: path.login(SUBSCRIBERS), passcode: path.passcode });
    clients.push(publisher);

    let tracker = new DeliveryTracker(SUBSCRIBERS, WARMUP_BASE, 1_000_000);
    for (let i = 0; i < subscribers.length; i += 100) {
      await Promise.all(subscribers.slice(i, i + 100).map((c, j) =>
        c.subscribe(TOPIC, (frame) => tracker.onMessage(i + j, frame.body, performance.now()))));
    }

    // Warm-up: publish until every subscriber has seen a message (routes exist on every instance).
    const warm = tracker;
    let warmSeq = 0;
    const warmed = await waitFor(() => {
      if (warm.subscribersReached < SUBSCRIBERS) publisher.send(TOPIC, stampBody(WARMUP_BASE + warmSeq++, performance.now(), SIZE));
      return warm.subscribersReached >= SUBSCRIBERS;
    }, 15_000, 50);
    if (!warmed.met) throw new Error(`${target.label}: only ${warm.subscribersReached}/${SUBSCRIBERS} subscribers got a warm-up message within 15 s`);

    for (const [s, scenario] of scenarios.entries()) {
      process.stderr.write(`${target.label}: ${scenario.name}\n`);
      const base = (s + 1) * 10_000_000;
      tracker = new DeliveryTracker(SUBSCRIBERS, base, MESSAGES);
      const run = tracker;
      const serverCpu0 = path.cpuSeconds();
      const clientCpu0 = selfCpuSeconds();
      const start = performance.now();
      const publishBudget = scenario.rate === Infinity ? PUBLISH_TIMEOUT_MS : Math.max(PUBLISH_TIMEOUT_MS, (3 * MESSAGES * 1000) / scenario.rate);
      const sent = await paced({
        count: MESSAGES,
        rate: scenario.rate,
        sendOne: (i) => publisher.send(TOPIC, stampBody(base + i, performance.now(), SIZE)),
        canSend: () => publisher.bufferedAmount < PUBLISHER_MAX_BUFFERED,
        deadline: Date.now() + publishBudget,
      });
      const publishSeconds = (performance.now() - start) / 1000;
      await waitFor(() => run.delivered >= SUBSCRIBERS * sent || publisher.closed, DRAIN_TIMEOUT_MS, 5);
      rows.push({
        round,
        target,
        scenario,
        sent,
        publishSeconds,
        deliverySeconds: (run.lastDeliveryAt - start) / 1000,
        tracker: run,
        errors: clients.reduce((n, c) => n + c.errors.length, 0),
        closedSubscribers: subscribers.filter((c) => c.closed).length,
        serverCpu: path.cpuSeconds() - serverCpu0,
        clientCpu: selfCpuSeconds() - clientCpu0,
      });
    }
    return rows;
  } finally {
    await dropClients();
    await path.stop();
  }
}

function report(rows: Row[]): string {
  const out: string[] = [];
  out.push(markdownTable(
    ['round', 'broker path', 'scenario', 'sent', 'publish msg/s', 'deliveries/s', 'p50 ms', 'p99 ms', 'max ms', 'undelivered at deadline', 'dup', 'ERROR frames / closed subs', 'server CPU s', 'client CPU s'],
    rows.map((r) => [
      String(r.round),
      r.target.label,
      r.scenario.name,
      fmt.int(r.sent),
      fmt.int(r.sent / r.publishSeconds),
      fmt.int(r.tracker.delivered / r.deliverySeconds),
      fmt.ms(r.tracker.latency.summary().p50),
      fmt.ms(r.tracker.latency.summary().p99),
      fmt.ms(r.tracker.latency.summary().max),
      // Lost counts against what was published; messages never sent (publish timeout) are not "lost".
      fmt.int(SUBSCRIBERS * r.sent - r.tracker.delivered),
      fmt.int(r.tracker.duplicates),
      `${r.errors} / ${r.closedSubscribers}`,
      r.serverCpu.toFixed(1),
      r.clientCpu.toFixed(1),
    ]),
    ['r', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  ));
  out.push('');
  out.push('Server CPU: relay processes plus the RabbitMQ node where the path uses it (Web-STOMP: the node alone). Deliveries/s: counted deliveries ÷ (last delivery − first publish).');
  const peer = (r: Row) => rows.find((p) => p.target.key === 'web-stomp' && p.scenario === r.scenario && p.round === r.round);
  const perDelivery = (row: Row) => row.serverCpu / Math.max(1, row.tracker.delivered);
  const ratios = rows.filter((r) => r.target.key !== 'web-stomp' && peer(r)).map((r) => {
    const p = peer(r)!;
    const mine = r.tracker.latency.summary();
    const theirs = p.tracker.latency.summary();
    return {
      row: r,
      values: [
        (r.tracker.delivered / r.deliverySeconds) / (p.tracker.delivered / p.deliverySeconds),
        mine.p50 / theirs.p50,
        mine.p99 / theirs.p99,
        perDelivery(r) / perDelivery(p),
      ],
    };
  });
  const ratioHeader = ['deliveries/s ÷ peer', 'p50 ÷ peer', 'p99 ÷ peer', 'server CPU per delivery ÷ peer'];
  if (ratios.length > 0) {
    out.push('');
    out.push('Ratios against RabbitMQ Web-STOMP in the same round (throughput: higher is better; latency and CPU: lower is better):');
    out.push('');
    out.push(markdownTable(['round', 'broker path', 'scenario', ...ratioHeader],
      ratios.map((x) => [String(x.row.round), x.row.target.label, x.row.scenario.name, ...x.values.map(fmt.ratio)]),
      ['r', 'l', 'l', 'r', 'r', 'r', 'r']));
  }
  if (ROUNDS > 1 && ratios.length > 0) {
    const groups = new Map<string, typeof ratios>();
    for (const x of ratios) {
      const key = `${x.row.target.label}\u0000${x.row.scenario.name}`;
      groups.set(key, [...(groups.get(key) ?? []), x]);
    }
    out.push('');
    out.push(`Median over ${ROUNDS} rounds:`);
    out.push('');
    out.push(markdownTable(['broker path', 'scenario', ...ratioHeader],
      [...groups.values()].map((g) => [g[0]!.row.target.label, g[0]!.row.scenario.name,
        ...g[0]!.values.map((_, i) => fmt.ratio(median(g.map((x) => x.values[i]!))))]),
      ['l', 'l', 'r', 'r', 'r', 'r']));
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

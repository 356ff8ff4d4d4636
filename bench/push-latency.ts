/**
 * Server push across instances: users `u0..u{N-1}` connected to relay A subscribe
 * `/user/queue/bench`; `POST /push/u<i>` goes to relay B; both relays share one private RabbitMQ
 * node. Measures latency from "request sent" to "MESSAGE received" (p50/p99), the HTTP answer time,
 * and sustained pushes/s with K requests in flight (keep-alive connections), for each K given.
 *
 * Side by side in the same run:
 *   - relay A ← POST to relay B (RabbitMQ): the cross-instance case this product exists for;
 *   - relay A ← POST to relay A (RabbitMQ): same instance, to isolate the cost of the second hop;
 *   - relay ×1, embedded broker;
 *   - peer: RabbitMQ Web-STOMP alone: K STOMP publishers SEND (with receipt, so K in flight like K
 *     HTTP requests) to `/exchange/amq.direct/bench-peer.u<i>`, the users subscribed to that on
 *     Web-STOMP. The same per-user routing through RabbitMQ, with neither HTTP nor relay.
 *
 *     npx tsx bench/push-latency.ts [--users 100] [--pushes 5000] [--concurrency 1,16] [--dist]
 *
 * Bounded: P pushes per scenario, deadlines on every wait. Loopback only.
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { startRabbitNode } from '../test/harness/rabbitmq';
import { runConcurrently, waitFor } from './lib/bounded';
import { Cleanup } from './lib/cleanup';
import { DeliveryTracker } from './lib/delivery-tracker';
import { ensureOpenFileLimit } from './lib/file-limit';
import { environmentBanner, fmt, markdownTable } from './lib/markdown';
import { PushClient } from './lib/push-client';
import { cpuSecondsOfProcessesMatching, startRelayProcess, type RelayProcess } from './lib/relay-process';
import { LatencyRecorder, stampBody } from './lib/stats';
import { connectMany, type StompWsClient } from './lib/stomp-ws-client';

const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '100' },
    pushes: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '1,16' },
    /** Per scenario: stop pushing after this long. */
    'push-timeout': { type: 'string', default: '60000' },
    'drain-timeout': { type: 'string', default: '15000' },
    dist: { type: 'boolean', default: false },
    /** Comma-separated subset of: cross-instance, same-instance, embedded, web-stomp. */
    only: { type: 'string', default: '' },
  },
  strict: true,
});

const USERS = positive(args.users, 'users');
const PUSHES = positive(args.pushes, 'pushes');
const CONCURRENCY = args.concurrency.split(',').map((c) => positive(c, 'concurrency'));
const PUSH_TIMEOUT_MS = positive(args['push-timeout'], 'push-timeout');
const DRAIN_TIMEOUT_MS = positive(args['drain-timeout'], 'drain-timeout');
/** Stamp bodies are about 20 bytes; no padding (a push payload is usually small JSON). */
const STAMP_SIZE = 1;
const WARMUP_BASE = 900_000_000;

function positive(value: string, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got ${value}`);
  return n;
}

/** How one path pushes message `seq` to user `i`; resolves when the push was accepted. */
type Pusher = (user: number, seq: number, sentAt: number) => Promise<void>;

interface PathUnderTest {
  subscriberUrl: string;
  login(i: number): string;
  passcode?: string;
  /** Where users subscribe. */
  destination(i: number): string;
  /** Makes a pusher for K in flight. */
  pusher(concurrency: number): Promise<{ push: Pusher; close(): Promise<void> }>;
  cpuSeconds(): number;
  stop(): Promise<void>;
}

interface Target {
  key: string;
  label: string;
  setup(): Promise<PathUnderTest>;
}

interface Row {
  target: Target;
  concurrency: number;
  accepted: number;
  failed: number;
  pushSeconds: number;
  tracker: DeliveryTracker;
  answer: LatencyRecorder;
  serverCpu: number;
}

async function main(): Promise<void> {
  ensureOpenFileLimit(USERS + Math.max(...CONCURRENCY) * 2 + 256);
  const cleanup = new Cleanup();
  const rows: Row[] = [];
  try {
    process.stdout.write(`${environmentBanner()}\n`);
    process.stdout.write(`${USERS} users (one session each) subscribed to /user/queue/bench; ${PUSHES} pushes per scenario, round-robin over users, ` +
      `K = ${CONCURRENCY.join(', ')} requests in flight (HTTP keep-alive); relays run as child processes (${args.dist ? 'dist/server/cli.js' : 'server/cli.ts via tsx'}).\n\n`);
    const node = await startRabbitNode();
    cleanup.add('RabbitMQ node', () => node.stop());
    const rabbitCpu = (): number => cpuSecondsOfProcessesMatching(node.dir);

    const relays = async (brokerUrl: string | undefined, names: string[]): Promise<RelayProcess[]> => {
      const started: RelayProcess[] = [];
      for (const name of names) {
        const relay = await startRelayProcess({ brokerUrl, brokerAmqpUrl: brokerUrl ? node.amqpUrl : undefined, instanceId: name, dist: args.dist });
        cleanup.add(`relay ${name}`, () => relay.stop(), () => relay.kill());
        started.push(relay);
      }
      return started;
    };
    const relayPath = (subscribeOn: RelayProcess, pushTo: RelayProcess, all: RelayProcess[], withRabbit: boolean): PathUnderTest => ({
      subscriberUrl: subscribeOn.wsUrl,
      login: (i) => `u${i}`,
      destination: () => '/user/queue/bench',
      pusher: async (k) => httpPusher(pushTo, k),
      cpuSeconds: () => all.reduce((s, r) => s + r.cpuSeconds(), 0) + (withRabbit ? rabbitCpu() : 0),
      stop: async () => { for (const r of all) await r.stop(); },
    });

    const targets: Target[] = [
      {
        key: 'cross-instance',
        label: 'relay A ← POST relay B (RabbitMQ)',
        async setup() {
          const [a, b] = await relays(node.brokerUrl, ['bench-push-A', 'bench-push-B']);
          return relayPath(a!, b!, [a!, b!], true);
        },
      },
      {
        key: 'same-instance',
        label: 'relay A ← POST relay A (RabbitMQ)',
        async setup() {
          const [a] = await relays(node.brokerUrl, ['bench-push-A1']);
          return relayPath(a!, a!, [a!], true);
        },
      },
      {
        key: 'embedded',
        label: 'relay ×1, embedded broker',
        async setup() {
          const [a] = await relays(undefined, ['bench-push-mem']);
          return relayPath(a!, a!, [a!], false);
        },
      },
      {
        key: 'web-stomp',
        label: 'Web-STOMP SEND → Web-STOMP (peer)',
        async setup() {
          const url = `ws://127.0.0.1:${node.webStompPort}/ws`;
          const destination = (i: number): string => `/exchange/amq.direct/bench-peer.u${i}`;
          return {
            subscriberUrl: url,
            login: () => 'guest',
            passcode: 'guest',
            destination,
            pusher: async (k) => {
              const publishers = await connectMany(k, () => ({ url, login: 'guest', passcode: 'guest' }));
              // Request i goes out on connection i % K; each of the K workers waits for its RECEIPT.
              let next = 0;
              return {
                push: (user, seq, sentAt) => publishers[next++ % k]!.sendConfirmed(destination(user), stampBody(seq, sentAt, STAMP_SIZE)),
                close: async () => { await Promise.all(publishers.map((p) => p.close(1_000))); },
              };
            },
            cpuSeconds: rabbitCpu,
            stop: async () => undefined,
          };
        },
      },
    ];
    const only = args.only ? new Set(args.only.split(',')) : undefined;
    for (const target of targets) {
      if (only && !only.has(target.key)) continue;
      process.stderr.write(`${target.label}\n`);
      rows.push(...(await runTarget(target, cleanup)));
    }
    process.stdout.write(report(rows) + '\n');
  } finally {
    await cleanup.run();
  }
}

/** POST /push/u<i> over K keep-alive connections; anything but 202 counts as a failed push. */
function httpPusher(relay: RelayProcess, k: number): { push: Pusher; close(): Promise<void> } {
  const client = new PushClient(relay.httpUrl, k);
  const push: Pusher = async (user, seq, sentAt) => {
    const answer = await client.push(`u${user}`, '/queue/bench', stampBody(seq, sentAt, STAMP_SIZE).toString('latin1'));
    if (answer.status !== 202) throw new Error(`POST /push/u${user}: ${answer.status} ${answer.text}`);
  };
  return { push, close: async () => client.close() };
}

async function runTarget(target: Target, cleanup: Cleanup): Promise<Row[]> {
  const path = await target.setup();
  const clients: StompWsClient[] = [];
  const dropClients = cleanup.add(`${target.label} clients`, async () => {
    await Promise.all(clients.map((c) => c.close(1_000)));
  }, () => clients.forEach((c) => c.terminate()));
  const rows: Row[] = [];
  try {
    clients.push(...(await connectMany(USERS, (i) => ({ url: path.subscriberUrl, login: path.login(i), passcode: path.passcode }))));
    // Each user's session counts as subscriber 0 of a one-subscriber tracker: a push reaches one user.
    let tracker = new DeliveryTracker(1, WARMUP_BASE, 1_000_000);
    await Promise.all(clients.map((c, i) => c.subscribe(path.destination(i), (frame) => tracker.onMessage(0, frame.body, performance.now()))));

    // Warm-up: one push per user, all must arrive (routes exist, connections to the relay are open).
    const warmPusher = await path.pusher(Math.min(8, USERS));
    const warm = tracker = new DeliveryTracker(1, WARMUP_BASE, USERS);
    await runConcurrently(USERS, Math.min(8, USERS), (i) => warmPusher.push(i, WARMUP_BASE + i, performance.now()), Date.now() + 30_000);
    await warmPusher.close();
    const warmed = await waitFor(() => warm.complete(), 15_000);
    if (!warmed.met) throw new Error(`${target.label}: ${warm.delivered}/${USERS} warm-up pushes arrived within 15 s`);

    for (const [s, k] of CONCURRENCY.entries()) {
      process.stderr.write(`${target.label}: K = ${k}\n`);
      const base = (s + 1) * 10_000_000;
      const run = tracker = new DeliveryTracker(1, base, PUSHES);
      const answer = new LatencyRecorder(PUSHES);
      const pusher = await path.pusher(k);
      let accepted = 0;
      let failed = 0;
      let firstFailure = '';
      const cpu0 = path.cpuSeconds();
      const start = performance.now();
      await runConcurrently(PUSHES, k, async (i) => {
        const sentAt = performance.now();
        try {
          await pusher.push(i % USERS, base + i, sentAt);
          answer.record(performance.now() - sentAt);
          accepted++;
        } catch (err) {
          failed++;
          firstFailure ||= (err as Error).message;
        }
      }, Date.now() + PUSH_TIMEOUT_MS);
      const pushSeconds = (performance.now() - start) / 1000;
      await waitFor(() => run.delivered >= accepted, DRAIN_TIMEOUT_MS, 5);
      await pusher.close();
      if (firstFailure) process.stderr.write(`${target.label}: ${failed} pushes failed, first: ${firstFailure}\n`);
      rows.push({ target, concurrency: k, accepted, failed, pushSeconds, tracker: run, answer, serverCpu: path.cpuSeconds() - cpu0 });
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
    ['path', 'K in flight', 'accepted', 'failed', 'pushes/s', 'p50 ms', 'p99 ms', 'max ms', 'answer p50 ms', 'answer p99 ms', 'lost', 'dup', 'server CPU ms / push'],
    rows.map((r) => {
      const l = r.tracker.latency.summary();
      const a = r.answer.summary();
      return [
        r.target.label,
        String(r.concurrency),
        fmt.int(r.accepted),
        fmt.int(r.failed),
        fmt.int(r.accepted / r.pushSeconds),
        fmt.ms(l.p50),
        fmt.ms(l.p99),
        fmt.ms(l.max),
        fmt.ms(a.p50),
        fmt.ms(a.p99),
        fmt.int(r.accepted - r.tracker.delivered),
        fmt.int(r.tracker.duplicates),
        fmt.ms((r.serverCpu * 1000) / Math.max(1, r.accepted)),
      ];
    }),
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  ));
  out.push('');
  out.push('Latency: request sent → MESSAGE received by the user\'s session. Answer: request sent → 202 (Web-STOMP: → RECEIPT). ' +
    'Server CPU: relay processes plus the RabbitMQ node where the path uses it.');
  const peer = (k: number) => rows.find((r) => r.target.key === 'web-stomp' && r.concurrency === k);
  const ratios = rows.filter((r) => r.target.key !== 'web-stomp' && peer(r.concurrency)).map((r) => {
    const p = peer(r.concurrency)!;
    const mine = r.tracker.latency.summary();
    const theirs = p.tracker.latency.summary();
    return [
      r.target.label,
      String(r.concurrency),
      fmt.ratio((r.accepted / r.pushSeconds) / (p.accepted / p.pushSeconds)),
      fmt.ratio(mine.p50 / theirs.p50),
      fmt.ratio(mine.p99 / theirs.p99),
    ];
  });
  if (ratios.length > 0) {
    out.push('');
    out.push('Ratios against the Web-STOMP peer in the same run (pushes/s: higher is better; latency: lower is better):');
    out.push('');
    out.push(markdownTable(['path', 'K in flight', 'pushes/s ÷ peer', 'p50 ÷ peer', 'p99 ÷ peer'], ratios, ['l', 'r', 'r', 'r', 'r']));
  }
  return out.join('\n');
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`push-latency bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);

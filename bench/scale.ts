/**
 * Users per instance: N users, each one session (a distinct dev-mode login) subscribed to
 * `/user/queue/n` and to one of 100 topics `/topic/t<k>` (with receipts), over relay instances that
 * share one private RabbitMQ node. Reports what the connected users cost and how user delivery
 * survives a broker restart:
 *
 *   - broker memory per connected user: `erlang:memory(total)` after a full GC of every Erlang
 *     process, and RabbitMQ's RSS, before and after the users connected; queue and binding counts;
 *   - relay RSS per session (/proc of each relay process);
 *   - connect and subscribe rates (sessions per second; subscribe = both SUBSCRIBEs receipted);
 *   - pushes to every user before the restart (the control: anything lost here is not the restart);
 *   - `rabbitmqctl stop_app` / `start_app`: time from start_app until the broker's ports accept
 *     again, until `/readyz` is 200 on every instance, and until the first and the last push sent
 *     after it reached its user (the same restart is first made with no user connected, as the
 *     reference for the broker's own start time);
 *   - pushes lost after the restart: as soon as `/readyz` is 200 everywhere, `POST /push/u<i>` to
 *     every user in reverse user order, K in flight (to the next instance: cross-instance where
 *     there are several); non-202 answers and accepted pushes never delivered within a bound.
 *
 *     npx tsx bench/scale.ts [--users 5000] [--instances 1] [--topics 100] [--push-concurrency 32]
 *                            [--load-processes auto] [--relay-root <dir>] [--profile-relays <dir>] [--dist]
 *
 * One process may hold only `ulimit -n` sockets (the hard limit; 20 000 on the reference machine),
 * so the users' sessions live in several load processes (bench/lib/user-load.ts), each on its own
 * loopback source address, and each relay instance must fit its sessions under that limit too: the
 * script says so up front rather than failing at the last thousand connections.
 *
 * `--relay-root` runs the relays from another source tree (e.g. `git worktree add /tmp/old <commit>`)
 * to measure an older engine with the same load. Bounded: every phase has a deadline; loopback only.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { canConnect, startRabbitNode, type RabbitNode } from '../test/harness/rabbitmq';
import { runConcurrently } from './lib/bounded';
import { Cleanup } from './lib/cleanup';
import { ensureOpenFileLimit, openFileLimit } from './lib/file-limit';
import { environmentBanner, fmt, markdownTable } from './lib/markdown';
import { PushClient } from './lib/push-client';
import { rabbitFootprint, type RabbitFootprint } from './lib/rabbit-footprint';
import { cpuSecondsOfProcessesMatching, startRelayProcess, type RelayProcess } from './lib/relay-process';
import {
  instanceOfUser, pushBody, sourceAddressOf, splitRange, sumPhase, sumStatus, userLogin, UserLoadProcess,
  type PhaseResult, type RoundStatus,
} from './lib/user-load';

const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '5000' },
    instances: { type: 'string', default: '1' },
    topics: { type: 'string', default: '100' },
    /** Load processes holding the sessions; default: one per 10 000 users. */
    'load-processes': { type: 'string', default: '0' },
    /** Handshakes in flight at once, over all load processes. */
    'connect-concurrency': { type: 'string', default: '64' },
    /** Sessions subscribing at once, over all load processes. */
    'subscribe-concurrency': { type: 'string', default: '64' },
    'push-concurrency': { type: 'string', default: '32' },
    'connect-timeout': { type: 'string', default: '30000' },
    /** Connect or subscribe phase as a whole. */
    'phase-timeout': { type: 'string', default: '1800000' },
    /** After start_app: how long to wait for /readyz 200 on every instance. */
    'restore-timeout': { type: 'string', default: '120000' },
    /** After the last push was answered: how long to wait for the remaining deliveries. */
    'drain-timeout': { type: 'string', default: '30000' },
    'relay-root': { type: 'string', default: '' },
    /** Writes a V8 CPU profile of each relay process into this folder when it exits (node --cpu-prof). */
    'profile-relays': { type: 'string', default: '' },
    dist: { type: 'boolean', default: false },
  },
  strict: true,
});

const USERS = positive('users');
const INSTANCES = positive('instances');
const TOPICS = positive('topics');
const PUSH_CONCURRENCY = positive('push-concurrency');
const CONNECT_CONCURRENCY = positive('connect-concurrency');
const SUBSCRIBE_CONCURRENCY = positive('subscribe-concurrency');
const CONNECT_TIMEOUT_MS = positive('connect-timeout');
const PHASE_TIMEOUT_MS = positive('phase-timeout');
const RESTORE_TIMEOUT_MS = positive('restore-timeout');
const DRAIN_TIMEOUT_MS = positive('drain-timeout');
const USERS_PER_LOAD_PROCESS = 10_000;
const LOAD_PROCESSES = Number(args['load-processes']) > 0 ? positive('load-processes') : Math.ceil(USERS / USERS_PER_LOAD_PROCESS);
/** File descriptors a relay needs beside its sessions: push connections from this script, broker links, slack. */
const RELAY_FD_RESERVE = PUSH_CONCURRENCY + 32;
/** Push rounds: before the restart (control), after it. */
const ROUND_BEFORE = 1;
const ROUND_AFTER = 2;

function positive(name: keyof typeof args): number {
  const n = Number(args[name]);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got ${String(args[name])}`);
  return n;
}

type PhaseOutcome = PhaseResult & { seconds: number; cpu: CpuSeconds };

interface PushRound {
  sent: number;
  accepted: number;
  /** Answers other than 202, by status (0 = no answer). */
  refused: Map<number, number>;
  firstRefusal?: string;
  /** Date.now() when the first push was sent and the last answer came. */
  startedAt: number;
  answeredAt: number;
  status: RoundStatus;
  /** Accepted (202) and never delivered within the drain bound. */
  lost: number;
  /** Delivered although the answer was not 202. */
  deliveredUnaccepted: number;
}

interface Restore {
  /**
   * Date.now() when start_app was issued; when the node's AMQP and STOMP ports first accepted
   * connections again (the broker is back); when start_app returned; each instance's first /readyz 200.
   */
  issuedAt: number;
  listeningAt: number;
  backAt: number;
  readyAt: number[];
  allReady: boolean;
  routeQueuesBefore: string[];
  routeQueuesAfter: string[];
  /** Settles when `rabbitmqctl start_app` returned and STOMP accepts connections again. */
  appStarted: Promise<void>;
  /** Measured after the push round that followed the restart. */
  after: RabbitFootprint | undefined;
}

interface Measured {
  loadBefore: number[];
  loadAfter: number[];
  /** The same restart before any user connected. */
  emptyRestart: Restore;
  brokerBefore: RabbitFootprint;
  brokerAfter: RabbitFootprint;
  relayRssBefore: number[];
  relayRssAfter: number[];
  connect: PhaseOutcome;
  subscribe: PhaseOutcome;
  before: PushRound;
  restore: Restore;
  after: PushRound;
}

async function main(): Promise<void> {
  const perLoadProcess = Math.ceil(USERS / LOAD_PROCESSES);
  ensureOpenFileLimit(Math.max(perLoadProcess, Math.ceil(USERS / INSTANCES)) + 256);
  if (LOAD_PROCESSES > 250) throw new Error('at most 250 load processes (one loopback source address each)');
  const cleanup = new Cleanup();
  try {
    const relayRoot = args['relay-root'] || undefined;
    process.stdout.write(`${environmentBanner()}\n`);
    process.stdout.write(`${fmt.int(USERS)} users over ${INSTANCES} relay instance(s) (${relayRoot ? `from ${relayRoot}` : 'this tree'}, ` +
      `${args.dist ? 'dist/server/cli.js' : 'server/cli.ts via tsx'}), ${LOAD_PROCESSES} load process(es), ${TOPICS} topics; ulimit -n ${openFileLimit()}.\n\n`);
    const loadBefore = os.loadavg();

    const node = await startRabbitNode();
    cleanup.add('RabbitMQ node', () => node.stop());
    const relays: RelayProcess[] = [];
    for (let i = 0; i < INSTANCES; i++) {
      const relay = await startRelayProcess({
        brokerUrl: node.brokerUrl, brokerAmqpUrl: node.amqpUrl, instanceId: `scale-${i}`, dist: args.dist, root: relayRoot, readyTimeoutMs: 60_000,
        nodeArgs: args['profile-relays'] ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(args['profile-relays'])}`] : undefined,
      });
      relays.push(relay);
      cleanup.add(`relay ${relay.instanceId}`, () => relay.stop(), () => relay.kill());
    }
    checkRelayCapacity(relays);

    // What a restart costs with no user connected: the reference for the one below (RabbitMQ
    // recovers durable bindings while it boots, so its own start time may grow with them).
    const emptyRestart = await restartBroker(node, relays, []);
    await emptyRestart.appStarted;

    const brokerBefore = await rabbitFootprint(node);
    const relayRssBefore = relays.map((r) => r.rssBytes());
    const routeQueuesAtStart = await routeQueues(node);

    const loads = splitRange(USERS, LOAD_PROCESSES).map((range, p) => UserLoadProcess.start({
      ...range,
      urls: relays.map((r) => r.wsUrl),
      topics: TOPICS,
      localAddress: sourceAddressOf(p),
      connectConcurrency: Math.max(1, Math.ceil(CONNECT_CONCURRENCY / LOAD_PROCESSES)),
      subscribeConcurrency: Math.max(1, Math.ceil(SUBSCRIBE_CONCURRENCY / LOAD_PROCESSES)),
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
    }));
    for (const load of loads) cleanup.add(`load process ${load.plan.from}..`, () => load.close(), () => load.kill());

    const meters: CpuMeters = { relays, node, loads };
    const connect = await phase('connect', loads, meters, (l) => l.connect(PHASE_TIMEOUT_MS));
    const subscribe = await phase('subscribe', loads, meters, (l) => l.subscribe(PHASE_TIMEOUT_MS));
    if (subscribe.ok === 0) throw new Error(`no user subscribed: ${subscribe.firstError ?? connect.firstError ?? '?'}`);

    const brokerAfter = await rabbitFootprint(node);
    const relayRssAfter = relays.map((r) => r.rssBytes());

    progress('pushes before the restart');
    const before = await pushRound(ROUND_BEFORE, relays, loads);
    const restore = await restartBroker(node, relays, routeQueuesAtStart);
    // Pushes go out at once: restartBroker returns the moment every /readyz said 200.
    const after = await pushRound(ROUND_AFTER, relays, loads);
    await restore.appStarted;
    restore.after = await rabbitFootprint(node);
    restore.routeQueuesAfter = await routeQueues(node);

    const measured: Measured = {
      loadBefore, loadAfter: os.loadavg(), emptyRestart, brokerBefore, brokerAfter, relayRssBefore, relayRssAfter,
      connect, subscribe, before, restore, after,
    };
    process.stdout.write(report(measured, relays) + '\n');
  } finally {
    await cleanup.run();
  }
}

/** Refuses at once when an instance's share of the sessions cannot fit under its open-file limit. */
function checkRelayCapacity(relays: RelayProcess[]): void {
  const limit = openFileLimit();
  const perInstance = Math.ceil(USERS / INSTANCES);
  for (const relay of relays) {
    const capacity = limit - relay.openFiles() - RELAY_FD_RESERVE;
    if (perInstance > capacity) {
      throw new Error(`relay ${relay.instanceId} can hold at most ${capacity} sessions (ulimit -n ${limit}, ${relay.openFiles()} files open at start, ` +
        `${RELAY_FD_RESERVE} kept for push connections and broker links), but ${perInstance} users would connect to each instance: ` +
        `use --users ${capacity * INSTANCES} or more --instances`);
    }
  }
}

/** Runs one phase in every load process at once; resolves with the sum, how long the slowest took and the CPU it cost. */
async function phase(name: string, loads: UserLoadProcess[], cpu: CpuMeters, run: (l: UserLoadProcess) => Promise<PhaseResult>): Promise<PhaseOutcome> {
  progress(`${name}: ${fmt.int(USERS)} users`);
  const ticker = setInterval(() => progress(`${name}: ${fmt.int(loads.reduce((n, l) => n + l.progress, 0))} / ${fmt.int(USERS)}`), 5_000);
  const cpu0 = readCpu(cpu);
  const start = Date.now();
  try {
    const result = sumPhase(await Promise.all(loads.map(run)));
    const seconds = (Date.now() - start) / 1000;
    const cpu1 = readCpu(cpu);
    progress(`${name}: ${fmt.int(result.ok)} ok, ${fmt.int(result.failed)} failed in ${seconds.toFixed(1)} s${result.firstError ? ` (first: ${result.firstError})` : ''}`);
    return { ...result, seconds, cpu: { relays: cpu1.relays - cpu0.relays, rabbit: cpu1.rabbit - cpu0.rabbit, loads: cpu1.loads - cpu0.loads } };
  } finally {
    clearInterval(ticker);
  }
}

/** Where CPU seconds are read from: relays, the RabbitMQ node, the load processes. */
interface CpuMeters {
  relays: RelayProcess[];
  node: RabbitNode;
  loads: UserLoadProcess[];
}

interface CpuSeconds {
  relays: number;
  rabbit: number;
  loads: number;
}

function readCpu(m: CpuMeters): CpuSeconds {
  return {
    relays: m.relays.reduce((n, r) => n + r.cpuSeconds(), 0),
    rabbit: cpuSecondsOfProcessesMatching(m.node.dir),
    loads: m.loads.reduce((n, l) => n + l.cpuSeconds(), 0),
  };
}

/**
 * POST /push/u<i> to every user in reverse order, PUSH_CONCURRENCY in flight, each to the instance
 * after the user's own (the same one when there is one); then waits (bounded) for the deliveries.
 */
async function pushRound(round: number, relays: RelayProcess[], loads: UserLoadProcess[]): Promise<PushRound> {
  const clients = relays.map((r) => new PushClient(r.httpUrl, PUSH_CONCURRENCY));
  const accepted = new Uint8Array(USERS);
  const refused = new Map<number, number>();
  let firstRefusal: string | undefined;
  let acceptedCount = 0;
  const startedAt = Date.now();
  const sent = await runConcurrently(USERS, PUSH_CONCURRENCY, async (k) => {
    const user = USERS - 1 - k;
    const target = clients[(instanceOfUser(user, relays.length) + 1) % relays.length]!;
    let status = 0;
    let text = '';
    try {
      ({ status, text } = await target.push(userLogin(user), '/queue/n', pushBody(round, user)));
    } catch (err) {
      text = (err as Error).message;
    }
    if (status === 202) {
      accepted[user] = 1;
      acceptedCount++;
    } else {
      refused.set(status, (refused.get(status) ?? 0) + 1);
      firstRefusal ??= `u${user}: ${status} ${text}`;
    }
  }, Date.now() + PHASE_TIMEOUT_MS);
  const answeredAt = Date.now();
  for (const c of clients) c.close();

  let status = sumStatus(await Promise.all(loads.map((l) => l.status(round, false))));
  const drainDeadline = Date.now() + DRAIN_TIMEOUT_MS;
  while (status.delivered < acceptedCount && Date.now() < drainDeadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    status = sumStatus(await Promise.all(loads.map((l) => l.status(round, false))));
  }
  status = sumStatus(await Promise.all(loads.map((l) => l.status(round, true))));
  const missing = new Set(status.missing);
  let lost = 0;
  let deliveredUnaccepted = 0;
  for (let user = 0; user < USERS; user++) {
    if (accepted[user] && missing.has(user)) lost++;
    if (!accepted[user] && !missing.has(user)) deliveredUnaccepted++;
  }
  progress(`round ${round}: ${fmt.int(acceptedCount)} / ${fmt.int(sent)} accepted, ${fmt.int(status.delivered)} delivered, ${fmt.int(lost)} lost` +
    (firstRefusal ? ` (first refusal: ${firstRefusal})` : ''));
  delete status.missing;
  return { sent, accepted: acceptedCount, refused, firstRefusal, startedAt, answeredAt, status, lost, deliveredUnaccepted };
}

/**
 * stop_app, wait for every instance to say 503, start_app, and return the moment every /readyz said
 * 200 (start_app itself may return later: {@link Restore.appStarted}).
 */
async function restartBroker(node: RabbitNode, relays: RelayProcess[], routeQueuesBefore: string[]): Promise<Restore> {
  progress('rabbitmqctl stop_app');
  await node.stopApp();
  const allDown = await pollUntil(async () => (await Promise.all(relays.map(readyStatus))).every((st) => st === 503), 30_000);
  if (!allDown) progress('warning: not every instance said 503 within 30 s of stop_app');

  progress('rabbitmqctl start_app');
  const readyAt: number[] = relays.map(() => NaN);
  const restore: Restore = {
    issuedAt: Date.now(), listeningAt: NaN, backAt: NaN, readyAt, allReady: false, routeQueuesBefore, routeQueuesAfter: [],
    appStarted: Promise.resolve(), after: undefined,
  };
  restore.appStarted = node.startApp().then(() => {
    restore.backAt = Date.now();
    progress(`start_app returned after ${((restore.backAt - restore.issuedAt) / 1000).toFixed(2)} s`);
  });
  restore.appStarted.catch(() => undefined);
  const listening = pollUntil(async () => (await canConnect(node.ports.amqp)) && (await canConnect(node.stompPort)), RESTORE_TIMEOUT_MS, 10)
    .then((up) => { if (up) restore.listeningAt = Date.now(); });
  restore.allReady = await pollUntil(async () => {
    await Promise.all(relays.map(async (r, i) => {
      if (Number.isNaN(readyAt[i]!) && (await readyStatus(r)) === 200) readyAt[i] = Date.now();
    }));
    return readyAt.every((t) => !Number.isNaN(t));
  }, RESTORE_TIMEOUT_MS, 10);
  await listening;
  progress(restore.allReady ? '/readyz 200 on every instance' : `warning: not every instance said 200 within ${RESTORE_TIMEOUT_MS} ms of start_app`);
  return restore;
}

/** Polls an async condition every `intervalMs` until it holds or `timeoutMs` passed. */
async function pollUntil(condition: () => Promise<boolean>, timeoutMs: number, intervalMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

async function readyStatus(relay: RelayProcess): Promise<number> {
  try {
    const res = await fetch(`${relay.httpUrl}/readyz`, { signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** Names of the relays' route queues (the new engine's; the old one has none). */
async function routeQueues(node: RabbitNode): Promise<string[]> {
  return (await node.listQueues()).map((q) => q.name).filter((n) => n.startsWith('stomp-relay.routes.')).sort();
}

function progress(line: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

function report(m: Measured, relays: RelayProcess[]): string {
  const kb = (bytes: number): string => (Number.isFinite(bytes) ? (bytes / 1024).toFixed(2) : 'n/a');
  const mb = (bytes: number): string => (Number.isFinite(bytes) ? (bytes / 1024 / 1024).toFixed(1) : 'n/a');
  const s = (ms: number): string => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : 'n/a');
  const users = m.subscribe.ok;
  const erlangDelta = m.brokerAfter.erlangMemoryBytes - m.brokerBefore.erlangMemoryBytes;
  const rssDelta = m.brokerAfter.rssBytes - m.brokerBefore.rssBytes;
  const relayDelta = m.relayRssAfter.reduce((a, b) => a + b, 0) - m.relayRssBefore.reduce((a, b) => a + b, 0);
  const r = m.restore;
  const lastReady = Math.max(...r.readyAt);
  const refusals = (p: PushRound): string => (p.refused.size === 0 ? '0' : [...p.refused].map(([st, n]) => `${fmt.int(n)} × ${st || 'no answer'}`).join(', '));
  const pushRow = (name: string, p: PushRound): string[][] => [
    [`${name}: sent / answered 202`, `${fmt.int(p.sent)} / ${fmt.int(p.accepted)} in ${s(p.answeredAt - p.startedAt)} s`],
    [`${name}: not 202`, refusals(p)],
    [`${name}: **accepted, never delivered** (within ${DRAIN_TIMEOUT_MS / 1000} s)`, `**${fmt.int(p.lost)}**`],
    [`${name}: duplicates / to a wrong user / delivered though not 202`, `${fmt.int(p.status.duplicates)} / ${fmt.int(p.status.misrouted)} / ${fmt.int(p.deliveredUnaccepted)}`],
  ];
  const rows: string[][] = [
    ['users connected / subscribed (failed)', `${fmt.int(m.connect.ok)} / ${fmt.int(users)} (${fmt.int(m.connect.failed + m.subscribe.failed)}); ${fmt.int(Math.ceil(USERS / INSTANCES))} per instance`],
    ['broker queues before → after users', `${fmt.int(m.brokerBefore.queues)} → ${fmt.int(m.brokerAfter.queues)}`],
    ['broker bindings before → after users', `${fmt.int(m.brokerBefore.bindings)} → ${fmt.int(m.brokerAfter.bindings)}`],
    ['`erlang:memory(total)` after full GC, before → after', `${mb(m.brokerBefore.erlangMemoryBytes)} → ${mb(m.brokerAfter.erlangMemoryBytes)} MB`],
    ['**broker memory per user** (`erlang:memory` delta / users)', `**${kb(erlangDelta / users)} KB**`],
    ['of which ETS / processes / binaries, per user', [m.brokerAfter.etsBytes - m.brokerBefore.etsBytes, m.brokerAfter.processesBytes - m.brokerBefore.processesBytes,
      m.brokerAfter.binaryBytes - m.brokerBefore.binaryBytes].map((d) => `${kb(d / users)} KB`).join(' / ')],
    ['RabbitMQ RSS before → after; per user', `${mb(m.brokerBefore.rssBytes)} → ${mb(m.brokerAfter.rssBytes)} MB; ${kb(rssDelta / users)} KB`],
    ['relay RSS before → after (all instances); per session', `${mb(m.relayRssBefore.reduce((a, b) => a + b, 0))} → ${mb(m.relayRssAfter.reduce((a, b) => a + b, 0))} MB; ${kb(relayDelta / users)} KB`],
    ['connect rate (CONNECT → CONNECTED)', `${fmt.int(m.connect.ok / m.connect.seconds)} sessions/s (${m.connect.seconds.toFixed(1)} s)`],
    ['**subscribe rate** (2 SUBSCRIBEs receipted per session)', `**${fmt.int(users / m.subscribe.seconds)} sessions/s** (${m.subscribe.seconds.toFixed(1)} s)`],
    ['CPU s during connect: relays / RabbitMQ / load processes', cpuCells(m.connect)],
    ['CPU s during subscribe: relays / RabbitMQ / load processes', cpuCells(m.subscribe)],
    ...pushRow('pushes before restart', m.before),
    ['with no user connected: start_app issued → broker back / → `/readyz` 200 on every instance',
      `${s(m.emptyRestart.listeningAt - m.emptyRestart.issuedAt)} / ${s(Math.max(...m.emptyRestart.readyAt) - m.emptyRestart.issuedAt)} s`],
    ['start_app issued → AMQP and STOMP ports accept (broker back) / start_app returned', `${s(r.listeningAt - r.issuedAt)} / ${s(r.backAt - r.issuedAt)} s`],
    ['start_app issued → `/readyz` 200 on every instance', `${s(lastReady - r.issuedAt)} s${r.allReady ? '' : ' (not all within the bound)'} (per instance: ${r.readyAt.map((t) => s(t - r.issuedAt)).join(', ')})`],
    ['**broker back → `/readyz` 200 on every instance**', `**${s(lastReady - r.listeningAt)} s**`],
    ['broker back → first / last push after restart delivered', `${s(m.after.status.firstAt - r.listeningAt)} / ${s(m.after.status.lastAt - r.listeningAt)} s`],
    ['start_app issued → first / last push after restart delivered', `${s(m.after.status.firstAt - r.issuedAt)} / ${s(m.after.status.lastAt - r.issuedAt)} s`],
    ...pushRow('pushes after restart', m.after),
    ['route queues before → after restart', r.routeQueuesBefore.length === 0 && r.routeQueuesAfter.length === 0 ? 'none (engine without route queues)'
      : `${r.routeQueuesBefore.join(', ')} → ${r.routeQueuesAfter.join(', ')}${sameList(r.routeQueuesBefore, r.routeQueuesAfter) ? ' (the same)' : ' (**changed**)'}`],
    ['broker queues / bindings after restart', `${fmt.int(r.after?.queues ?? NaN)} / ${fmt.int(r.after?.bindings ?? NaN)}`],
    ['sessions closed / ERROR frames (whole run)', `${fmt.int(m.after.status.closed)} / ${fmt.int(m.after.status.errorFrames)}`],
    ['load average (1, 5, 15 min) at start → end', `${m.loadBefore.map((l) => l.toFixed(2)).join(', ')} → ${m.loadAfter.map((l) => l.toFixed(2)).join(', ')}`],
  ];
  const out = [markdownTable(['what', 'measured'], rows, ['l', 'r'])];
  out.push('');
  out.push(`Instances: ${relays.map((x) => x.instanceId).join(', ')}. Pushes: ${PUSH_CONCURRENCY} in flight, reverse user order, ` +
    `each to ${relays.length > 1 ? 'the instance after the user\'s own' : 'the only instance'}. Memory "before" is with the relays connected and no user.`);
  for (const p of [m.before, m.after]) if (p.firstRefusal) out.push(`First refused push: ${p.firstRefusal}`);
  if (m.connect.firstError) out.push(`First connect failure: ${m.connect.firstError}`);
  if (m.subscribe.firstError) out.push(`First subscribe failure: ${m.subscribe.firstError}`);
  return out.join('\n');
}

function cpuCells(p: PhaseOutcome): string {
  return `${p.cpu.relays.toFixed(1)} / ${p.cpu.rabbit.toFixed(1)} / ${p.cpu.loads.toFixed(1)} (wall ${p.seconds.toFixed(1)} s × ${os.cpus().length} CPUs)`;
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`scale bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);

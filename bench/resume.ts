/**
 * A reconnect storm with resume: N clients on relay A (one user each, `/user/queue/r`), a backend
 * pushing at a steady rate through relay B, round-robin over the users. Once every client has seen
 * a push (so holds a resume-token), A is killed with SIGKILL; every client reconnects at once to a
 * survivor (B or C, by user number) and subscribes again with `resume-from: <last token seen>`.
 *
 * Measures: time from the kill until every client is live again (its SUBSCRIBE's RECEIPT, which
 * comes after the replay), messages recovered (replayed before that RECEIPT) per second, the scans
 * the survivors made (stomp_relay_history_scans_total), RabbitMQ's CPU and memory meanwhile (/proc
 * of the node's processes), and the streams' disk per recorded message. Then checks every user got
 * every accepted push exactly once, in order, with no gap signal.
 *
 *     npx tsx bench/resume.ts [--clients 2000] [--rate 400] [--after 5000] [--reconnect-concurrency 250] [--dist]
 *
 * Bounded: every phase has a deadline; the run reports what it measured even when one passes.
 * Loopback only.
 */
import { readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { startRabbitNode } from '../test/harness/rabbitmq';
import { performance } from 'node:perf_hooks';
import { runConcurrently, waitFor } from './lib/bounded';
import { Cleanup } from './lib/cleanup';
import { ensureOpenFileLimit } from './lib/file-limit';
import { environmentBanner, fmt, markdownTable } from './lib/markdown';
import { PushClient } from './lib/push-client';
import { rabbitFootprint } from './lib/rabbit-footprint';
import { cpuSecondsOfProcessesMatching, rssBytesOfProcessesMatching, startRelayProcess, type RelayProcess } from './lib/relay-process';
import { connectMany, connectStomp, type StompWsClient } from './lib/stomp-ws-client';
import type { StompFrame } from '../server/codec/frame';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '2000' },
    rate: { type: 'string', default: '400' },
    /** Pushing goes on this long after every client is live again. */
    after: { type: 'string', default: '5000' },
    'reconnect-concurrency': { type: 'string', default: '250' },
    dist: { type: 'boolean', default: false },
    /** Baseline: reconnect and subscribe without resume-from (what is lost is then not checked). */
    'no-resume': { type: 'boolean', default: false },
  },
  strict: true,
});
const CLIENTS = positive(args.clients, 'clients');
const RATE = positive(args.rate, 'rate');
const AFTER_MS = positive(args.after, 'after');
const RECONNECT_CONCURRENCY = positive(args['reconnect-concurrency'], 'reconnect-concurrency');
const DESTINATION = '/queue/r';
const SUBSCRIPTION = `/user${DESTINATION}`;
const PHASE_TIMEOUT_MS = 120_000;
const RESUME = !args['no-resume'];

function positive(value: string, name: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got ${value}`);
  return n;
}

/** What one user saw and was sent. */
interface UserState {
  accepted: number[];
  /** 503 or failed pushes (not accepted), in case one is delivered anyway. */
  refused: Set<number>;
  received: number[];
  /** The resume-token of each received message (record order: per recording relay, increasing). */
  tokens: string[];
  lastToken: string | undefined;
  gaps: number;
  /** Messages of the resumed subscription before its RECEIPT: the replay. */
  recovered: number;
  resubscribing: boolean;
  liveAt: number;
  client: StompWsClient | undefined;
}

async function main(): Promise<void> {
  ensureOpenFileLimit(CLIENTS * 2 + 512);
  const cleanup = new Cleanup();
  try {
    process.stdout.write(`${environmentBanner()}\n`);
    process.stdout.write(`${CLIENTS} clients on relay A (one user each, ${SUBSCRIPTION}); a backend pushes ${RATE}/s through relay B, round-robin; ` +
      `A is SIGKILLed once every client holds a resume-token; clients resume on B and C (${RECONNECT_CONCURRENCY} handshakes in flight); ` +
      `pushing goes on ${AFTER_MS} ms after all are live${RESUME ? '' : '; BASELINE: no resume-from'}. Relays: child processes (${args.dist ? 'dist/server/cli.js' : 'server/cli.ts via tsx'}), RESUME_* defaults.\n\n`);
    const node = await startRabbitNode();
    cleanup.add('RabbitMQ node', () => node.stop());
    const relay = async (name: string): Promise<RelayProcess> => {
      const r = await startRelayProcess({ brokerUrl: node.brokerUrl, brokerAmqpUrl: node.amqpUrl, instanceId: name, dist: args.dist });
      cleanup.add(`relay ${name}`, () => r.stop(), () => r.kill());
      return r;
    };
    const [a, b, c] = [await relay('resume-a'), await relay('resume-b'), await relay('resume-c')];
    const survivors = [b, c];
    const users: UserState[] = Array.from({ length: CLIENTS }, () => ({
      accepted: [], refused: new Set(), received: [], tokens: [], lastToken: undefined, gaps: 0, recovered: 0, resubscribing: false, liveAt: NaN, client: undefined,
    }));
    const onMessage = (i: number) => (frame: StompFrame): void => {
      const user = users[i];
      if (frame.headers['resume-gap'] === 'true') user.gaps++;
      const token = frame.headers['resume-token'];
      if (frame.headers['resume-gap'] !== 'true') {
        user.received.push(Number(frame.body.toString('utf8')));
        user.tokens.push(token ?? '');
      }
      if (token !== undefined) user.lastToken = token;
      if (user.resubscribing) user.recovered++;
    };

    const clients = await connectMany(CLIENTS, (i) => ({ url: a.wsUrl, login: `u${i}` }), 50);
    cleanup.add('clients', async () => { for (const client of users.map((u) => u.client)) client?.terminate(); });
    clients.forEach((client, i) => { users[i].client = client; });
    await runConcurrently(CLIENTS, 100, async (i) => { await clients[i].subscribe(SUBSCRIPTION, onMessage(i)); }, Date.now() + PHASE_TIMEOUT_MS);

    // The backend: pushes until told to stop, at RATE/s.
    const pusher = new PushClient(b.httpUrl, 64);
    let stopPushing = false;
    let inFlight = 0;
    let failedPushes = 0;
    const pushing = (async () => {
      const start = performance.now();
      let k = 0;
      while (!stopPushing) {
        const due = Math.floor(((performance.now() - start) / 1000) * RATE);
        while (k < due && !stopPushing && inFlight < 512) {
          const push = k++;
          const i = push % CLIENTS;
          inFlight++;
          pusher.push(`u${i}`, DESTINATION, String(push)).then(
            (answer) => { if (answer.status === 202) users[i].accepted.push(push); else { failedPushes++; users[i].refused.add(push); } },
            () => { failedPushes++; users[i].refused.add(push); },
          ).finally(() => { inFlight--; });
        }
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();

    const primed = await waitFor(() => users.every((u) => u.lastToken !== undefined), PHASE_TIMEOUT_MS, 20);
    if (!primed.met) throw new Error(`only ${users.filter((u) => u.lastToken !== undefined).length} of ${CLIENTS} clients saw a push`);

    const rabbitCpu = (): number => cpuSecondsOfProcessesMatching(node.dir);
    const rabbitRss = (): number => rssBytesOfProcessesMatching(node.dir);
    const scansBefore = await survivorMetric(survivors, 'stomp_relay_history_scans_total');
    const rssBefore = rabbitRss();
    let rssPeak = rssBefore;
    const sampler = setInterval(() => { rssPeak = Math.max(rssPeak, rabbitRss()); }, 100);
    const cpu0 = rabbitCpu();
    const killedAt = Date.now();
    a.kill();

    // Every client reconnects as soon as it sees its socket closed, to a survivor, and resumes.
    let failedResumes = 0;
    const resume = async (i: number): Promise<void> => {
      const user = users[i];
      await waitFor(() => user.client?.closed === true, 30_000, 5);
      for (let attempt = 1; attempt <= 5; attempt++) {
        try {
          const client = await connectStomp({ url: survivors[i % survivors.length].wsUrl, login: `u${i}` });
          user.client = client;
          user.resubscribing = true;
          await client.subscribe(SUBSCRIPTION, onMessage(i), user.lastToken === undefined || !RESUME ? {} : { 'resume-from': user.lastToken });
          user.resubscribing = false;
          user.liveAt = Date.now();
          return;
        } catch {
          user.resubscribing = false;
        }
      }
      failedResumes++;
    };
    await runConcurrently(CLIENTS, RECONNECT_CONCURRENCY, resume, Date.now() + PHASE_TIMEOUT_MS);
    const allLiveAt = Math.max(...users.map((u) => u.liveAt));
    const cpuDuring = rabbitCpu() - cpu0;
    clearInterval(sampler);
    const scans = await survivorMetric(survivors, 'stomp_relay_history_scans_total') - scansBefore;

    await new Promise((resolve) => setTimeout(resolve, AFTER_MS));
    stopPushing = true;
    await waitFor(() => inFlight === 0, 30_000, 20);
    await waitFor(() => users.every((u) => u.received.length >= u.accepted.length), 15_000, 20);
    await pushing;
    pusher.close();

    // Every accepted push exactly once, in order; nothing refused shows up either.
    let missing = 0;
    let duplicates = 0;
    let outOfOrder = 0;
    let refusedDelivered = 0;
    for (const user of users) {
      const seen = new Set<number>();
      for (const k of user.received) {
        if (seen.has(k)) duplicates++;
        seen.add(k);
        if (user.refused.has(k)) refusedDelivered++;
      }
      // Order is the record order (pushes in flight at once have none between them): a token's
      // counter rises per recording relay.
      const lastSeq = new Map<string, number>();
      user.tokens.forEach((token) => {
        const parts = token.split('.');
        const tag = parts[4] ?? '';
        const seq = parseInt(parts[5] ?? '', 36);
        if ((lastSeq.get(tag) ?? -1) > seq) {
          outOfOrder++;
          if (process.env.BENCH_DEBUG) process.stderr.write(`out of record order: ${user.tokens.join(',')}\n`);
        }
        lastSeq.set(tag, Math.max(seq, lastSeq.get(tag) ?? -1));
      });
      for (const k of user.accepted) if (!seen.has(k)) missing++;
    }
    const accepted = users.reduce((s, u) => s + u.accepted.length, 0);
    const recovered = users.reduce((s, u) => s + u.recovered, 0);
    const gaps = users.reduce((s, u) => s + u.gaps, 0);
    const liveTimes = users.map((u) => u.liveAt - killedAt).filter(Number.isFinite).sort((x, y) => x - y);
    const pct = (p: number): number => liveTimes[Math.min(liveTimes.length - 1, Math.floor(p * liveTimes.length))] ?? NaN;
    const stormSeconds = (allLiveAt - killedAt) / 1000;
    const scanned = await survivorMetric(survivors, 'stomp_relay_history_scanned_messages_total');
    const gapReplays = await survivorMetric(survivors, 'stomp_relay_history_replays_total{result="gap"}');
    const footprint = await rabbitFootprint(node);
    const streamBytes = directoryBytes(node.dir, (p) => p.includes(`${path.sep}stream${path.sep}`));

    process.stdout.write(`${markdownTable(['measure', 'value'], [
      ['clients resumed (of killed A)', `${fmt.int(liveTimes.length)} of ${fmt.int(CLIENTS)} (${failedResumes} failed)`],
      ['time from SIGKILL until all live (replayed, RECEIPT)', `${fmt.ms(stormSeconds * 1000)} ms`],
      ['per client: p50 / p99 / max', `${fmt.ms(pct(0.5))} / ${fmt.ms(pct(0.99))} / ${fmt.ms(liveTimes[liveTimes.length - 1] ?? NaN)} ms`],
      ['messages recovered (replayed)', fmt.int(recovered)],
      ['recovered per second (over the storm)', fmt.int(recovered / stormSeconds)],
      ['history scans (B + C) during the storm', fmt.int(scans)],
      ['messages read by scans (B + C, whole run)', fmt.int(scanned)],
      ['replays answered with a gap', fmt.int(gapReplays)],
      ['RabbitMQ CPU during the storm', `${cpuDuring.toFixed(2)} s (${fmt.int((cpuDuring / stormSeconds) * 100)} % of one core)`],
      ['RabbitMQ RSS before / peak during', `${mb(rssBefore)} / ${mb(rssPeak)} MB`],
      ['RabbitMQ Erlang memory after (full GC)', `${mb(footprint.erlangMemoryBytes)} MB; ${footprint.queues} queues`],
      ['pushes accepted (202) / refused', `${fmt.int(accepted)} / ${fmt.int(failedPushes)}`],
      ['stream disk', `${mb(streamBytes)} MB (${fmt.int(streamBytes / Math.max(1, accepted))} B per accepted push, ~50 B bodies, segments and indexes included)`],
      ['missing / duplicates / out of record order / gap markers', `${missing} / ${duplicates} / ${outOfOrder} / ${gaps}`],
      ['refused pushes delivered anyway', fmt.int(refusedDelivered)],
    ], ['l', 'r'])}\n`);
    if (RESUME && (missing + duplicates + outOfOrder + gaps > 0 || failedResumes > 0)) process.exitCode = 1;
  } finally {
    await cleanup.run();
  }
}

/** Sum of a metric sample (name with optional labels) over the relays' /metrics. */
async function survivorMetric(relays: RelayProcess[], sample: string): Promise<number> {
  let total = 0;
  for (const relay of relays) {
    const text = await (await fetch(`${relay.httpUrl}/metrics`)).text();
    for (const line of text.split('\n')) {
      if (line.startsWith('#')) continue;
      const space = line.lastIndexOf(' ');
      const name = line.slice(0, space);
      if (name === sample) total += Number(line.slice(space + 1));
    }
  }
  return total;
}

function directoryBytes(root: string, include: (file: string) => boolean): number {
  let total = 0;
  const walk = (dir: string): void => {
    let entries: string[];
    try { entries = readdirSync(dir); } catch { return; }
    for (const entry of entries) {
      const full = path.join(dir, entry);
      try {
        const st = statSync(full);
        if (st.isDirectory()) walk(full);
        else if (include(full)) total += st.size;
      } catch { /* gone meanwhile */ }
    }
  };
  walk(root);
  return total;
}

const mb = (bytes: number): string => (Number.isFinite(bytes) ? (bytes / 1e6).toFixed(1) : 'n/a');

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});

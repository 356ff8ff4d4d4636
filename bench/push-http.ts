/**
 * What the push API costs over the HTTP framework it runs on: `POST /push/:user` on one relay
 * (embedded broker, so no broker hop; the user is offline, so no delivery) against a bare express
 * app that only parses the same JSON and answers 202 (bench/peers/bare-express.ts), side by side in
 * one run, the same keep-alive load client (K requests in flight) against each.
 *
 * Then the batch route: `POST /push` naming `--batch` users (default 100) per request against single
 * pushes, in user pushes per second (issue #13: ≥ 10×).
 *
 *     npx tsx bench/push-http.ts [--requests 10000] [--concurrency 16] [--rounds 3] [--batch 100]
 *                                [--profile-relay <dir>]
 *
 * Bounded: R requests per round and path, 60 s deadline each. Loopback only.
 */
import { spawn } from 'node:child_process';
import * as http from 'node:http';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { runConcurrently } from './lib/bounded';
import { Cleanup } from './lib/cleanup';
import { environmentBanner, fmt, markdownTable } from './lib/markdown';
import { freePort, processCpuSeconds, startRelayProcess } from './lib/relay-process';

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '3' },
    batch: { type: 'string', default: '100' },
    /** Writes a V8 CPU profile of the relay process into this folder when it exits (node --cpu-prof). */
    'profile-relay': { type: 'string', default: '' },
  },
});
const REQUESTS = Number(args.requests);
const K = Number(args.concurrency);
const ROUNDS = Number(args.rounds);
const BATCH = Number(args.batch);

interface Target {
  name: string;
  port: number;
  pid: number;
  /** Path and body of request `i`, and how many user pushes it makes. */
  request?(i: number): { path: string; body: string; users: number };
}

/** `POST /push/:user`: one user per request (the default request). */
function singlePush(i: number): { path: string; body: string; users: number } {
  return { path: `/push/u${i % 100}`, body: JSON.stringify({ destination: '/queue/bench', payload: { i, text: 'x'.repeat(60) } }), users: 1 };
}

async function startBareExpress(cleanup: Cleanup): Promise<Target> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--require', require.resolve('tsx/cjs'), path.join(__dirname, 'peers', 'bare-express.ts')], {
    env: { PATH: process.env.PATH, PORT: String(port) },
    stdio: 'ignore',
  });
  cleanup.add('bare express peer', async () => { child.kill('SIGKILL'); }, () => child.kill('SIGKILL'));
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error('bare express peer did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return { name: 'bare express JSON → 202 (peer)', port, pid: child.pid! };
}

/** R POSTs with K in flight over keep-alive connections; requests/s and server CPU ms per request. */
async function load(target: Target, requests = REQUESTS): Promise<{ rps: number; usersPerSecond: number; cpuMsPerRequest: number; failed: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: K });
  let failed = 0;
  const build = target.request ?? singlePush;
  const users = build(0).users;
  const post = (i: number) => new Promise<void>((resolve) => {
    const { path: requestPath, body } = build(i);
    const req = http.request({
      agent, host: '127.0.0.1', port: target.port, method: 'POST', path: requestPath,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      if (res.statusCode !== 202) failed += 1;
      res.resume();
      res.on('end', () => resolve());
    });
    req.on('error', () => { failed += 1; resolve(); });
    req.end(body);
  });
  await runConcurrently(Math.min(500, requests), K, post, Date.now() + 60_000); // warm-up
  const cpu0 = processCpuSeconds(target.pid);
  const t0 = performance.now();
  const done = await runConcurrently(requests, K, post, Date.now() + 60_000);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = processCpuSeconds(target.pid) - cpu0;
  agent.destroy();
  return { rps: done / seconds, usersPerSecond: (done * users) / seconds, cpuMsPerRequest: (cpu * 1000) / done, failed };
}

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  try {
    process.stdout.write(`${environmentBanner()}\n${REQUESTS} requests per round and path, ${K} in flight, keep-alive.\n\n`);
    const relay = await startRelayProcess({
      instanceId: 'http-bench',
      nodeArgs: args['profile-relay'] ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(args['profile-relay'])}`] : undefined,
    });
    cleanup.add('relay', () => relay.stop(), () => relay.kill());
    const targets: Target[] = [
      { name: 'relay POST /push/:user (embedded broker)', port: relay.port, pid: relay.pid },
      await startBareExpress(cleanup),
    ];
    const rows: string[][] = [];
    const ratios: number[] = [];
    const cpuRatios: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      // Alternate the order each round so neither path always runs on a warmer machine.
      const order = round % 2 ? targets : [...targets].reverse();
      const results = new Map<string, Awaited<ReturnType<typeof load>>>();
      for (const t of order) results.set(t.name, await load(t));
      const [ours, peer] = targets.map((t) => results.get(t.name)!);
      for (const t of targets) {
        const r = results.get(t.name)!;
        rows.push([String(round), t.name, fmt.int(r.rps), r.cpuMsPerRequest.toFixed(3), String(r.failed)]);
      }
      ratios.push(ours.rps / peer.rps);
      cpuRatios.push(ours.cpuMsPerRequest / peer.cpuMsPerRequest);
    }
    process.stdout.write(markdownTable(['round', 'path', 'requests/s', 'server CPU ms / request', 'failed'], rows, ['r', 'l', 'r', 'r', 'r']) + '\n\n');
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    process.stdout.write(`Median over ${ROUNDS} rounds: push API requests/s ÷ bare express = ${median(ratios).toFixed(2)}×, server CPU per request ÷ bare express = ${median(cpuRatios).toFixed(2)}×\n\n`);

    // The batch route against single pushes, on the same relay: user pushes per second.
    const batchUsers = Array.from({ length: BATCH }, (_, u) => `u${u}`);
    const batch: Target = {
      name: `relay POST /push (${BATCH} users each)`, port: relay.port, pid: relay.pid,
      request: (i) => ({ path: '/push', body: JSON.stringify({ users: batchUsers, destination: '/queue/bench', payload: { i, text: 'x'.repeat(60) } }), users: BATCH }),
    };
    const single: Target = { name: 'relay POST /push/:user', port: relay.port, pid: relay.pid };
    const batchRows: string[][] = [];
    const batchRatios: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const s1 = await load(single);
      const b1 = await load(batch, Math.max(1, Math.round(REQUESTS / 10)));
      for (const [t, r] of [[single, s1], [batch, b1]] as const) {
        batchRows.push([String(round), t.name, fmt.int(r.rps), fmt.int(r.usersPerSecond), (r.cpuMsPerRequest / (t.request ? BATCH : 1)).toFixed(4), String(r.failed)]);
      }
      batchRatios.push(b1.usersPerSecond / s1.usersPerSecond);
    }
    process.stdout.write(markdownTable(['round', 'path', 'requests/s', 'user pushes/s', 'server CPU ms / user push', 'failed'], batchRows, ['r', 'l', 'r', 'r', 'r', 'r']) + '\n\n');
    process.stdout.write(`Median over ${ROUNDS} rounds: user pushes/s, POST /push (${BATCH} users) ÷ POST /push/:user = ${median(batchRatios).toFixed(1)}×\n`);
  } finally {
    await cleanup.run();
  }
}

main().then(() => process.exit(0), (err) => { process.stderr.write(String(err?.stack ?? err) + '\n'); process.exit(1); });

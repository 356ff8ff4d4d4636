/**
 * What an idle session costs, part by part, measured inside the server process (so a full GC can be
 * forced before each reading): the relay runs in this process (embedded broker, silent logger), and
 * its sessions are held by a load process (bench/lib/user-load.ts) on a loopback source address.
 *
 *   1. a socket: N plain `ws` sockets to a bare `ws` server in this process (answering CONNECT and
 *      receipts, nothing kept: the floor of bench/connections.ts);
 *   2. a session: N STOMP sessions to the relay, CONNECTED (the socket included);
 *   3. two subscriptions per session (`/user/queue/n` and one of 100 topics).
 *
 * After each step: `global.gc()` twice, then `process.memoryUsage()`; the table gives the delta per
 * session (or per subscription) of heap used, external + array buffers, and RSS. With `--snapshot
 * <dir>`, V8 heap snapshots before and after step 2+3 are written there and the objects they differ
 * by are listed per session, by constructor (RSS figures are then disturbed by the snapshots); with
 * heart-beats on, a third one a round later lists the live objects that round made (what every
 * round replaces, which V8 promotes to old space and collects only at its next major GC).
 *
 * With `--idle-profile <ms>`, V8's sampling heap profiler runs (collected objects included) for that
 * long once every session is idle, and the bytes allocated per session per heart-beat round are listed by
 * allocating function: what the heart-beats (an EOL out and one in per session per interval) cost in
 * garbage.
 *
 * The relay comes from dist/ (`npm run build` first), as production runs it: tsx compiles with
 * esbuild's keepNames, which gives every function a `name` property of its own (a 256-byte property
 * dictionary per closure), so relays run from the sources through tsx look ~6 KB per session
 * heavier than they are. `--sources` measures that way anyway.
 *
 *     npm run build && node --expose-gc --require tsx/cjs bench/session-memory.ts [--sessions 5000] [--heartbeat 10000]
 *         [--snapshot /tmp/snap] [--transport ws|sockjs] [--sources] [--idle-profile 30000]
 */
import { readFileSync } from 'node:fs';
import { Session as InspectorSession } from 'node:inspector';
import * as http from 'node:http';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import { WebSocketServer } from 'ws';
import type * as RelayLibrary from '../server';
import { ensureOpenFileLimit } from './lib/file-limit';
import { environmentBanner, fmt, markdownTable } from './lib/markdown';
import { freePort } from './lib/relay-process';
import { sourceAddressOf, UserLoadProcess } from './lib/user-load';

const { values: args } = parseArgs({
  options: {
    sessions: { type: 'string', default: '5000' },
    heartbeat: { type: 'string', default: '10000' },
    transport: { type: 'string', default: 'ws' },
    snapshot: { type: 'string', default: '' },
    /** Run the relay from the TypeScript sources (tsx) instead of dist/ (see the file comment). */
    sources: { type: 'boolean', default: false },
    /** Sample allocations for this many ms of idle heart-beats (0: no). */
    'idle-profile': { type: 'string', default: '0' },
  },
  strict: true,
});
const SESSIONS = Number(args.sessions);
const HEARTBEAT_MS = Number(args.heartbeat);
const gc = (globalThis as { gc?: () => void }).gc;

interface Reading {
  heapUsed: number;
  external: number;
  rss: number;
  /** What V8 has committed (heapTotal), and per space (new, old, code, large objects...). */
  heapCommitted: number;
  spaces: Map<string, { committed: number; used: number }>;
}

async function reading(): Promise<Reading> {
  for (let i = 0; i < 3; i++) {
    gc!();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const m = process.memoryUsage();
  const spaces = new Map(getHeapSpaceStatistics().map((space) => [space.space_name, { committed: space.space_size, used: space.space_used_size }]));
  return { heapUsed: m.heapUsed, external: m.external + m.arrayBuffers, rss: m.rss, heapCommitted: m.heapTotal, spaces };
}

async function main(): Promise<void> {
  if (!gc) throw new Error('run with node --expose-gc (see the file comment)');
  ensureOpenFileLimit(2 * SESSIONS + 256);
  process.stdout.write(`${environmentBanner()}\n${fmt.int(SESSIONS)} sessions, heart-beat ${HEARTBEAT_MS},${HEARTBEAT_MS}, transport ${args.transport}\n\n`);
  const rows: string[][] = [];
  const per = (label: string, a: Reading, b: Reading, n: number, unit: string): void => {
    rows.push([label, unit, fmt.int(n), ((b.heapUsed - a.heapUsed) / n).toFixed(0), ((b.external - a.external) / n).toFixed(0), ((b.rss - a.rss) / n).toFixed(0)]);
  };

  // 1. the bare socket
  const floorPort = await freePort();
  const floorHttp = http.createServer();
  const floor = new WebSocketServer({ server: floorHttp, perMessageDeflate: false });
  floor.on('connection', (socket) => {
    socket.on('error', () => undefined);
    socket.on('message', (data: Buffer) => {
      const text = data.toString('latin1');
      if (text.startsWith('CONNECT\n')) socket.send(Buffer.from('CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\0'));
      const at = text.indexOf('\nreceipt:');
      if (at >= 0) socket.send(Buffer.from(`RECEIPT\nreceipt-id:${text.slice(at + 9, text.indexOf('\n', at + 9))}\n\n\0`));
    });
  });
  await new Promise<void>((resolve) => floorHttp.listen(floorPort, '127.0.0.1', resolve));
  const floorLoad = load(`ws://127.0.0.1:${floorPort}/stomp`, false, 0);
  const f0 = await reading();
  await floorLoad.connect(600_000);
  const f1 = await reading();
  per('bare ws socket (server side)', f0, f1, SESSIONS, 'socket');
  await floorLoad.close();
  await new Promise<void>((resolve) => floor.close(() => floorHttp.close(() => resolve())));

  // 2. and 3. the relay
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createRelay, silentLogger } = require(args.sources ? '../server' : '../dist/server') as typeof RelayLibrary;
  const relay = createRelay({ logger: silentLogger(), port: await freePort(), host: '127.0.0.1', instanceId: 'session-memory', serveDemo: false });
  const address = await relay.listen();
  const sockjs = args.transport === 'sockjs';
  const base = `http://127.0.0.1:${address.port}`;
  const relayUrl = sockjs ? `${base}/sockjs` : `ws://127.0.0.1:${address.port}/ws`;
  // Warm up: a few sessions first, so code compiled on first use is not counted per session.
  const warm = load(relayUrl, sockjs, 2, 200);
  await warm.connect(60_000);
  await warm.subscribe(60_000);
  await warm.close();
  const relayLoad = load(relayUrl, sockjs, 1);
  const r0 = await reading();
  if (args.snapshot) writeHeapSnapshot(path.join(args.snapshot, 'before.heapsnapshot'));
  const s0 = args.snapshot ? await reading() : r0;
  await relayLoad.connect(600_000);
  const r1 = await reading();
  per(`STOMP session, CONNECTED (${args.transport}, socket included)`, s0, r1, SESSIONS, 'session');
  await relayLoad.subscribe(600_000);
  const r2 = await reading();
  per('subscription (/user/queue/n or /topic/t<k>)', r1, r2, 2 * SESSIONS, 'subscription');
  per('idle session with 2 subscriptions', s0, r2, SESSIONS, 'session');
  if (args.snapshot) writeHeapSnapshot(path.join(args.snapshot, 'after.heapsnapshot'));
  process.stdout.write(markdownTable(['what', 'per', 'n', 'heap B', 'external + ArrayBuffer B', 'RSS B'], rows, ['l', 'l', 'r', 'r', 'r', 'r']) + '\n');
  process.stdout.write('\nWhere the RSS of the relay\'s sessions went (after − before step 2, per session; V8 spaces: committed / used):\n\n');
  process.stdout.write(rssBreakdown(s0, r2, SESSIONS) + '\n');
  const idleProfileMs = Number(args['idle-profile']);
  if (idleProfileMs > 0) process.stdout.write('\n' + (await idleAllocations(idleProfileMs)) + '\n');
  // With a snapshot: one more after a whole heart-beat round, to see what the round left behind.
  const idleSnapshot = args.snapshot !== '' && HEARTBEAT_MS > 0;
  if (idleSnapshot) {
    await new Promise((resolve) => setTimeout(resolve, HEARTBEAT_MS + 1000));
    writeHeapSnapshot(path.join(args.snapshot, 'idle.heapsnapshot'));
  }
  await relayLoad.close();
  await relay.close();
  if (args.snapshot) {
    process.stdout.write('\nHeap snapshot difference per session (after − before, by constructor):\n\n');
    process.stdout.write(diffSnapshots(path.join(args.snapshot, 'before.heapsnapshot'), path.join(args.snapshot, 'after.heapsnapshot'), SESSIONS) + '\n');
    if (idleSnapshot) {
      process.stdout.write(
        `\nLive objects made during one heart-beat round and still held at its end (in idle.heapsnapshot, not in after.heapsnapshot, ${HEARTBEAT_MS + 1000} ms earlier), per session: what each round replaces and V8 promotes:\n\n`,
      );
      process.stdout.write(newObjects(path.join(args.snapshot, 'after.heapsnapshot'), path.join(args.snapshot, 'idle.heapsnapshot'), SESSIONS) + '\n');
    }
    const owned = idleSnapshot ? 'idle.heapsnapshot' : 'after.heapsnapshot';
    process.stdout.write(
      `\nWhat each session holds (${owned}: objects made since before.heapsnapshot, reached from each StompSession, ` +
        'breadth first, each counted for the first session that reaches it; the ws socket\'s own objects under `socket`), per session:\n\n',
    );
    process.stdout.write(ownedBySession(path.join(args.snapshot, 'before.heapsnapshot'), path.join(args.snapshot, owned), SESSIONS) + '\n');
  }
}

/**
 * RSS against what V8 committed and used, per space: RSS not committed by V8 is native memory
 * (sockets' handles, malloc); committed but unused is V8's slack (free pages, young generation).
 */
function rssBreakdown(a: Reading, b: Reading, n: number): string {
  const per = (x: number): string => (x / n).toFixed(0);
  const rows: string[][] = [
    ['RSS', per(b.rss - a.rss), ''],
    ['V8 heap committed (heapTotal) / used', per(b.heapCommitted - a.heapCommitted), per(b.heapUsed - a.heapUsed)],
    ['RSS − V8 committed (native: handles, malloc)', per(b.rss - a.rss - (b.heapCommitted - a.heapCommitted)), ''],
    ['external + ArrayBuffer', per(b.external - a.external), ''],
  ];
  for (const [name, space] of b.spaces) {
    const before = a.spaces.get(name) ?? { committed: 0, used: 0 };
    rows.push([`space ${name}`, per(space.committed - before.committed), per(space.used - before.used)]);
  }
  return markdownTable(['what', 'B / session (committed, or the figure)', 'used B / session'], rows, ['l', 'r', 'r']);
}

interface SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: SamplingNode[];
}

/**
 * Bytes allocated while every session is idle, by allocating function, per session and heart-beat
 * round (V8's sampling heap profiler, objects collected since included, so it is allocation, not what
 * stays).
 */
async function idleAllocations(ms: number): Promise<string> {
  const inspector = new InspectorSession();
  inspector.connect();
  const post = <T>(method: string, params?: object): Promise<T> =>
    new Promise((resolve, reject) => inspector.post(method, params, (err, result) => (err ? reject(err) : resolve(result as T))));
  await post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  await new Promise((resolve) => setTimeout(resolve, ms));
  const { profile } = await post<{ profile: { head: SamplingNode } }>('HeapProfiler.stopSampling');
  inspector.disconnect();
  const bySite = new Map<string, number>();
  let total = 0;
  const walk = (node: SamplingNode, parent: string): void => {
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url.replace(/^.*node_modules\//, '').replace(/^.*\/(dist|server)\//, '$1/');
    const site = `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
    if (node.selfSize > 0) {
      const key = `${site} ← ${parent}`;
      bySite.set(key, (bySite.get(key) ?? 0) + node.selfSize);
      total += node.selfSize;
    }
    for (const child of node.children) walk(child, functionName || '(anonymous)');
  };
  walk(profile.head, '');
  const rounds = HEARTBEAT_MS > 0 ? ms / HEARTBEAT_MS : 1;
  const per = (bytes: number): string => (bytes / SESSIONS / rounds).toFixed(0);
  const rows = [...bySite.entries()].sort((a, b) => b[1] - a[1]).slice(0, 30).map(([site, bytes]) => [site.replace(/\|/g, '\\|'), per(bytes)]);
  rows.push(['**total**', per(total)]);
  return `Allocated during ${ms} ms idle (${rounds} heart-beat rounds), per session per round, by allocating function ← caller:\n\n`
    + markdownTable(['function ← caller', 'B / session / round'], rows, ['l', 'r']);
}

function load(url: string, sockjs: boolean, p: number, count = SESSIONS): UserLoadProcess {
  return UserLoadProcess.start({
    from: p === 2 ? SESSIONS : 0, to: p === 2 ? SESSIONS + count : count, urls: [url], topics: 100, localAddress: sourceAddressOf(p),
    connectConcurrency: 32, subscribeConcurrency: 32, connectTimeoutMs: 30_000, sockjs, heartbeatMs: HEARTBEAT_MS,
  });
}

/** Self size and count by constructor (or node type) of one snapshot file. */
function aggregate(file: string, skipIds?: Set<number>): Map<string, { count: number; bytes: number }> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const idAt = fields.indexOf('id');
  const types = snap.snapshot.meta.node_types[0];
  const out = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    if (skipIds?.has(snap.nodes[i + idAt]!)) continue;
    const type = types[snap.nodes[i + typeAt]!]!;
    const name = snap.strings[snap.nodes[i + nameAt]!]!;
    const key = type === 'object' || type === 'closure' || type === 'native' ? `${type} ${name.slice(0, 60)}` : `(${type})`;
    const entry = out.get(key) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += snap.nodes[i + sizeAt]!;
    out.set(key, entry);
  }
  return out;
}

/** Ids of every node of a snapshot (stable across snapshots of one process). */
function nodeIds(file: string): Set<number> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as { snapshot: { meta: { node_fields: string[] } }; nodes: number[] };
  const width = snap.snapshot.meta.node_fields.length;
  const idAt = snap.snapshot.meta.node_fields.indexOf('id');
  const ids = new Set<number>();
  for (let i = 0; i < snap.nodes.length; i += width) ids.add(snap.nodes[i + idAt]!);
  return ids;
}

/** Objects of `laterFile` that `earlierFile` did not have, by constructor, per session. */
function newObjects(earlierFile: string, laterFile: string, n: number): string {
  const rows = [...aggregate(laterFile, nodeIds(earlierFile)).entries()]
    .map(([key, a]) => ({ key, count: a.count / n, bytes: a.bytes / n }))
    .filter((r) => r.bytes >= 4)
    .sort((x, y) => y.bytes - x.bytes)
    .slice(0, 25);
  return markdownTable(['constructor', 'objects / session', 'bytes / session'], rows.map((r) => [r.key.replace(/\|/g, '\\|'), r.count.toFixed(2), r.bytes.toFixed(0)]), ['l', 'r', 'r']);
}

/**
 * The objects each session holds, as a tree of field names: from every `StompSession` of `laterFile`,
 * a breadth-first walk over strong edges to objects that `earlierFile` did not have, each object
 * claimed by the first session that reaches it (so shared strings count once). The heart-beat wheel's
 * list links (`prev`, `next`) are not followed: they lead to other sessions. Rows are averaged over
 * the sessions; a row's bytes are its own object's, not its subtree's.
 */
function ownedBySession(earlierFile: string, laterFile: string, n: number): string {
  const old = nodeIds(earlierFile);
  const snap = JSON.parse(readFileSync(laterFile, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
    nodes: number[];
    edges: number[];
    strings: string[];
  };
  const { meta } = snap.snapshot;
  const width = meta.node_fields.length;
  const edgeWidth = meta.edge_fields.length;
  const fieldAt = (field: string): number => meta.node_fields.indexOf(field);
  const [typeAt, nameAt, sizeAt, idAt, edgeCountAt] = ['type', 'name', 'self_size', 'id', 'edge_count'].map(fieldAt);
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const count = snap.nodes.length / width;
  const firstEdge = new Uint32Array(count + 1);
  for (let i = 0, e = 0; i < count; i++) {
    firstEdge[i] = e;
    e += snap.nodes[i * width + edgeCountAt!]! * edgeWidth;
    firstEdge[i + 1] = e;
  }
  const label = (i: number): string => {
    const type = nodeTypes[snap.nodes[i * width + typeAt!]!]!;
    return type === 'object' || type === 'closure' ? snap.strings[snap.nodes[i * width + nameAt!]!]!.slice(0, 40) : `(${type})`;
  };
  const edgeName = (e: number): string => {
    const type = edgeTypes[snap.edges[e]!]!;
    const value = snap.edges[e + 1]!;
    return type === 'element' || type === 'hidden' ? `[${value}]` : snap.strings[value]!;
  };
  const skipTypes = new Set(['code', 'object shape', 'synthetic']);
  const claimed = new Uint8Array(count);
  const rows = new Map<string, { bytes: number; depth: number }>();
  let sessions = 0;
  for (let root = 0; root < count; root++) {
    if (label(root) !== 'StompSession') continue;
    sessions++;
    claimed[root] = 1;
    const queue: Array<[number, string, number]> = [[root, 'StompSession', 0]];
    for (let head = 0; head < queue.length; head++) {
      const [node, at, depth] = queue[head]!;
      const row = rows.get(at) ?? { bytes: 0, depth };
      row.bytes += snap.nodes[node * width + sizeAt!]!;
      rows.set(at, row);
      for (let e = firstEdge[node]!; e < firstEdge[node + 1]!; e += edgeWidth) {
        const name = edgeName(e);
        if (edgeTypes[snap.edges[e]!] === 'weak' || name === 'prev' || name === 'next') continue;
        const to = snap.edges[e + 2]! / width;
        const shared = old.has(snap.nodes[to * width + idAt!]!) || skipTypes.has(nodeTypes[snap.nodes[to * width + typeAt!]!]!);
        if (claimed[to] || shared) continue;
        claimed[to] = 1;
        queue.push([to, `${at} / ${name.replace(/^\[\d+\]$/, '[i]')}: ${label(to)}`, depth + 1]);
      }
    }
  }
  const lines = [...rows.entries()]
    .filter(([, row]) => row.bytes / sessions >= 4)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([at, row]) => [`${'&nbsp;'.repeat(2 * row.depth)}${at.split(' / ').pop()!.replace(/\|/g, '\\|')}`, (row.bytes / sessions).toFixed(0)]);
  return `${fmt.int(sessions)} sessions (${fmt.int(n)} expected)\n\n` + markdownTable(['field: constructor', 'B / session'], lines, ['l', 'r']);
}

function diffSnapshots(beforeFile: string, afterFile: string, n: number): string {
  const before = aggregate(beforeFile);
  const after = aggregate(afterFile);
  const rows = [...after.entries()]
    .map(([key, a]) => {
      const b = before.get(key) ?? { count: 0, bytes: 0 };
      return { key, count: (a.count - b.count) / n, bytes: (a.bytes - b.bytes) / n };
    })
    .filter((r) => r.bytes >= 8)
    .sort((x, y) => y.bytes - x.bytes)
    .slice(0, 40);
  return markdownTable(['constructor', 'objects / session', 'bytes / session'], rows.map((r) => [r.key.replace(/\|/g, '\\|'), r.count.toFixed(2), r.bytes.toFixed(0)]), ['l', 'r', 'r']);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`session-memory failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);

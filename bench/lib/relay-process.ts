/**
 * Relay instances for load scripts, each in a child process of its own, as in production: the CLI
 * (server/cli.ts) configured by environment variables. A separate process per relay keeps the
 * relays off the load clients' event loop, just as RabbitMQ's Web-STOMP runs in its own VM.
 *
 * By default the child runs the TypeScript sources through tsx (no build step, never stale);
 * `{ dist: true }` runs dist/server/cli.js as `npm start` does (build first: `npm run build`).
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

export interface RelayProcessOptions {
  /** RabbitMQ STOMP URL; undefined = embedded broker. */
  brokerUrl?: string;
  /** BROKER_AMQP_URL (the node's AMQP listener, when not on 5672). */
  brokerAmqpUrl?: string;
  instanceId: string;
  /** Run dist/server/cli.js instead of server/cli.ts through tsx. */
  dist?: boolean;
  /** Extra environment (e.g. MAX_BUFFERED_BYTES). */
  env?: Record<string, string>;
  /** How long to wait for /readyz to answer 200. Default 30 s. */
  readyTimeoutMs?: number;
  /**
   * The source tree the relay runs from (its server/cli.ts, or dist/server/cli.js with `dist`), e.g.
   * a `git worktree` of an older commit to compare engines. Default: this tree.
   */
  root?: string;
  /** Extra node flags, before the entry script (e.g. `--cpu-prof`, which NODE_OPTIONS does not take). */
  nodeArgs?: string[];
}

export interface RelayProcess {
  instanceId: string;
  port: number;
  pid: number;
  /** `http://127.0.0.1:<port>` */
  httpUrl: string;
  /** `ws://127.0.0.1:<port>/ws` */
  wsUrl: string;
  /** User + system CPU seconds the process used so far (from /proc; NaN elsewhere). */
  cpuSeconds(): number;
  /** Resident memory of the process now, in bytes (from /proc; NaN elsewhere). */
  rssBytes(): number;
  /** File descriptors the process holds now (from /proc; NaN elsewhere). */
  openFiles(): number;
  /** SIGTERM (graceful drain), SIGKILL after 10 s. Resolves when the process exited. */
  stop(): Promise<void>;
  /** Synchronous SIGKILL, for process-exit hooks. */
  kill(): void;
}

/** Starts one relay process on a free loopback port and waits until /readyz says ready. */
export async function startRelayProcess(options: RelayProcessOptions): Promise<RelayProcess> {
  const port = await freePort();
  const root = options.root ? path.resolve(options.root) : ROOT;
  const entry = options.dist ? [path.join(root, 'dist/server/cli.js')] : ['--require', require.resolve('tsx/cjs'), path.join(root, 'server/cli.ts')];
  if (options.dist && !existsSync(entry[0]!)) throw new Error(`${entry[0]} not found: run \`npm run build\` first, or drop --dist`);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    PORT: String(port),
    HOST: '127.0.0.1',
    INSTANCE_ID: options.instanceId,
    LOG_LEVEL: 'warn',
    SHUTDOWN_GRACE_MS: '500',
    ...(options.brokerUrl ? { BROKER_URL: options.brokerUrl } : {}),
    ...(options.brokerAmqpUrl ? { BROKER_AMQP_URL: options.brokerAmqpUrl } : {}),
    ...options.env,
  };
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), ...entry], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  // BENCH_RELAY_LOG_DIR=<dir>: every relay's output also goes to <dir>/<instanceId>.log.
  const logDir = process.env.BENCH_RELAY_LOG_DIR;
  const logFile = logDir ? path.join(logDir, `${options.instanceId}.log`) : undefined;
  const keep = (chunk: Buffer): void => {
    if (logFile) appendFileSync(logFile, chunk);
    output.push(chunk.toString('utf8'));
    if (output.length > 50) output.shift();
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  child.once('exit', () => { gone = true; });

  const relay: RelayProcess = {
    instanceId: options.instanceId,
    port,
    pid: child.pid!,
    httpUrl: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    cpuSeconds: () => processCpuSeconds(child.pid!),
    rssBytes: () => processRssBytes(child.pid!),
    openFiles: () => processOpenFiles(child.pid!),
    kill: () => { if (!gone) child.kill('SIGKILL'); },
    stop: async () => {
      if (gone) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (gone) throw new Error(`relay ${options.instanceId} exited during start:\n${output.join('')}`);
    if (await isReady(relay.httpUrl)) return relay;
    if (Date.now() > deadline) {
      relay.kill();
      throw new Error(`relay ${options.instanceId} not ready within ${options.readyTimeoutMs ?? 30_000} ms:\n${output.join('')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function isReady(httpUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${httpUrl}/readyz`, { signal: AbortSignal.timeout(1_000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** A port the OS says is free now (loopback). */
export function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const p = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(p));
    });
  });
}

/** utime + stime of a process, in seconds (Linux /proc; NaN elsewhere or once it exited). */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15 of the whole line)
    return ticks / 100; // USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}

/** VmRSS of a process, in bytes (Linux /proc; NaN elsewhere or once it exited). */
export function processRssBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/**
 * Resident bytes of a process's `[heap]` mapping: glibc's main malloc arena, where the main
 * thread's native allocations live (Node's read buffers, V8's backing stores and C++ objects),
 * free chunks it keeps included. Linux /proc; NaN elsewhere, once it exited, or without the mapping.
 */
export function processMallocHeapBytes(pid: number): number {
  try {
    const smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8');
    const at = smaps.indexOf('[heap]\n');
    if (at < 0) return NaN;
    const match = /^Rss:\s+(\d+) kB$/m.exec(smaps.slice(at));
    return match ? Number(match[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Open file descriptors of a process (Linux /proc; NaN elsewhere or once it exited). */
export function processOpenFiles(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

/** Own CPU seconds of this process (the load clients), comparable with {@link processCpuSeconds}. */
export function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * CPU seconds of every process whose command line contains `needle` (e.g. a RabbitMQ node folder:
 * its Erlang VM and helpers). Lets a run report what the broker side cost next to the relays.
 */
export function cpuSecondsOfProcessesMatching(needle: string): number {
  return sumOverProcessesMatching(needle, processCpuSeconds);
}

/** Resident memory, in bytes, of every process whose command line contains `needle` (as above). */
export function rssBytesOfProcessesMatching(needle: string): number {
  return sumOverProcessesMatching(needle, processRssBytes);
}

function sumOverProcessesMatching(needle: string, measure: (pid: number) => number): number {
  let total = 0;
  let found = false;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => d.charCodeAt(0) >= 0x30 && d.charCodeAt(0) <= 0x39);
  } catch {
    return NaN;
  }
  for (const pid of pids) {
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(needle)) continue;
    } catch {
      continue;
    }
    const value = measure(Number(pid));
    if (Number.isFinite(value)) {
      total += value;
      found = true;
    }
  }
  return found ? total : NaN;
}

/**
 * A private redis-server (Debian's `redis-server` package) for the Socket.IO peer: its own loopback
 * port and temporary directory, no persistence (no RDB snapshots, no AOF), stopped and removed by
 * the caller. Never touches a system Redis.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, processCpuSeconds } from './relay-process';

const REDIS_SERVER = '/usr/bin/redis-server';

export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  url: string;
  pid: number;
  cpuSeconds(): number;
  /** SIGTERM (no save: persistence is off), SIGKILL after 5 s; removes the directory. */
  stop(): Promise<void>;
  /** Synchronous SIGKILL, for process-exit hooks. */
  kill(): void;
}

/** Starts redis-server and resolves once it answers PING. */
export async function startRedisServer(): Promise<RedisServer> {
  if (!existsSync(REDIS_SERVER)) throw new Error(`${REDIS_SERVER} not found: apt-get install -y redis-server`);
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-redis-'));
  const child = spawn(REDIS_SERVER, [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
    '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--protected-mode', 'yes', '--loglevel', 'warning',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout!.on('data', (c: Buffer) => output.push(c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => output.push(c.toString('utf8')));
  let gone = false;
  const exited = new Promise<void>((resolve) => child.once('exit', () => { gone = true; resolve(); }));
  const removeDir = (): void => rmSync(dir, { recursive: true, force: true });
  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid!,
    cpuSeconds: () => processCpuSeconds(child.pid!),
    kill: () => { if (!gone) child.kill('SIGKILL'); removeDir(); },
    stop: async () => {
      if (!gone) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      removeDir();
    },
  };
  const deadline = Date.now() + 10_000;
  while (!(await answersPing(port))) {
    if (gone || Date.now() > deadline) {
      server.kill();
      throw new Error(`redis-server on port ${port} did not answer PING:\n${output.join('')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return server;
}

function answersPing(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const done = (ok: boolean): void => { socket.destroy(); resolve(ok); };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString('latin1').startsWith('+PONG')));
  });
}

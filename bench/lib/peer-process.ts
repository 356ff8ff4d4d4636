/**
 * Peer servers for load scripts (Socket.IO, the bare `ws` floor), each in a child process of its
 * own, as the relays are (bench/lib/relay-process.ts): the load clients never share their event loop.
 *
 * The child is a TypeScript script run through tsx; it listens on the port it is given in `PORT`
 * (loopback) and prints one line `READY` on stdout once it accepts connections.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { processCpuSeconds, processRssBytes } from './relay-process';

const ROOT = path.resolve(__dirname, '../..');

export interface PeerProcessOptions {
  /** For messages and logs, e.g. `socketio-A`. */
  name: string;
  /** Script path relative to the repository root, e.g. `bench/peers/ws-floor/server.ts`. */
  script: string;
  port: number;
  env?: Record<string, string>;
  /** How long to wait for READY. Default 30 s. */
  readyTimeoutMs?: number;
  /** Extra node flags, before the script (e.g. the same V8 flags a relay under comparison runs with). */
  nodeArgs?: string[];
}

export interface PeerProcess {
  name: string;
  pid: number;
  port: number;
  /** User + system CPU seconds the process used so far (from /proc; NaN elsewhere). */
  cpuSeconds(): number;
  /** Resident memory of the process now, in bytes (from /proc; NaN elsewhere). */
  rssBytes(): number;
  /** SIGTERM, SIGKILL after 5 s. Resolves when the process exited. */
  stop(): Promise<void>;
  /** Synchronous SIGKILL, for process-exit hooks. */
  kill(): void;
}

/** Starts one peer process and resolves once it printed READY. */
export function startPeerProcess(options: PeerProcessOptions): Promise<PeerProcess> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(options.port), ...options.env };
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), '--require', require.resolve('tsx/cjs'), path.join(ROOT, options.script)], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  let gone = false;
  const exited = new Promise<void>((resolve) => child.once('exit', () => { gone = true; resolve(); }));
  const peer: PeerProcess = {
    name: options.name,
    pid: child.pid!,
    port: options.port,
    cpuSeconds: () => processCpuSeconds(child.pid!),
    rssBytes: () => processRssBytes(child.pid!),
    kill: () => { if (!gone) child.kill('SIGKILL'); },
    stop: async () => {
      if (gone) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
  return new Promise<PeerProcess>((resolve, reject) => {
    const timeoutMs = options.readyTimeoutMs ?? 30_000;
    const timer = setTimeout(() => {
      peer.kill();
      reject(new Error(`${options.name} not ready within ${timeoutMs} ms:\n${output.join('')}`));
    }, timeoutMs);
    let line = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output.push(text);
      if (output.length > 50) output.shift();
      line += text;
      if (/^READY$/m.test(line)) {
        line = '';
        clearTimeout(timer);
        resolve(peer);
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      output.push(chunk.toString('utf8'));
      if (output.length > 50) output.shift();
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${options.name} exited during start:\n${output.join('')}`));
    });
  });
}

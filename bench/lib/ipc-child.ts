/**
 * Load processes for load scripts: a TypeScript child (through tsx, as the relays run) that takes
 * orders from its parent over IPC and answers each one. The parent side ({@link IpcChild}) gives
 * every request an id and a deadline and rejects what is pending when the child exits; the child
 * side ({@link serveIpcRequests}) answers requests and exits when its parent goes away, so a load
 * process never outlives the script that started it. Used by bench/lib/user-load.ts (users for
 * scale and memory runs) and bench/lib/fanout-receivers.ts (fan-out receivers).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { processCpuSeconds } from './relay-process';
import { withTimeout } from './stomp-ws-client';

/** Every request carries `type`; the child answers it with a result or an error. */
export interface IpcRequest {
  type: string;
}

type Envelope<Req> = { id: number } & Req;
type Answer = { id: number; type: 'result'; result: unknown } | { id: number; type: 'error'; message: string } | { type: 'progress'; done: number };

/** A load process, seen from its parent. */
export class IpcChild<Req extends IpcRequest> {
  /** Last progress count the child reported (see {@link reportProgress}). */
  progress = 0;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly exited: Promise<void>;
  private gone = false;

  private constructor(readonly name: string, private readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.on('message', (msg: Answer) => {
      if (msg.type === 'progress') {
        this.progress = msg.done;
        return;
      }
      const waiter = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      if (msg.type === 'error') waiter?.reject(new Error(msg.message));
      else waiter?.resolve(msg.result);
    });
    child.once('exit', (code, signal) => {
      this.gone = true;
      for (const w of this.pending.values()) w.reject(new Error(`${name} exited (${code ?? signal})`));
      this.pending.clear();
    });
  }

  /** Forks `script` (absolute path of a .ts file) with `env` added to this process's environment. */
  static start<Req extends IpcRequest>(name: string, script: string, env: Record<string, string> = {}): IpcChild<Req> {
    const child = fork(script, [], {
      execArgv: ['--require', require.resolve('tsx/cjs')],
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // Structured clone keeps NaN (e.g. "no delivery yet") and typed arrays, which JSON would not.
      serialization: 'advanced',
    });
    return new IpcChild<Req>(name, child);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** CPU seconds the process used so far. */
  cpuSeconds(): number {
    return this.child.pid === undefined ? NaN : processCpuSeconds(this.child.pid);
  }

  /** Sends `body` and resolves with the child's answer; rejects on its error, its exit, or after `timeoutMs`. */
  request<T>(body: Req, timeoutMs: number): Promise<T> {
    if (this.gone) return Promise.reject(new Error(`${this.name} is gone`));
    const id = this.nextId++;
    const answer = new Promise<unknown>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.child.send({ id, ...body } as Envelope<Req>);
    return withTimeout(answer, timeoutMs, `${this.name}: ${body.type}`) as Promise<T>;
  }

  /** Sends `closeRequest` (bounded), then waits for the exit; SIGKILL if it does not come within 10 s. */
  async close(closeRequest: Req): Promise<void> {
    if (this.gone) return;
    await this.request(closeRequest, 10_000).catch(() => undefined);
    const timer = setTimeout(() => this.kill(), 10_000);
    await this.exited;
    clearTimeout(timer);
  }

  /** Synchronous SIGKILL, for process-exit hooks. */
  kill(): void {
    if (!this.gone) this.child.kill('SIGKILL');
  }
}

/**
 * The child side: answers every request with `handle`'s result (or its error). A request whose
 * type is `closeType` is answered, then the process exits after `onClose`. When the parent goes
 * away, `onClose` runs and the process exits.
 */
export function serveIpcRequests<Req extends IpcRequest>(options: {
  handle: (request: Req) => Promise<unknown> | unknown;
  closeType: Req['type'];
  onClose: () => void;
}): void {
  if (process.send === undefined) throw new Error('this script runs only as a child of a load script (bench/lib/ipc-child.ts)');
  const send = process.send.bind(process);
  process.on('message', (msg: Envelope<Req>) => {
    const run = async (): Promise<void> => {
      if (msg.type === options.closeType) {
        options.onClose();
        send({ id: msg.id, type: 'result', result: null });
        setTimeout(() => process.exit(0), 100).unref();
        return;
      }
      send({ id: msg.id, type: 'result', result: await options.handle(msg) });
    };
    run().catch((err: Error) => send({ id: msg.id, type: 'error', message: err.stack ?? err.message }));
  });
  // The parent died or let go: nothing left to report to.
  process.on('disconnect', () => {
    options.onClose();
    process.exit(0);
  });
}

/** Child side: tells the parent how far the current phase got (shown as {@link IpcChild.progress}). */
export function reportProgress(done: number): void {
  process.send?.({ type: 'progress', done });
}

/**
 * The receivers of bench/fanout.ts, spread over K child processes (bench/lib/fanout-receiver-child.ts)
 * so that the load generator is not what the run measures: with every receiver in the one process
 * that also publishes, that process's CPU was the bound (docs/benchmarks.md). Subscriber `i` of the
 * run lives in the process whose range (bench/lib/user-load.ts splitRange) holds `i`, and connects to
 * `urls[i mod urls.length]`, as the in-process subscribers did. Each process counts its deliveries
 * with a DeliveryTracker; the parent sums the counts and merges the latency samples over IPC.
 */
import * as path from 'node:path';
import { sumDeliveryCounts, type DeliveryCounts } from './delivery-tracker';
import { IpcChild } from './ipc-child';
import { LatencyRecorder } from './stats';
import { splitRange } from './user-load';

/** Which client a receiver is: `lean` ({@link ./lean-receivers}) or `library` (bench/lib/fanout-clients.ts). */
export type ReceiverClients = 'lean' | 'library';

/** The wire protocol of a path's receivers. */
export type ReceiverProtocol = 'stomp' | 'socketio' | 'floor';

/** How the receivers of one path connect. */
export interface ReceiverSpec {
  protocol: ReceiverProtocol;
  clients: ReceiverClients;
  /** Subscriber `i` connects to `urls[i mod urls.length]` (STOMP: ws URL; Socket.IO: http base; floor: ws base). */
  urls: string[];
  /** STOMP login; undefined: `bench-<i>` (the relay's dev mode takes it as the user name). */
  login?: string;
  passcode?: string;
  topic: string;
}

/** What one receiver process is to do: subscribers `from..to-1` of the run. */
export interface ReceiverPlan extends ReceiverSpec {
  from: number;
  to: number;
}

/** Counts of one process, or summed over all: deliveries plus the receivers' health. */
export interface ReceiverCounts extends DeliveryCounts {
  /** Receivers whose socket closed. */
  closed: number;
  /** ERROR frames and unreadable messages. */
  errors: number;
}

export type ToReceiverChild =
  | { type: 'open' }
  | { type: 'subscribe' }
  | { type: 'track'; base: number; count: number }
  | { type: 'counts' }
  | { type: 'samples' }
  | { type: 'close' };

export const RECEIVER_PLAN_ENV = 'STOMP_RELAY_FANOUT_RECEIVER_PLAN';

/** Handshakes (and subscribes) of a phase may take this long in all. */
const PHASE_TIMEOUT_MS = 120_000;

/** `subscribers` receivers of one path in `processes` child processes. */
export class FanoutReceivers {
  private constructor(readonly subscribers: number, private readonly children: Array<IpcChild<ToReceiverChild>>) {}

  /** Forks the processes (they open nothing until {@link open}). */
  static start(spec: ReceiverSpec, subscribers: number, processes: number): FanoutReceivers {
    const ranges = splitRange(subscribers, Math.max(1, Math.min(processes, subscribers)));
    return new FanoutReceivers(subscribers, ranges.map((range) => {
      const plan: ReceiverPlan = { ...spec, ...range };
      return IpcChild.start<ToReceiverChild>(`receiver process ${range.from}..${range.to - 1}`, path.join(__dirname, 'fanout-receiver-child.ts'), {
        [RECEIVER_PLAN_ENV]: JSON.stringify(plan),
      });
    }));
  }

  /** Connects every receiver (bounded concurrency per process); rejects if any fails. */
  async open(): Promise<void> {
    await this.all({ type: 'open' }, PHASE_TIMEOUT_MS);
  }

  /** Subscribes every receiver to the topic; resolves once each subscription is confirmed. */
  async subscribe(): Promise<void> {
    await this.all({ type: 'subscribe' }, PHASE_TIMEOUT_MS);
  }

  /** From now on, count messages `base..base+count-1` (a new DeliveryTracker per process). */
  async track(base: number, count: number): Promise<void> {
    await this.all({ type: 'track', base, count }, 30_000);
  }

  /** Counts so far, summed over the processes. */
  async counts(): Promise<ReceiverCounts> {
    const parts = await this.all<ReceiverCounts>({ type: 'counts' }, 30_000);
    return {
      ...sumDeliveryCounts(parts),
      closed: parts.reduce((n, p) => n + p.closed, 0),
      errors: parts.reduce((n, p) => n + p.errors, 0),
    };
  }

  /** Every process's latency samples of the current tracking, in one recorder. */
  async latency(): Promise<LatencyRecorder> {
    const parts = await this.all<{ samples: Float64Array; offered: number }>({ type: 'samples' }, 60_000);
    const merged = new LatencyRecorder(parts.reduce((n, p) => n + p.samples.length, 0));
    for (const p of parts) merged.recordAll(p.samples, p.offered);
    return merged;
  }

  /** CPU seconds of the receiver processes so far. */
  cpuSeconds(): number {
    return this.children.reduce((sum, c) => sum + c.cpuSeconds(), 0);
  }

  /** Closes every receiver and ends the processes (each bounded, SIGKILL as the last resort). */
  async close(): Promise<void> {
    await Promise.all(this.children.map((c) => c.close({ type: 'close' })));
  }

  /** Synchronous SIGKILL of every process, for process-exit hooks. */
  kill(): void {
    for (const c of this.children) c.kill();
  }

  private all<T = unknown>(request: ToReceiverChild, timeoutMs: number): Promise<T[]> {
    return Promise.all(this.children.map((c) => c.request<T>(request, timeoutMs)));
  }
}

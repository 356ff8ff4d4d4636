/**
 * Tens of thousands of connected users for load scripts. One process may hold only `ulimit -n`
 * sockets (20 000 on the reference machine), so the users are spread over child processes
 * (bench/lib/user-load-child.ts), each with a contiguous range of user numbers and a loopback
 * source address of its own (each has its own ~28 000 ephemeral ports). The parent drives them over
 * IPC: connect, subscribe, then ask how many of a round of pushes arrived.
 *
 * User `i` is `u<i>` (dev-mode login), connects to instance `i mod instances`, subscribes
 * `/user/queue/n` and `/topic/t<k>` with k = floor(i / instances) mod topics (so every instance
 * carries every topic), with receipts. A push of round r to user i carries the body `r:i`, so a
 * child can tell a delivery to the wrong user from a missing one; a publish of round r to topic k
 * carries `r:k` (the same format), so a child counts the sessions that got their topic's message.
 */
import * as path from 'node:path';
import { IpcChild } from './ipc-child';

/** The login of user `i`. */
export function userLogin(i: number): string {
  return `u${i}`;
}

/** Which relay instance user `i` connects to. */
export function instanceOfUser(i: number, instances: number): number {
  return i % instances;
}

/** How many of users 0..total-1 connect to instance `k`. */
export function usersOfInstance(k: number, instances: number, total: number): number {
  return Math.floor(total / instances) + (k < total % instances ? 1 : 0);
}

/**
 * `size` users of 0..total-1 spread evenly over the instances other than the first (over all users
 * with one instance): pushes sent through the first instance to them must cross to another one.
 */
export function sampleUsersOffFirstInstance(total: number, instances: number, size: number): number[] {
  const others = instances === 1 ? total : total - usersOfInstance(0, instances, total);
  const count = Math.min(size, others);
  const sample: number[] = [];
  for (let j = 0; j < count; j++) {
    // The k-th user not on instance 0, for evenly spaced k; the offset j mod (N − 1) keeps an even
    // spacing from landing on one instance only.
    const offset = instances > 1 && others / count >= instances - 1 ? j % (instances - 1) : 0;
    const k = Math.floor((j * others) / count) + offset;
    sample.push(instances === 1 ? k : Math.floor(k / (instances - 1)) * instances + 1 + (k % (instances - 1)));
  }
  return sample;
}

/** Which of the `topics` topics user `i` subscribes to: each instance gets every topic. */
export function topicOfUser(i: number, instances: number, topics: number): number {
  return Math.floor(i / instances) % topics;
}

/** Splits users 0..total-1 into `parts` contiguous ranges whose sizes differ by at most one. */
export function splitRange(total: number, parts: number): Array<{ from: number; to: number }> {
  const ranges: Array<{ from: number; to: number }> = [];
  const base = Math.floor(total / parts);
  const extra = total % parts;
  let from = 0;
  for (let p = 0; p < parts; p++) {
    const to = from + base + (p < extra ? 1 : 0);
    ranges.push({ from, to });
    from = to;
  }
  return ranges;
}

/** The loopback source address of load process `p` (127.0.0.2, 127.0.0.3, …). */
export function sourceAddressOf(p: number): string {
  if (p < 0 || p > 250) throw new Error(`no loopback source address for load process ${p}`);
  return `127.0.0.${2 + p}`;
}

/** The body of round `round`'s push to user `user`. */
export function pushBody(round: number, user: number): string {
  return `${round}:${user}`;
}

/** Reads a {@link pushBody}; undefined for anything else. */
export function parsePushBody(body: string): { round: number; user: number } | undefined {
  const match = /^(\d+):(\d+)$/.exec(body);
  return match ? { round: Number(match[1]), user: Number(match[2]) } : undefined;
}

/** What one load process is to do. */
export interface UserLoadPlan {
  /** Users from..to-1. */
  from: number;
  to: number;
  /** WebSocket URL of each instance. */
  urls: string[];
  topics: number;
  localAddress?: string;
  /** Handshakes in flight at once in this process. */
  connectConcurrency: number;
  /** Sessions subscribing at once in this process. */
  subscribeConcurrency: number;
  connectTimeoutMs: number;
  /** `urls` are SockJS bases (`http://host:port/sockjs`): each session opens SockJS's websocket transport. */
  sockjs?: boolean;
  /** STOMP heart-beats offered in CONNECT as `<ms>,<ms>` (stomp.js offers 10000,10000). Default 0: none. */
  heartbeatMs?: number;
}

/** Outcome of a connect or subscribe phase. */
export interface PhaseResult {
  ok: number;
  failed: number;
  firstError?: string;
}

/** What a round of pushes did, so far, in one process (or summed over all). */
export interface RoundStatus {
  /** Users that got their push of the round. */
  delivered: number;
  duplicates: number;
  /** Pushes of the round that reached a session of another user (and topic messages of another topic). */
  misrouted: number;
  /** Sessions that got the round's message on their topic; second copies of it. */
  topicDelivered: number;
  topicDuplicates: number;
  /** Date.now() of the round's last topic delivery (NaN before any). */
  topicLastAt: number;
  /** Date.now() of the first and last delivery of the round (NaN before any). */
  firstAt: number;
  lastAt: number;
  /** Sessions whose socket closed since they connected. */
  closed: number;
  errorFrames: number;
  /** With `missing` asked for: users of the range without their push. */
  missing?: number[];
}

/** Orders of the parent to a load process. */
export type ToChild = { type: 'connect' } | { type: 'subscribe' } | { type: 'status'; round: number; missing: boolean } | { type: 'close' };

export const PLAN_ENV = 'STOMP_RELAY_USER_LOAD_PLAN';

/** One load process, seen from the parent (an {@link IpcChild} running bench/lib/user-load-child.ts). */
export class UserLoadProcess {
  private constructor(readonly plan: UserLoadPlan, private readonly child: IpcChild<ToChild>) {}

  /** Forks a load process (TypeScript through tsx, as the relays run). */
  static start(plan: UserLoadPlan): UserLoadProcess {
    const child = IpcChild.start<ToChild>(`load process ${plan.from}..${plan.to - 1}`, path.join(__dirname, 'user-load-child.ts'), { [PLAN_ENV]: JSON.stringify(plan) });
    return new UserLoadProcess(plan, child);
  }

  /** Users of this process done in the current phase (progress reports). */
  get progress(): number {
    return this.child.progress;
  }

  /** CPU seconds the process used so far. */
  cpuSeconds(): number {
    return this.child.cpuSeconds();
  }

  connect(timeoutMs: number): Promise<PhaseResult> {
    return this.child.request<PhaseResult>({ type: 'connect' }, timeoutMs);
  }

  subscribe(timeoutMs: number): Promise<PhaseResult> {
    return this.child.request<PhaseResult>({ type: 'subscribe' }, timeoutMs);
  }

  status(round: number, missing: boolean): Promise<RoundStatus> {
    return this.child.request<RoundStatus>({ type: 'status', round, missing }, 30_000);
  }

  /** Drops every socket and ends the process (SIGKILL if it does not within 10 s). */
  close(): Promise<void> {
    return this.child.close({ type: 'close' });
  }

  kill(): void {
    this.child.kill();
  }
}

/** Sums the load processes' {@link PhaseResult}s. */
export function sumPhase(results: PhaseResult[]): PhaseResult {
  return {
    ok: results.reduce((n, r) => n + r.ok, 0),
    failed: results.reduce((n, r) => n + r.failed, 0),
    firstError: results.find((r) => r.firstError !== undefined)?.firstError,
  };
}

/** Sums the load processes' {@link RoundStatus}es (times: earliest first, latest last). */
export function sumStatus(statuses: RoundStatus[]): RoundStatus {
  const finite = (xs: number[]): number[] => xs.filter((x) => Number.isFinite(x));
  const firsts = finite(statuses.map((s) => s.firstAt));
  const lasts = finite(statuses.map((s) => s.lastAt));
  const topicLasts = finite(statuses.map((s) => s.topicLastAt));
  const missing = statuses.every((s) => s.missing !== undefined) ? statuses.flatMap((s) => s.missing!) : undefined;
  return {
    delivered: statuses.reduce((n, s) => n + s.delivered, 0),
    duplicates: statuses.reduce((n, s) => n + s.duplicates, 0),
    misrouted: statuses.reduce((n, s) => n + s.misrouted, 0),
    topicDelivered: statuses.reduce((n, s) => n + s.topicDelivered, 0),
    topicDuplicates: statuses.reduce((n, s) => n + s.topicDuplicates, 0),
    topicLastAt: topicLasts.length > 0 ? Math.max(...topicLasts) : NaN,
    firstAt: firsts.length > 0 ? Math.min(...firsts) : NaN,
    lastAt: lasts.length > 0 ? Math.max(...lasts) : NaN,
    closed: statuses.reduce((n, s) => n + s.closed, 0),
    errorFrames: statuses.reduce((n, s) => n + s.errorFrames, 0),
    ...(missing !== undefined ? { missing } : {}),
  };
}

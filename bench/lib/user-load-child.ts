/**
 * A load process of bench/lib/user-load.ts: holds the sessions of one range of users, connects and
 * subscribes them when told, and counts the pushes each user receives per round. Runs only as a
 * child (the plan comes in the environment, orders over IPC); exits when its parent goes away.
 */
import { reportProgress, serveIpcRequests } from './ipc-child';
import { connectStomp, sockJsWebSocketUrl, type StompWsClient } from './stomp-ws-client';
import {
  instanceOfUser, parsePushBody, PLAN_ENV, topicOfUser, userLogin,
  type PhaseResult, type RoundStatus, type ToChild, type UserLoadPlan,
} from './user-load';

/** Deliveries of one round to this process's users. */
class RoundTally {
  readonly seen: Uint8Array;
  delivered = 0;
  duplicates = 0;
  firstAt = NaN;
  lastAt = NaN;

  constructor(size: number) {
    this.seen = new Uint8Array(size);
  }
}

/** Sessions and tallies of this process's users; one per process, made in {@link main}. */
class UserLoad {
  private readonly clients: Array<StompWsClient | undefined>;
  private readonly rounds = new Map<number, RoundTally>();
  /** Topic messages per round (one per session expected: each session follows one topic). */
  private readonly topicRounds = new Map<number, RoundTally>();
  private misrouted = 0;
  private progress = 0;
  private readonly progressTimer: NodeJS.Timeout;

  constructor(private readonly plan: UserLoadPlan) {
    this.clients = new Array(plan.to - plan.from);
    this.progressTimer = setInterval(() => reportProgress(this.progress), 1_000);
    this.progressTimer.unref();
  }

  connect(): Promise<PhaseResult> {
    const { plan } = this;
    return this.forEachUser(plan.connectConcurrency, async (user) => {
      const url = plan.urls[instanceOfUser(user, plan.urls.length)]!;
      this.clients[user - plan.from] = await connectStomp({
        url: plan.sockjs ? sockJsWebSocketUrl(url) : url,
        sockjs: plan.sockjs,
        login: userLogin(user),
        // No heart-beats unless asked for: tens of thousands of idle sessions, and a starved load
        // process must not look like a dead client to the relay.
        heartbeatMs: plan.heartbeatMs ?? 0,
        serverHeartbeatMs: plan.heartbeatMs ?? 0,
        localAddress: plan.localAddress,
        timeoutMs: plan.connectTimeoutMs,
      });
    });
  }

  subscribe(): Promise<PhaseResult> {
    const { plan } = this;
    return this.forEachUser(plan.subscribeConcurrency, async (user) => {
      const client = this.clients[user - plan.from];
      if (client === undefined) throw new Error(`user ${user} is not connected`);
      const topic = topicOfUser(user, plan.urls.length, plan.topics);
      await Promise.all([
        client.subscribe('/user/queue/n', (frame) => this.onPush(user, frame.body.toString('utf8'))),
        client.subscribe(`/topic/t${topic}`, (frame) => this.onTopic(user, topic, frame.body.toString('utf8'))),
      ]);
    });
  }

  status(round: number, withMissing: boolean): RoundStatus {
    const tally = this.rounds.get(round) ?? new RoundTally(this.clients.length);
    const topicTally = this.topicRounds.get(round);
    let closed = 0;
    let errorFrames = 0;
    for (const c of this.clients) {
      if (c === undefined) continue;
      if (c.closed) closed++;
      errorFrames += c.errors.length;
    }
    const status: RoundStatus = {
      delivered: tally.delivered, duplicates: tally.duplicates, misrouted: this.misrouted,
      topicDelivered: topicTally?.delivered ?? 0, topicDuplicates: topicTally?.duplicates ?? 0, topicLastAt: topicTally?.lastAt ?? NaN,
      firstAt: tally.firstAt, lastAt: tally.lastAt, closed, errorFrames,
    };
    if (withMissing) {
      status.missing = [];
      for (let k = 0; k < tally.seen.length; k++) if (!tally.seen[k]) status.missing.push(this.plan.from + k);
    }
    return status;
  }

  /** Drops every socket at once (no DISCONNECT: the relays are about to stop anyway). */
  close(): void {
    clearInterval(this.progressTimer);
    for (const c of this.clients) c?.terminate();
  }

  private onPush(user: number, body: string): void {
    const push = parsePushBody(body);
    if (push === undefined) return;
    if (push.user !== user) {
      this.misrouted++;
      return;
    }
    this.count(this.rounds, push.round, user);
  }

  /** A message on the topic of `user` (body `round:topic`, see bench/lib/user-load.ts). */
  private onTopic(user: number, topic: number, body: string): void {
    const message = parsePushBody(body);
    if (message === undefined) return;
    if (message.user !== topic) {
      this.misrouted++;
      return;
    }
    this.count(this.topicRounds, message.round, user);
  }

  /** Marks `user`'s delivery of `round` in `rounds` (a second one is a duplicate). */
  private count(rounds: Map<number, RoundTally>, round: number, user: number): void {
    let tally = rounds.get(round);
    if (tally === undefined) {
      tally = new RoundTally(this.clients.length);
      rounds.set(round, tally);
    }
    const now = Date.now();
    const slot = user - this.plan.from;
    if (tally.seen[slot]) {
      tally.duplicates++;
      return;
    }
    tally.seen[slot] = 1;
    tally.delivered++;
    if (tally.delivered === 1) tally.firstAt = now;
    tally.lastAt = now;
  }

  /** Runs `task` for every user of the range, `concurrency` at a time; failures are counted, not thrown. */
  private async forEachUser(concurrency: number, task: (user: number) => Promise<void>): Promise<PhaseResult> {
    const { from, to } = this.plan;
    const result: PhaseResult = { ok: 0, failed: 0 };
    this.progress = 0;
    let next = from;
    const worker = async (): Promise<void> => {
      while (next < to) {
        const user = next++;
        try {
          await task(user);
          result.ok++;
        } catch (err) {
          result.failed++;
          result.firstError ??= `user ${user}: ${(err as Error).message}`;
        }
        this.progress++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, to - from) }, worker));
    return result;
  }
}

function main(): void {
  const raw = process.env[PLAN_ENV];
  if (raw === undefined) throw new Error('user-load-child runs only as a child of bench/lib/user-load.ts');
  const load = new UserLoad(JSON.parse(raw) as UserLoadPlan);
  serveIpcRequests<ToChild>({
    closeType: 'close',
    // Drops every socket at once (no DISCONNECT: the relays are about to stop anyway).
    onClose: () => load.close(),
    handle: (msg): Promise<PhaseResult> | RoundStatus => {
      switch (msg.type) {
        case 'connect': return load.connect();
        case 'subscribe': return load.subscribe();
        case 'status': return load.status(msg.round, msg.missing);
        case 'close': throw new Error('close is answered by serveIpcRequests');
      }
    },
  });
}

main();

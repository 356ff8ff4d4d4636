/**
 * Cluster presence: which users have sessions on which instances.
 *
 * Every instance publishes a snapshot of its users (name → session count) to the internal registry
 * destination when they change (coalesced) and every `intervalMs` regardless; every instance keeps
 * the latest snapshot of each peer and forgets a peer it has not heard from for `intervalMs ×
 * ttlFactor` (so an instance killed with SIGKILL drops out within a bounded time). A peer that
 * shuts down cleanly says so and is forgotten at once.
 *
 * Eventually consistent by design: presence answers "how many sessions, as far as we know", it
 * never gates delivery (a push is published whatever presence says).
 */
import type { Broker, Consumer, Delivery } from '../broker/broker';
import { headers } from '../codec/frame';
import type { Logger } from '../observability/logger';
import { REGISTRY_DESTINATION } from './user-destinations';

export interface PresenceOptions {
  broker: Broker;
  instanceId: string;
  /** Current local sessions per user; called when a snapshot is published. */
  localUsers(): ReadonlyMap<string, number>;
  /** Current local sessions of one user; called on every lookup (a push), so it must be cheap. */
  localSessionsOf(user: string): number;
  logger: Logger;
  /** Snapshot interval (default 5000 ms). */
  intervalMs?: number;
  /** A peer silent for intervalMs × ttlFactor is forgotten (default 3). */
  ttlFactor?: number;
  /** Coalescing delay for change-triggered snapshots (default 50 ms). */
  changeDelayMs?: number;
}

interface Snapshot {
  v: 1;
  instanceId: string;
  users: Record<string, number>;
  /** Set when the instance is shutting down cleanly. */
  leaving?: boolean;
}

interface PeerState {
  users: Map<string, number>;
  expiresAt: number;
}

export interface UserPresence {
  user: string;
  /** Sessions across the cluster, as far as this instance knows. */
  sessions: number;
  instances: Array<{ instanceId: string; sessions: number }>;
}

export class ClusterPresence {
  private readonly peers = new Map<string, PeerState>();
  private readonly intervalMs: number;
  private readonly ttlMs: number;
  private readonly changeDelayMs: number;
  private consumer: Consumer | null = null;
  private timer: NodeJS.Timeout | null = null;
  private changeTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private subscribing = false;
  private unsubscribeReady: (() => void) | null = null;

  constructor(private readonly options: PresenceOptions) {
    this.intervalMs = options.intervalMs ?? 5_000;
    this.ttlMs = this.intervalMs * (options.ttlFactor ?? 3);
    this.changeDelayMs = options.changeDelayMs ?? 50;
  }

  /**
   * Subscribes to the registry and publishes the first snapshot. With the broker down it resolves
   * anyway and subscribes once the broker is ready (the relay starts while RabbitMQ is away).
   */
  async start(): Promise<void> {
    this.timer = setInterval(() => this.publish(false), this.intervalMs);
    this.timer.unref();
    // A broker that comes back after an outage missed our snapshots: send one at once.
    this.unsubscribeReady = this.options.broker.onReadyChange((ready) => {
      if (!ready || this.stopped) return;
      void this.ensureSubscribed().then(() => this.publish(false));
    });
    await this.ensureSubscribed();
    this.publish(false);
  }

  private async ensureSubscribed(): Promise<void> {
    if (this.consumer || this.subscribing || this.stopped) return;
    this.subscribing = true;
    try {
      this.consumer = await this.options.broker.subscribe(
        { destination: REGISTRY_DESTINATION, ack: 'auto', headers: headers() },
        {
          deliver: (d) => this.onSnapshot(d),
          cancelled: (reason) => {
            this.consumer = null;
            this.options.logger.warn({ reason: reason.message }, 'presence registry subscription cancelled');
          },
        },
      );
      if (this.stopped) await this.consumer.close();
    } catch (err) {
      this.options.logger.warn({ err }, 'presence registry not subscribed yet; retrying when the broker is ready');
    } finally {
      this.subscribing = false;
    }
  }

  /** Local users changed (a session connected or left): publish soon, coalescing bursts. */
  localChanged(): void {
    if (this.stopped || this.changeTimer) return;
    this.changeTimer = setTimeout(() => {
      this.changeTimer = null;
      this.publish(false);
    }, this.changeDelayMs);
    this.changeTimer.unref();
  }

  /** Presence of one user, counting this instance's sessions directly and peers' from snapshots. */
  lookup(user: string): UserPresence {
    const instances: Array<{ instanceId: string; sessions: number }> = [];
    const local = this.options.localSessionsOf(user);
    if (local > 0) instances.push({ instanceId: this.options.instanceId, sessions: local });
    const now = Date.now();
    for (const [instanceId, peer] of this.peers) {
      if (peer.expiresAt < now) {
        this.peers.delete(instanceId);
        continue;
      }
      const n = peer.users.get(user) ?? 0;
      if (n > 0) instances.push({ instanceId, sessions: n });
    }
    return { user, sessions: instances.reduce((a, i) => a + i.sessions, 0), instances };
  }

  /** Announces departure (peers forget us at once) and stops. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.changeTimer) clearTimeout(this.changeTimer);
    this.unsubscribeReady?.();
    await this.send(true).catch(() => undefined);
    await this.consumer?.close();
  }

  private publish(leaving: boolean): void {
    if (this.stopped && !leaving) return;
    if (!this.options.broker.ready) return;
    this.send(leaving).catch((err) => this.options.logger.debug({ err }, 'presence snapshot not published'));
  }

  private send(leaving: boolean): Promise<void> {
    const snapshot: Snapshot = {
      v: 1,
      instanceId: this.options.instanceId,
      users: leaving ? {} : Object.fromEntries(this.options.localUsers()),
      ...(leaving ? { leaving: true } : {}),
    };
    return this.options.broker.publish({
      destination: REGISTRY_DESTINATION,
      headers: headers({ 'content-type': 'application/json' }),
      body: Buffer.from(JSON.stringify(snapshot)),
    });
  }

  private onSnapshot(delivery: Delivery): void {
    let snapshot: Snapshot;
    try {
      snapshot = JSON.parse(delivery.message.body.toString('utf8')) as Snapshot;
    } catch {
      return; // not ours: the registry destination is closed to clients, but stay robust
    }
    if (snapshot?.v !== 1 || typeof snapshot.instanceId !== 'string' || typeof snapshot.users !== 'object' || snapshot.users === null) return;
    if (snapshot.instanceId === this.options.instanceId) return;
    if (snapshot.leaving) {
      this.peers.delete(snapshot.instanceId);
      return;
    }
    const users = new Map<string, number>();
    for (const [name, count] of Object.entries(snapshot.users)) {
      if (typeof count === 'number' && count > 0) users.set(name, count);
    }
    this.peers.set(snapshot.instanceId, { users, expiresAt: Date.now() + this.ttlMs });
  }
}

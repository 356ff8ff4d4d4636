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
import type { Broker } from '../broker/broker';
import type { Logger } from '../observability/logger';
import { InternalChannel } from './internal-channel';
import { REGISTRY_DESTINATION } from './user-destinations';

export interface PresenceOptions {
  broker: Broker;
  instanceId: string;
  /** Current local sessions per user; called when a snapshot is published. */
  localUsers(): ReadonlyMap<string, number>;
  /**
   * A number that changes whenever {@link localUsers} would answer differently (e.g. a count of
   * connects and disconnects). With it, a periodic snapshot while nothing changed is the bytes of the
   * last one sent again, not built again: at 20,000 users a snapshot is a Map, an object and a JSON
   * string of 20,000 entries every interval (~1 KB of garbage per user). Without it, every snapshot
   * is built.
   */
  localUsersVersion?(): number;
  /** Current local sessions of one user; called on every lookup (a push), so it must be cheap. */
  localSessionsOf(user: string): number;
  logger: Logger;
  /** Snapshot interval (default 5000 ms). */
  intervalMs?: number;
  /** A peer silent for intervalMs × ttlFactor is forgotten (default 3). */
  ttlFactor?: number;
  /** Coalescing delay for change-triggered snapshots (default 50 ms; longer for big snapshots, see {@link changeDelayFor}). */
  changeDelayMs?: number;
}

/** Coalescing delay added per user in the last snapshot (10,000 users: 1 s). */
const CHANGE_DELAY_PER_USER_MS = 0.1;

/**
 * How long to coalesce local changes before a snapshot, given the users in the last one. Every
 * instance builds its snapshot and every instance parses it, so each costs O(users) on each of
 * them; a fixed delay made a burst of connects quadratic (at 15,000 users per instance a snapshot
 * every 50 ms took more CPU than the connects themselves, docs/benchmarks.md "Scale"). A delay in
 * proportion to the snapshot keeps what presence costs per second independent of the number of
 * users; it never exceeds the periodic interval, so presence is never staler than it already is.
 */
export function changeDelayFor(lastSnapshotUsers: number, minDelayMs: number, intervalMs: number): number {
  return Math.max(minDelayMs, Math.min(intervalMs, lastSnapshotUsers * CHANGE_DELAY_PER_USER_MS));
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

/** What presence knows of one user across the cluster (eventually consistent). */
export interface UserPresence {
  /** The user name. */
  user: string;
  /** Sessions across the cluster, as far as this instance knows. */
  sessions: number;
  /** The instances where the user has sessions. */
  instances: Array<{
    /** The instance's id (`INSTANCE_ID`). */
    instanceId: string;
    /** The user's sessions there. */
    sessions: number;
  }>;
}

export class ClusterPresence {
  private readonly peers = new Map<string, PeerState>();
  private readonly intervalMs: number;
  private readonly ttlMs: number;
  private readonly changeDelayMs: number;
  private readonly registry: InternalChannel;
  private timer: NodeJS.Timeout | null = null;
  private changeTimer: NodeJS.Timeout | null = null;
  /** Users in the last snapshot sent: sizes the next coalescing delay without counting them again. */
  private lastSnapshotUsers = 0;
  /** The last snapshot built (not a leaving one), and the {@link PresenceOptions.localUsersVersion} it was built at. */
  private lastSnapshot: { version: number; body: Buffer } | null = null;
  /** How our own snapshots begin (`{"v":1,"instanceId":"<ours>",`): they come back to us and are dropped unparsed. */
  private readonly ownSnapshotPrefix: Buffer;
  private stopped = false;

  constructor(private readonly options: PresenceOptions) {
    this.intervalMs = options.intervalMs ?? 5_000;
    this.ttlMs = this.intervalMs * (options.ttlFactor ?? 3);
    this.changeDelayMs = options.changeDelayMs ?? 50;
    this.ownSnapshotPrefix = Buffer.from(`{"v":1,"instanceId":${JSON.stringify(options.instanceId)},`);
    this.registry = new InternalChannel({
      broker: options.broker,
      destination: REGISTRY_DESTINATION,
      name: 'presence registry',
      logger: options.logger,
      onMessage: (m) => this.onSnapshot(m),
      accept: (body) => !this.isOwnSnapshot(body),
      // A broker that comes back after an outage missed our snapshots: send one at once.
      onReady: () => this.publish(false),
    });
  }

  /**
   * Subscribes to the registry and publishes the first snapshot. With the broker down it resolves
   * anyway and subscribes once the broker is ready (the relay starts while RabbitMQ is away).
   */
  async start(): Promise<void> {
    this.timer = setInterval(() => this.publish(false), this.intervalMs);
    this.timer.unref();
    await this.registry.start();
    this.publish(false);
  }

  /** Local users changed (a session connected or left): publish soon, coalescing bursts. */
  localChanged(): void {
    if (this.stopped || this.changeTimer) return;
    this.changeTimer = setTimeout(
      () => {
        this.changeTimer = null;
        this.publish(false);
      },
      changeDelayFor(this.lastSnapshotUsers, this.changeDelayMs, this.intervalMs),
    );
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

  /** Instances this one knows to be up: itself and every peer heard from within the TTL. */
  knownInstances(): number {
    const now = Date.now();
    let n = 1;
    for (const peer of this.peers.values()) if (peer.expiresAt >= now) n++;
    return n;
  }

  /**
   * Online users as far as this instance knows (its own sessions and its peers' snapshots), sorted
   * by name (code-unit order), at most `limit` of them whose names come after `after`; `more` tells
   * whether others follow. Costs a pass over every known user: for an admin listing, not a hot path.
   */
  list(after: string | undefined, limit: number): { users: UserPresence[]; more: boolean } {
    const byUser = new Map<string, Array<{ instanceId: string; sessions: number }>>();
    const add = (user: string, instanceId: string, sessions: number) => {
      if (sessions <= 0 || (after !== undefined && user <= after)) return;
      let instances = byUser.get(user);
      if (instances === undefined) byUser.set(user, (instances = []));
      instances.push({ instanceId, sessions });
    };
    for (const [user, n] of this.options.localUsers()) add(user, this.options.instanceId, n);
    const now = Date.now();
    for (const [instanceId, peer] of this.peers) {
      if (peer.expiresAt < now) continue;
      for (const [user, n] of peer.users) add(user, instanceId, n);
    }
    const names = [...byUser.keys()].sort();
    const users = names.slice(0, limit).map((user) => {
      const instances = byUser.get(user)!;
      return { user, sessions: instances.reduce((a, i) => a + i.sessions, 0), instances };
    });
    return { users, more: names.length > limit };
  }

  /** Announces departure (peers forget us at once) and stops. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.changeTimer) clearTimeout(this.changeTimer);
    await this.send(true).catch(() => undefined);
    await this.registry.stop();
  }

  private publish(leaving: boolean): void {
    if (this.stopped && !leaving) return;
    if (!this.options.broker.ready) return;
    this.send(leaving).catch((err) => this.options.logger.debug({ err }, 'presence snapshot not published'));
  }

  private send(leaving: boolean): Promise<void> {
    const version = leaving ? undefined : this.options.localUsersVersion?.();
    if (version !== undefined && this.lastSnapshot?.version === version) return this.registry.publishEncoded(this.lastSnapshot.body);
    const local = leaving ? new Map<string, number>() : this.options.localUsers();
    this.lastSnapshotUsers = local.size;
    // Key order matters: isOwnSnapshot recognises ours by `v` and `instanceId` first.
    const snapshot: Snapshot = {
      v: 1,
      instanceId: this.options.instanceId,
      users: Object.fromEntries(local),
      ...(leaving ? { leaving: true } : {}),
    };
    const body = InternalChannel.encode(snapshot);
    this.lastSnapshot = version === undefined ? null : { version, body };
    return this.registry.publishEncoded(body);
  }

  /** A snapshot this instance sent (see {@link send}): compared in place, nothing allocated. */
  private isOwnSnapshot(body: Buffer): boolean {
    const prefix = this.ownSnapshotPrefix;
    return body.length > prefix.length && body.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
  }

  private onSnapshot(message: Record<string, unknown>): void {
    const snapshot = message as unknown as Snapshot;
    if (snapshot.v !== 1 || typeof snapshot.instanceId !== 'string' || typeof snapshot.users !== 'object' || snapshot.users === null)
      return;
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

/**
 * Keeps requests that could make RabbitMQ close a connection away from the shared pool.
 *
 * Every SUBSCRIBE and SEND is first sorted by request-risk.ts. Safe ones pass at once (no
 * allocation, no await). Impossible ones are refused at once. Risky ones are looked up in a
 * bounded TTL cache of verdicts; the first use of a risky destination is tried on the probe
 * connection, and waits for it: one or two extra round trips to RabbitMQ, once per TTL. Concurrent
 * first uses of one destination share one probe.
 *
 * What remains: a queue can change between the probe and the real request (deleted and
 * redeclared with other flags by someone else); RabbitMQ then still closes a pooled connection.
 * The engine forgets the verdict when a verified request fails, so it happens at most once.
 */
import type { StompHeaders } from '../../codec/frame';
import { isRelayError, type RelayError } from '../../errors';
import type { SubscribeRequest } from '../broker';
import { isQueueLocked } from './broker-errors';
import type { ProbeConnection, ProbeRelease } from './probe-connection';
import { assessPublish, assessSubscribe, type Assessment } from './request-risk';
import { VerdictCache } from './verdict-cache';

export interface DestinationGuardOptions {
  /** How long a verified destination stays verified. Default 60 s. */
  okTtlMs?: number;
  /** How long a refusal is remembered. Default 5 s. */
  refusedTtlMs?: number;
  /** Most remembered verdicts. Default 10 000. */
  maxEntries?: number;
}

/** Nothing to release: the request was safe or already verified. */
const NOTHING_HELD: ProbeRelease = () => Promise.resolve();

export class DestinationGuard {
  private readonly probes: ProbeConnection;
  private readonly cache: VerdictCache;
  private readonly inFlight = new Map<string, Promise<void>>();

  constructor(probes: ProbeConnection, options: DestinationGuardOptions = {}) {
    this.probes = probes;
    this.cache = new VerdictCache({
      okTtlMs: options.okTtlMs ?? 60_000,
      refusedTtlMs: options.refusedTtlMs ?? 5_000,
      maxEntries: options.maxEntries ?? 10_000,
    });
  }

  /**
   * Resolves once `request` may go to a pooled connection, with a function to call once the real
   * subscription is in place (or failed): it ends the probe's hold on the queue. Rejects with the
   * refusal (DESTINATION_NOT_ALLOWED, INVALID_HEADER, BROKER_ERROR, BROKER_UNAVAILABLE).
   */
  checkSubscribe(request: SubscribeRequest): Promise<ProbeRelease> | ProbeRelease {
    return this.check(assessSubscribe(request), true) ?? NOTHING_HELD;
  }

  /**
   * Undefined when the publish may go out now (the hot path: no promise); otherwise a promise
   * that resolves once it may, or rejects with the refusal. It resolves with another destination
   * when the message must take another way: a `/queue/` that exists but is exclusive to another
   * connection (a reply queue, say) takes it through `/amq/queue/`, which declares nothing.
   */
  checkPublish(destination: string, headers: StompHeaders): Promise<string | undefined> | undefined {
    const assessment = assessPublish(destination, headers);
    const pending = this.check(assessment, false);
    if (!pending) return undefined;
    const lockedVia = assessment.verdict === 'probe' ? assessment.lockedVia : undefined;
    return pending.then(
      () => undefined,
      (err: unknown) => {
        if (lockedVia !== undefined && isRelayError(err) && isQueueLocked(err)) return lockedVia;
        throw err;
      },
    );
  }

  /**
   * A request verified earlier failed on a pooled connection after all: the broker changed. The
   * next one is probed again.
   */
  forgetSubscribe(request: SubscribeRequest): void {
    const assessment = assessSubscribe(request);
    if (assessment.verdict === 'probe') this.cache.delete(assessment.key);
  }

  forgetPublish(destination: string, headers: StompHeaders): void {
    const assessment = assessPublish(destination, headers);
    if (assessment.verdict === 'probe') this.cache.delete(assessment.key);
  }

  clear(): void {
    this.cache.clear();
  }

  /** Undefined: go ahead. Else a promise of the probe's hold (`hold`), or of nothing. */
  private check(assessment: Assessment, hold: boolean): Promise<ProbeRelease> | undefined {
    if (assessment.verdict === 'safe') return undefined;
    if (assessment.verdict === 'refuse') return Promise.reject(assessment.error);
    const { key, target } = assessment;
    // In flight first: a verdict cached while a probe is still letting go must not let a later
    // request overtake the earlier ones waiting on it (per-publisher order).
    const running = this.inFlight.get(key);
    if (running) return running.then(() => NOTHING_HELD);
    const known = this.cache.get(key);
    if (known === null) return undefined;
    if (known !== undefined) return Promise.reject(known);
    const probe = this.probes.probe(target).then(
      (release) => {
        if (hold) {
          this.cache.set(key, null);
          return release;
        }
        // A publish waits for the probe to be gone: were it still consuming, an auto-delete
        // queue could vanish right after the real SEND declared it, and the message with it.
        // Cached only then, so no later publish passes before this one.
        return release().then(() => {
          this.cache.set(key, null);
          return NOTHING_HELD;
        });
      },
      (err: RelayError) => {
        // BROKER_UNAVAILABLE says nothing about the destination: not remembered.
        if (err.code !== 'BROKER_UNAVAILABLE') this.cache.set(key, err);
        throw err;
      },
    );
    const settled = probe.then(() => undefined);
    this.inFlight.set(key, settled);
    void settled
      .catch(() => undefined)
      .finally(() => {
        this.inFlight.delete(key);
      });
    return probe;
  }
}

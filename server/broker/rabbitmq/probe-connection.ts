/**
 * A connection to RabbitMQ that nobody else uses, on which the engine tries risky requests before
 * it lets them near the shared pool (see request-risk.ts for which ones, and why).
 *
 * A probe is a SUBSCRIBE carrying the request's destination and declaration headers: RabbitMQ
 * checks or declares exactly what the real request would, and answers RECEIPT, or ERROR and
 * (usually) a closed connection. The probe connection is disposable: after any refusal it is
 * dropped and the next probe opens a fresh one, so an ERROR that RabbitMQ sends without a RECEIPT
 * (it does for values it cannot parse) can never be blamed on a later probe.
 *
 * RabbitMQ remembers per connection which queues and exchanges it already declared or checked, and
 * does not declare them again: a second probe of one queue on one connection would pass whatever
 * its flags. So a probe that names a queue or exchange already probed on the current connection
 * gets a fresh connection; the old one is closed once its held probes are released.
 *
 * Probes run one at a time: each one's answer is then unambiguous. The probe subscription is
 * `client-individual` with `prefetch-count:1`, so it holds at most one message of a real queue,
 * and gives it back (NACK through the anchor, as rabbit-consumer.ts does) when released. It is
 * released only when the caller says so: for a queue subscription that is once the real one is in
 * place, so an `auto-delete` queue is never left without consumers (RabbitMQ would delete it and
 * its messages).
 */
import type { StompFrame } from '../../codec/frame';
import { Errors, relayError, isRelayError, type RelayError } from '../../errors';
import type { Logger } from '../../observability/logger';
import { anchorAckId, subscribeAnchor } from './anchor';
import { BrokerConnection } from './broker-connection';
import { NodeRotation, type ClusterConnectionOptions } from './cluster-nodes';
import { makeFrame } from './frames';
import { parseDestination } from '../destinations';
import type { ProbeTarget } from './request-risk';

export interface ProbeConnectionOptions {
  /** Where to connect: any node of the cluster will do; a node that fails is skipped (cluster-nodes.ts). */
  connection: ClusterConnectionOptions;
  /** Index of the node tried first (mod the number of nodes). Default 0. */
  firstNode?: number;
  /** Bound on one probe (opening the connection included). */
  timeoutMs: number;
  /** Most probes waiting their turn; more are refused with BROKER_UNAVAILABLE. */
  maxQueued: number;
  /**
   * Most queues and exchanges probed on one connection before a fresh one replaces it: what it
   * remembers (and RabbitMQ with it) stays bounded however long it lives. Default 1000.
   */
  maxRoutesPerConnection?: number;
  logger: Logger;
}

/**
 * Ends a successful probe's subscription. Resolves once RabbitMQ confirmed the UNSUBSCRIBE (then
 * an auto-delete queue without other consumers is gone, and whoever declares it next gets a fresh
 * one); never rejects. Idempotent.
 */
export type ProbeRelease = () => Promise<void>;

/**
 * A request answered right behind a SUBSCRIBE whose outcome must be known: RabbitMQ answers frames
 * in order, and some refusals come as an ERROR without RECEIPT on a connection it keeps open.
 */
export const SENTINEL_DESTINATION = '/topic/stomp-relay.probe-sentinel';

/** One probe connection and what RabbitMQ has already declared or checked on it. */
interface ProbeLine {
  readonly connection: BrokerConnection;
  /** Queues and exchanges probed on it (see the module comment). */
  readonly routes: Set<string>;
  /** Probe subscriptions still held, by id: the ack ids of what RabbitMQ delivered to each. */
  readonly held: Map<string, string[]>;
  /** Replaced by a fresh one: closed once nothing is held on it. */
  retired: boolean;
}

export class ProbeConnection {
  private readonly options: ProbeConnectionOptions;
  private readonly nodes: NodeRotation;
  private opening: Promise<ProbeLine> | undefined;
  private current: ProbeLine | undefined;
  /** Tail of the chain that runs probes one at a time. */
  private tail: Promise<unknown> = Promise.resolve();
  private queued = 0;
  private nextId = 0;
  private stopped = false;
  /** Every open line, the current one and retired ones still holding probes. */
  private readonly lines = new Set<ProbeLine>();

  constructor(options: ProbeConnectionOptions) {
    this.options = options;
    this.nodes = new NodeRotation(options.connection.endpoints, options.firstNode ?? 0);
  }

  /** Probe connections opened so far (tests and metrics). */
  get connectionsOpened(): number {
    return this.opened;
  }
  private opened = 0;

  /**
   * Tries `target` on the probe connection. Resolves with a release function once RabbitMQ has
   * accepted it; rejects with RabbitMQ's refusal (DESTINATION_NOT_ALLOWED, BROKER_ERROR), or
   * BROKER_UNAVAILABLE if the probe could not be made (then nothing is known).
   */
  probe(target: ProbeTarget): Promise<ProbeRelease> {
    if (this.stopped) return Promise.reject(relayError(Errors.BROKER_UNAVAILABLE, 'the relay is stopping'));
    if (this.queued >= this.options.maxQueued) {
      return Promise.reject(relayError(Errors.BROKER_UNAVAILABLE, `${this.queued} destinations are waiting to be verified; try again`));
    }
    this.queued++;
    const run = (): Promise<ProbeRelease> =>
      this.run(target).finally(() => {
        this.queued--;
      });
    const result = this.tail.then(run, run);
    this.tail = result.catch(() => undefined);
    return result;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const opening = this.opening;
    this.opening = undefined;
    await opening?.catch(() => undefined);
    await Promise.all([...this.lines].map((line) => line.connection.close()));
  }

  private async run(target: ProbeTarget): Promise<ProbeRelease> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            relayError(
              Errors.BROKER_UNAVAILABLE,
              `RabbitMQ did not answer a probe of ${target.destination} within ${this.options.timeoutMs} ms`,
            ),
          ),
        this.options.timeoutMs,
      );
    });
    timedOut.catch(() => undefined);
    try {
      const route = routeOf(target.destination);
      const current = this.current;
      if (current && (current.routes.has(route) || current.routes.size >= (this.options.maxRoutesPerConnection ?? 1000)))
        this.retire(current);
      const line = await Promise.race([this.line(), timedOut]);
      line.routes.add(route);
      return await this.subscribe(line, target, timedOut);
    } finally {
      clearTimeout(timer);
    }
  }

  private async subscribe(line: ProbeLine, target: ProbeTarget, timedOut: Promise<never>): Promise<ProbeRelease> {
    const { connection } = line;
    const id = `probe-${++this.nextId}`;
    let subscribeOutcome: 'pending' | 'ok' | RelayError = 'pending';
    const subscribed = connection
      .request(
        makeFrame('SUBSCRIBE', {
          ...target.headers,
          id,
          destination: target.destination,
          ack: 'client-individual',
          'prefetch-count': '1',
        }),
      )
      .then(
        () => {
          subscribeOutcome = 'ok';
        },
        (err: RelayError) => {
          subscribeOutcome = err;
        },
      );
    line.held.set(id, []);
    const sentinel = connection.request(makeFrame('SEND', { destination: SENTINEL_DESTINATION }));
    let sentinelError: RelayError | undefined;
    try {
      await Promise.race([sentinel, timedOut]);
    } catch (err) {
      sentinelError = isRelayError(err) ? err : relayError(Errors.BROKER_ERROR, String(err));
      if (!connection.closed) connection.destroy('probe timed out');
    }
    // Answers come in order, and RECEIPT callbacks run in the order they were settled, so the
    // SUBSCRIBE's outcome is known by now if RabbitMQ ever gives one.
    await Promise.race([subscribed, Promise.resolve()]);
    const outcome = subscribeOutcome as 'pending' | 'ok' | RelayError;
    if (outcome === 'ok' && sentinelError === undefined) return () => this.release(line, id);
    line.held.delete(id);
    // Poisoned or closed by RabbitMQ: the next probe gets a fresh connection.
    connection.destroy('a probe was refused');
    if (outcome !== 'ok' && outcome !== 'pending' && outcome.code !== 'BROKER_UNAVAILABLE') throw outcome;
    // RabbitMQ may close the connection before answering the sentinel: its ERROR says why.
    throw (
      connection.lastBrokerError ??
      (outcome !== 'ok' && outcome !== 'pending' ? outcome : sentinelError) ??
      relayError(Errors.BROKER_ERROR, `RabbitMQ did not confirm ${target.destination}`)
    );
  }

  private async release(line: ProbeLine, id: string): Promise<void> {
    const unacked = line.held.get(id);
    if (!unacked) return;
    line.held.delete(id);
    const { connection } = line;
    if (connection.closed) return; // RabbitMQ requeued what it had delivered
    const unsubscribed = connection.request(makeFrame('UNSUBSCRIBE', { id })).catch(() => undefined);
    for (const ack of unacked) {
      const viaAnchor = anchorAckId(ack);
      if (viaAnchor !== undefined) connection.send(makeFrame('NACK', { id: viaAnchor }));
    }
    await unsubscribed;
    if (line.retired && line.held.size === 0) await connection.close();
  }

  /** New probes go to a fresh connection; this one closes once nothing is held on it. */
  private retire(line: ProbeLine): void {
    line.retired = true;
    if (this.current === line) {
      this.current = undefined;
      this.opening = undefined;
    }
    if (line.held.size === 0) void line.connection.close();
  }

  private line(): Promise<ProbeLine> {
    if (!this.opening) {
      const opening = this.open();
      this.opening = opening;
      opening.catch(() => {
        if (this.opening === opening) this.opening = undefined;
      });
    }
    return this.opening;
  }

  private async open(): Promise<ProbeLine> {
    // Declared first: bytes the parser rejects right behind CONNECTED (same chunk) close the
    // connection before `open` resolves, and the handlers must not touch an unassigned binding.
    let line: ProbeLine | undefined;
    const handler = {
      onMessage: (frame: StompFrame) => {
        if (line) this.onMessage(line, frame);
      },
      onError: (error: RelayError) => this.options.logger.debug({ error: error.message }, 'ERROR on the probe connection'),
      onClose: (reason: RelayError) => {
        this.options.logger.debug({ reason: reason.message }, 'probe connection closed');
        if (line) this.closed(line);
      },
    };
    const connection = await this.connectToSomeNode(handler);
    if (connection.closed)
      throw connection.lastBrokerError ?? relayError(Errors.BROKER_UNAVAILABLE, 'the probe connection closed right after CONNECTED');
    line = { connection, routes: new Set(), held: new Map(), retired: false };
    this.opened++;
    this.lines.add(line);
    // Lets a message delivered to a probe subscription be given back after UNSUBSCRIBE (anchor.ts).
    await subscribeAnchor(connection);
    if (this.stopped) {
      await connection.close();
      throw relayError(Errors.BROKER_UNAVAILABLE, 'the relay is stopping');
    }
    this.current = line;
    return line;
  }

  /** Opens a connection on the current node, else on each next one in turn (each tried once). */
  private async connectToSomeNode(handler: Parameters<typeof BrokerConnection.open>[1]): Promise<BrokerConnection> {
    for (let tried = 1; ; tried++) {
      try {
        return await BrokerConnection.open(this.nodes.connectionOptions(this.options.connection), handler);
      } catch (err) {
        this.nodes.advance();
        if (tried >= this.nodes.size || this.stopped) throw err;
      }
    }
  }

  private closed(line: ProbeLine): void {
    this.lines.delete(line);
    line.held.clear();
    if (this.current === line) {
      this.current = undefined;
      this.opening = undefined;
    }
  }

  private onMessage(line: ProbeLine, frame: StompFrame): void {
    const ack = frame.headers.ack;
    const id = frame.headers.subscription;
    if (ack === undefined || id === undefined) return;
    const unacked = line.held.get(id);
    if (unacked) {
      unacked.push(ack);
      return;
    }
    // Delivered after its probe ended, or to a probe that failed: give it back now.
    const viaAnchor = anchorAckId(ack);
    if (viaAnchor !== undefined) line.connection.send(makeFrame('NACK', { id: viaAnchor }));
  }
}

/** What RabbitMQ remembers having declared or checked for a destination, per connection. */
function routeOf(destination: string): string {
  const parsed = parseDestination(destination);
  return parsed.kind === 'exchange' ? `exchange:${parsed.exchange}` : `${parsed.kind}:${parsed.name}`;
}

/**
 * One AMQP 0-9-1 connection per relay instance, to whichever node of the cluster answers, with two
 * channels: one that consumes the instance's route queue and manages its bindings, and one in
 * confirm mode for publishes that must know whether they reached a queue (`mandatory` returns).
 *
 * Why AMQP beside STOMP: the STOMP plugin creates a binding only together with a queue and a
 * consumer, so each user destination cost RabbitMQ a queue (an Erlang process, tens of KB). AMQP
 * gives bindings on their own (≈ 1 KB of broker memory each), publisher confirms and returns.
 * Client: amqplib — the most used AMQP 0-9-1 client for Node, no native code, promise API, and
 * small enough to read; rabbitmq-client offers more (automatic recovery) that the relay does
 * itself, since recovery here means restoring routes with the relay's own semantics.
 *
 * Reconnects with the engine's backoff, moving through the endpoint list so a dead node is left
 * for the next one. Heart-beats find a half-dead link (amqplib closes after two missed beats).
 */
import * as amqp from 'amqplib';
import type { AmqpEndpoint } from '../../../config';
import { Errors, relayError, type RelayError } from '../../../errors';
import type { Logger } from '../../../observability/logger';
import { backoffDelay, RetryLoop, type BackoffOptions } from '../backoff';

export interface AmqpLinkOptions {
  endpoints: readonly AmqpEndpoint[];
  /** Heart-beat interval; amqplib speaks whole seconds, so this is rounded up (0 = off). */
  heartbeatMs: number;
  connectTimeoutMs: number;
  backoff: BackoffOptions;
  logger: Logger;
}

/** An open connection and its two channels, valid until {@link AmqpLinkEvents.down}. */
export interface AmqpSession {
  readonly connection: amqp.ChannelModel;
  /** Consumes the route queue, declares and binds. */
  readonly channel: amqp.Channel;
  /** Confirm mode: publishes resolve on the broker's ack. */
  readonly confirms: amqp.ConfirmChannel;
  /** Which endpoint it reached, for logs. */
  readonly endpoint: string;
}

export interface AmqpLinkEvents {
  /** The link is up; the first attempt of {@link AmqpLink.start} resolves only after this does. */
  up(session: AmqpSession): Promise<void>;
  down(reason: RelayError): void;
}

export class AmqpLink {
  private current: AmqpSession | undefined;
  private connecting = false;
  private next = 0;
  private readonly retry = new RetryLoop(
    () => void this.connect(),
    (failures) => backoffDelay(failures, this.options.backoff),
  );

  constructor(
    private readonly options: AmqpLinkOptions,
    private readonly events: AmqpLinkEvents,
  ) {
    if (options.endpoints.length === 0) throw relayError(Errors.INVALID_CONFIG, 'AMQP needs at least one endpoint');
  }

  get session(): AmqpSession | undefined {
    return this.current;
  }

  /** Makes the first attempt (resolves whatever its outcome) and keeps retrying in the background. */
  start(): Promise<void> {
    return this.connect();
  }

  /** Skips the wait before the next attempt (the STOMP side just reached the broker). */
  retryNow(): void {
    this.retry.now();
  }

  async stop(): Promise<void> {
    this.retry.stop();
    const session = this.current;
    this.current = undefined;
    if (session) await session.connection.close().catch(() => undefined);
  }

  /** Drops the connection (e.g. a channel failed and the link's state is no longer known); it reconnects. */
  reset(reason: string): void {
    const session = this.current;
    if (!session) return;
    this.logger.warn({ reason }, 'resetting the AMQP connection');
    session.connection.close().catch(() => undefined);
  }

  private get logger(): Logger {
    return this.options.logger;
  }

  private async connect(): Promise<void> {
    if (this.retry.stopped || this.connecting || this.current) return;
    this.connecting = true;
    const endpoint = this.options.endpoints[this.next % this.options.endpoints.length];
    const where = `${endpoint.host}:${endpoint.port}`;
    let connection: amqp.ChannelModel | undefined;
    try {
      connection = await amqp.connect(
        {
          protocol: 'amqp',
          hostname: endpoint.host,
          port: endpoint.port,
          username: endpoint.username,
          password: endpoint.password,
          vhost: endpoint.vhost,
          heartbeat: Math.ceil(this.options.heartbeatMs / 1000),
        },
        { timeout: this.options.connectTimeoutMs, noDelay: true },
      );
      const channel = await connection.createChannel();
      const confirms = await connection.createConfirmChannel();
      if (this.retry.stopped) {
        await connection.close().catch(() => undefined);
        return;
      }
      const session: AmqpSession = { connection, channel, confirms, endpoint: where };
      let down = false;
      const lost = (why: string): void => {
        if (down) return;
        down = true;
        if (this.current !== session) return;
        this.current = undefined;
        if (this.retry.stopped) return;
        this.logger.warn({ endpoint: where, reason: why }, 'AMQP connection lost; reconnecting');
        this.next++;
        this.events.down(relayError(Errors.BROKER_UNAVAILABLE, `AMQP connection to ${where} lost (${why})`));
        this.retry.later();
      };
      connection.on('error', (err: Error) => this.logger.debug({ err: err.message }, 'AMQP connection error'));
      connection.on('close', (err?: Error) => lost(err?.message ?? 'closed'));
      // A channel error (a refused declare or bind) closes that channel: the link's state is then
      // unknown, so the whole connection starts over and the owner restores what it needs.
      for (const ch of [channel, confirms]) {
        ch.on('error', (err: Error) => this.logger.warn({ err: err.message }, 'AMQP channel error'));
        ch.on('close', () => {
          if (this.current === session) connection?.close().catch(() => lost('channel closed'));
        });
      }
      this.retry.succeeded();
      this.current = session;
      this.logger.info({ endpoint: where }, 'AMQP connection up');
      await this.events.up(session);
    } catch (err) {
      await connection?.close().catch(() => undefined);
      const message = (err as Error).message;
      // Refusals (credentials, vhost, AMQP listener off) are what an operator must see: at warn for
      // the first failure of a series and every tenth after, at debug in between (an outage retries
      // every few seconds).
      const level = this.retry.failures % 10 === 0 ? 'warn' : 'debug';
      this.logger[level](
        { endpoint: where, reason: message, attempt: this.retry.failures + 1 },
        'AMQP connection attempt failed (BROKER_AMQP_URL)',
      );
      this.next++;
      this.retry.later();
    } finally {
      this.connecting = false;
    }
  }
}

/**
 * Prometheus metrics (prom-client). One registry per relay, never the global one, so two relays in
 * one process (tests, embedding hosts) do not collide. Names are part of the operator contract:
 * docs/operations.md lists them; extend, don't rename.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The relay's Prometheus metrics, on a registry of its own ({@link Relay.metrics}; served at
 * `/metrics`). A host can register metrics of its own on {@link registry}.
 */
export class RelayMetrics {
  /** The registry every metric below is registered on (never prom-client's global one). */
  readonly registry = new Registry();

  /** `stomp_relay_sessions` (gauge): connected STOMP sessions. */
  readonly sessions = new Gauge({
    name: 'stomp_relay_sessions',
    help: 'Connected STOMP sessions',
    labelNames: ['transport'] as const,
    registers: [this.registry],
  });
  /** `stomp_relay_subscriptions` (gauge): active client subscriptions. */
  readonly subscriptions = new Gauge({
    name: 'stomp_relay_subscriptions',
    help: 'Active client subscriptions',
    registers: [this.registry],
  });
  /** `stomp_relay_frames_in_total` (counter): STOMP frames received from clients. */
  readonly framesIn = new Counter({
    name: 'stomp_relay_frames_in_total',
    help: 'STOMP frames received from clients',
    labelNames: ['command'] as const,
    registers: [this.registry],
  });
  /**
   * MESSAGE frames sent, for the fan-out hot path: a plain count, added to
   * `framesOut{command="MESSAGE"}` whenever the counter is read. prom-client hashes and validates
   * the labels on every `inc`, even through `labels()` (~0.3 µs, 7 % of a delivery's CPU at max rate).
   * @internal Read it through `framesOut`; the plain count is not part of the library contract.
   */
  readonly messagesOut = new DeferredCount();
  /** `stomp_relay_frames_out_total` (counter): STOMP frames sent to clients. */
  readonly framesOut: Counter<'command'> = new Counter({
    name: 'stomp_relay_frames_out_total',
    help: 'STOMP frames sent to clients',
    labelNames: ['command'] as const,
    registers: [this.registry],
    // Runs before every read (a scrape, `get()`): what messagesOut counted is in the value read.
    collect: () => this.messagesOut.drainInto((n) => this.framesOut.inc({ command: 'MESSAGE' }, n)),
  });
  /**
   * Bytes received from clients, for the read hot path: a plain sum, added to {@link bytesIn} whenever
   * it is read (prom-client's `inc` makes two objects per call: every idle session's incoming heart-beat).
   * @internal Read it through `bytesIn`; the plain sum is not part of the library contract.
   */
  readonly bytesReceived = new DeferredCount();
  /** `stomp_relay_bytes_in_total` (counter): bytes received from clients. */
  readonly bytesIn: Counter<string> = new Counter({
    name: 'stomp_relay_bytes_in_total',
    help: 'Bytes received from clients',
    registers: [this.registry],
    collect: () => this.bytesReceived.drainInto((n) => this.bytesIn.inc(n)),
  });
  /**
   * Bytes sent to clients, for the write hot path: a plain sum, added to {@link bytesOut} whenever it is read.
   * @internal Read it through `bytesOut`; the plain sum is not part of the library contract.
   */
  readonly bytesSent = new DeferredCount();
  /** `stomp_relay_bytes_out_total` (counter): bytes sent to clients. */
  readonly bytesOut: Counter = new Counter({
    name: 'stomp_relay_bytes_out_total',
    help: 'Bytes sent to clients',
    registers: [this.registry],
    collect: () => this.bytesSent.drainInto((n) => this.bytesOut.inc(n)),
  });
  /** `stomp_relay_protocol_errors_total` (counter): ERROR frames sent to clients, by error code. */
  readonly protocolErrors = new Counter({
    name: 'stomp_relay_protocol_errors_total',
    help: 'ERROR frames sent to clients, by error code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  /** `stomp_relay_slow_consumer_disconnects_total` (counter): sessions closed because their outbound buffer exceeded the limit. */
  readonly slowConsumerDrops = new Counter({
    name: 'stomp_relay_slow_consumer_disconnects_total',
    help: 'Sessions closed because their outbound buffer exceeded the limit',
    registers: [this.registry],
  });
  /**
   * `stomp_relay_undeliverable_messages_total` (counter): messages not delivered to one subscriber, by reason (e.g. a non-UTF-8 body on a
   * text-only transport).
   */
  readonly undeliverable = new Counter({
    name: 'stomp_relay_undeliverable_messages_total',
    help: 'Messages not delivered to one subscriber, by reason (e.g. a non-UTF-8 body on a text-only transport)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  /** `stomp_relay_broker_connections` (gauge): open connections to the message broker (embedded broker: 1). */
  readonly brokerConnected = new Gauge({
    name: 'stomp_relay_broker_connections',
    help: 'Open connections to the message broker (embedded broker: 1)',
    registers: [this.registry],
  });
  /** `stomp_relay_broker_ready` (gauge): 1 while the broker is reachable and ready, else 0. */
  readonly brokerReady = new Gauge({
    name: 'stomp_relay_broker_ready',
    help: '1 while the broker is reachable and ready, else 0',
    registers: [this.registry],
  });
  /** `stomp_relay_pushes_total` (counter): HTTP pushes and sendToUser calls, by outcome. */
  readonly pushes = new Counter({
    name: 'stomp_relay_pushes_total',
    help: 'HTTP pushes and sendToUser calls, by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  /** `stomp_relay_push_latency_seconds` (histogram): time from push request to broker acceptance. */
  readonly pushLatency = new Histogram({
    name: 'stomp_relay_push_latency_seconds',
    help: 'Time from push request to broker acceptance',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  /**
   * `stomp_relay_broker_ready_changes_total` (counter): times broker readiness (and with it /readyz) flipped; counts flaps a scrape
   * interval would miss.
   */
  readonly brokerReadyChanges = new Counter({
    name: 'stomp_relay_broker_ready_changes_total',
    help: 'Times broker readiness (and with it /readyz) flipped; counts flaps a scrape interval would miss',
    registers: [this.registry],
  });
  /**
   * `stomp_relay_broker_reconnects_total` (counter): broker connections re-established after being lost, by link (stomp: the pooled STOMP
   * connections, amqp: the route link).
   */
  readonly brokerReconnects = new Counter({
    name: 'stomp_relay_broker_reconnects_total',
    help: 'Broker connections re-established after being lost, by link (stomp: the pooled STOMP connections, amqp: the route link)',
    labelNames: ['link'] as const,
    registers: [this.registry],
  });
  /** `stomp_relay_history_records_total` (counter): messages recorded in the RabbitMQ resume history. */
  readonly historyRecords = new Counter({
    name: 'stomp_relay_history_records_total',
    help: 'User-destination messages recorded in the RabbitMQ resume history (streams)',
    registers: [this.registry],
  });
  /** `stomp_relay_history_replays_total` (counter): resume replays answered from the RabbitMQ history, by result. */
  readonly historyReplays = new Counter({
    name: 'stomp_relay_history_replays_total',
    help: 'Resume replays answered from the RabbitMQ history, by result (complete, gap)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  /** `stomp_relay_history_scans_total` (counter): reads of a history stream. */
  readonly historyScans = new Counter({
    name: 'stomp_relay_history_scans_total',
    help: 'History stream readers opened; one serves every replay of its partition while it stays open (5 s after its last)',
    registers: [this.registry],
  });
  /** `stomp_relay_history_scanned_messages_total` (counter): messages read from history streams by scans. */
  readonly historyScannedMessages = new Counter({
    name: 'stomp_relay_history_scanned_messages_total',
    help: 'Messages read from history streams by scans (every destination of the partition)',
    registers: [this.registry],
  });
  /**
   * `stomp_relay_http_requests_total` (counter): HTTP requests to the relay's routes (not SockJS transport requests), by route template and
   * status.
   */
  readonly httpRequests = new Counter({
    name: 'stomp_relay_http_requests_total',
    help: "HTTP requests to the relay's routes (not SockJS transport requests), by route template and status",
    labelNames: ['method', 'route', 'status_code'] as const,
    registers: [this.registry],
  });
  /** `stomp_relay_http_request_duration_seconds` (histogram): time from an HTTP request to its response, by route template and status. */
  readonly httpDuration = new Histogram({
    name: 'stomp_relay_http_request_duration_seconds',
    help: 'Time from an HTTP request to its response, by route template and status',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  /** `stomp_relay_build_info` (gauge): always 1; labels name the relay version and the Node.js version. */
  readonly buildInfo = new Gauge({
    name: 'stomp_relay_build_info',
    help: 'Always 1; labels name the relay version and the Node.js version',
    labelNames: ['version', 'nodejs'] as const,
    registers: [this.registry],
  });

  /**
   * `defaultMetrics`: prom-client's process and Node metrics under their usual names
   * (`process_cpu_user_seconds_total`, `nodejs_eventloop_lag_p99_seconds`...), as Node dashboards
   * expect. `version`: fills {@link buildInfo}.
   */
  constructor(options: { defaultMetrics?: boolean; version?: string } = {}) {
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
    if (options.version !== undefined) this.buildInfo.set({ version: options.version, nodejs: process.version }, 1);
  }
}

/**
 * A count kept as a plain number where a prom-client `inc` would cost too much, and moved into a
 * counter when that counter is read (its `collect`), so every read sees the exact total.
 */
export class DeferredCount {
  private pending = 0;

  inc(amount = 1): void {
    this.pending += amount;
  }

  /** Hands what was counted since the last call to `add` (not called when nothing was). */
  drainInto(add: (n: number) => void): void {
    if (this.pending === 0) return;
    const n = this.pending;
    this.pending = 0;
    add(n);
  }
}

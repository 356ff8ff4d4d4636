/**
 * What one STOMP session does with each client frame: one handler per command in a table (compare
 * stomp-js `src/stomp-handler.ts`), each citing the spec section it implements.
 * Spec: https://stomp.github.io/stomp-specification-1.2.html (1.1 and 1.0 differences noted inline).
 *
 * A handler returns nothing when its effect is complete (or tracked, like a SEND awaiting its broker
 * confirm), or a promise when later frames must wait for it (CONNECT, SUBSCRIBE, UNSUBSCRIBE,
 * DISCONNECT): a client may SUBSCRIBE and SEND to the same destination in one burst and expect the
 * subscription to exist first. Handlers throw (or reject with) a RelayError to end the session with
 * an ERROR frame; the session does the closing.
 *
 * This class knows nothing of transports: it talks to its {@link SessionIo}.
 */
import type { AckMode, CloseOptions, Consumer, Delivery, DeliverySink, NackOptions, SubscribeRequest } from '../broker/broker';
import { asksDurable } from '../broker/subscription-flags';
import { headersExcept, headers as makeHeaders, type StompFrame, type StompHeaders, type StompVersion } from '../codec/frame';
import { renderMessage } from '../codec/serializer';
import { Errors, RelayError, isRelayError, relayError } from '../errors';
import { checkUserName, type Principal } from '../auth/authenticator';
import { negotiateHeartbeat, negotiateVersion, parseHeartbeatHeader, versionBeforeConnected, type HeartbeatPlan } from './negotiation';
import { SubscriptionTable, type ClientSubscription } from './subscription-table';
import { TransactionTable, type TransactionOp } from './transaction-table';
import { TEMP_QUEUE_PREFIX } from '../broker/destinations';
import { TempQueues } from './temp-queues';
import type { SessionDeps } from './session-deps';
import type { SubscriptionSummary } from './session-hub';
import type { SessionState, StompSession } from './stomp-session';
import type { AnsweredSubscribeRoute, BrokerSubscribeRoute, SendRoute, SubscribeRoute } from './destination-router';
import { FrameAuthorizer } from './authorization';
import { PROTOCOL_HEADERS, SENDER_HEADER, isInternalHeader, isRelaySetHeader } from './header-policy';
import { RESUME_FROM_HEADER, RESUME_GAP_HEADER, RESUME_TOKEN_HEADER, recordBeforePublish } from '../broker/history';
import { ResumeGate } from './resume-gate';

/** What the protocol needs from the session that carries it. */
export interface SessionIo {
  readonly session: StompSession;
  readonly deps: SessionDeps;
  /** True until the session closed; work finishing later must not write. */
  readonly open: boolean;
  /** The session's one lifecycle state (stomp-session.ts "Lifecycle"). */
  readonly state: SessionState;
  /** CONNECT arrived: `awaiting-connect` → `connecting`. */
  connecting(): void;
  /** DISCONNECT arrived: → `draining` (later frames are ignored, STOMP 1.2 §DISCONNECT). */
  draining(): void;
  /** Whether the transport can carry only text (SockJS). */
  readonly textOnly: boolean;
  /**
   * CONNECT succeeded: fix the version, remember the principal, send `connected` (the CONNECTED
   * frame), start heart-beats, and announce the session.
   */
  established(version: StompVersion, heartbeat: HeartbeatPlan, principal: Principal | null, connected: StompFrame): void;
  /** Encodes and sends a frame (subject to the slow-consumer check). */
  sendFrame(frame: StompFrame): void;
  /** Sends an encoded MESSAGE (subject to the slow-consumer check). */
  sendMessage(bytes: Buffer, binary: boolean): void;
  /**
   * Ends the session with an ERROR frame for `error` (a RelayError; anything else is logged and
   * reported generically), with `receipt-id` when `cause` asked for a receipt.
   */
  fail(error: unknown, cause?: StompFrame): void;
  /** Ends the session without an ERROR (after DISCONNECT). */
  finish(): void;
}

type Handler = (protocol: SessionProtocol, frame: StompFrame) => void | Promise<void>;

/** Client commands (STOMP 1.2 §"Client Frames"). A Map, so a command named `constructor` is just unknown. */
const HANDLERS: ReadonlyMap<string, Handler> = new Map<string, Handler>([
  // §"CONNECT or STOMP Frame"
  ['CONNECT', (p, f) => p.connect(f)],
  ['STOMP', (p, f) => p.connect(f)],
  // §SEND
  ['SEND', (p, f) => p.send(f)],
  // §SUBSCRIBE, §UNSUBSCRIBE
  ['SUBSCRIBE', (p, f) => p.subscribe(f)],
  ['UNSUBSCRIBE', (p, f) => p.unsubscribe(f)],
  // §ACK, §NACK (NACK is 1.1+, but harmless to accept from 1.0 clients)
  ['ACK', (p, f) => p.settle(f, 'ack')],
  ['NACK', (p, f) => p.settle(f, 'nack')],
  // §BEGIN, §COMMIT, §ABORT
  ['BEGIN', (p, f) => p.begin(f)],
  ['COMMIT', (p, f) => p.commit(f)],
  ['ABORT', (p, f) => p.abort(f)],
  // §DISCONNECT
  ['DISCONNECT', (p, f) => p.disconnect(f)],
]);

/**
 * The ack modes, each to its shared constant: a subscription keeps the constant, not the header's
 * own string (one fewer string per subscription for as long as it lasts).
 */
const ACK_MODES: ReadonlyMap<string, AckMode> = new Map<string, AckMode>([
  ['auto', 'auto'],
  ['client', 'client'],
  ['client-individual', 'client-individual'],
]);

/** SUBSCRIBE headers the session consumes; every other one goes to the broker (selector, prefetch-count, x-*...). */
const SUBSCRIBE_OWN_HEADERS: ReadonlySet<string> = new Set(['id', 'ack', 'destination', 'receipt', 'content-length', RESUME_FROM_HEADER]);

/**
 * Most publishes a session may have waiting for the broker at once. Beyond it the session stops
 * reading frames until one completes, so a client cannot pile up unbounded work in the broker engine.
 */
const MAX_IN_FLIGHT = 1024;

type Outcome = 'ack' | 'nack';

export class SessionProtocol {
  private version: StompVersion = '1.2';
  /** What frames before CONNECTED are encoded as, from the CONNECT's accept-version (see negotiation.ts). */
  private offered: StompVersion = '1.0';
  private readonly subscriptions = new SubscriptionTable();
  /**
   * The tables below are made on first use: most sessions never open a transaction or a temporary
   * queue, and an idle one has no work in flight (an idle session is what a relay holds most of).
   */
  private transactionTable: TransactionTable | undefined;
  /** Work whose RECEIPT (or failure) is still to come: publishes, commits, handled sends. */
  private inFlightSet: Set<Promise<void>> | undefined;
  /** `/temp-queue/<name>` reply addresses; they count against the subscription limit. */
  private tempQueueTable: TempQueues | undefined;
  /** Numbers {@link deliverLocal}'s messages. */
  private localMessages = 0;
  /** Asks the relay's authorize function about SUBSCRIBE and SEND; undefined when there is none. */
  private readonly authorizer: FrameAuthorizer | undefined;

  constructor(private readonly io: SessionIo) {
    const authorize = io.deps.authorize;
    this.authorizer = authorize === undefined ? undefined : new FrameAuthorizer(authorize, io.session, io.deps.logger);
  }

  private get transactions(): TransactionTable {
    return (this.transactionTable ??= new TransactionTable(this.io.deps.config.limits));
  }

  private get inFlight(): Set<Promise<void>> {
    return (this.inFlightSet ??= new Set());
  }

  /** Work is in flight (its RECEIPTs are still to come). */
  private get busy(): boolean {
    return this.inFlightSet !== undefined && this.inFlightSet.size > 0;
  }

  private get tempQueues(): TempQueues {
    return (this.tempQueueTable ??= new TempQueues(this.io.deps.broker, {
      reply: (clientDestination, delivery) => this.deliverReply(clientDestination, delivery),
      // The address died with its broker connection (temp-queues.ts forgot it): the next SEND
      // naming the temporary queue opens a new one. Replies already on their way are lost, as
      // topic messages are during a broker outage; the session itself is unharmed.
      lost: (clientDestination, reason) => {
        this.io.deps.logger.info(
          { session: this.io.session.id, destination: clientDestination, reason: reason.message },
          'temporary queue lost; the next request opens a new one',
        );
      },
    }));
  }

  get subscriptionCount(): number {
    return this.subscriptions.size;
  }

  /** The version to encode frames in until CONNECTED is sent: 1.0 until a CONNECT offered more. */
  get versionBeforeConnected(): StompVersion {
    return this.offered;
  }

  /** Runs one client frame. See the file comment for the return value. */
  handle(frame: StompFrame): void | Promise<void> {
    const state = this.io.state;
    if (state === 'draining' || state === 'closed') return;
    const handler = HANDLERS.get(frame.command);
    if (state === 'awaiting-connect' && frame.command !== 'CONNECT' && frame.command !== 'STOMP') {
      throw relayError(Errors.NOT_CONNECTED, frame.command);
    }
    if (handler === undefined) throw relayError(Errors.UNKNOWN_COMMAND, frame.command);
    return handler(this, frame);
  }

  /** The session ended: close every consumer (unacked messages go back to their queues), drop transactions. */
  teardown(): void {
    this.transactionTable?.clear();
    const metrics = this.io.deps.metrics;
    for (const subscription of this.subscriptions.removeAll()) {
      metrics.subscriptions.dec();
      this.closeConsumer(subscription);
      this.announceEnd(subscription, 'disconnect');
    }
    this.tempQueueTable?.closeAll().catch((err: unknown) => {
      this.io.deps.logger.warn({ err, session: this.io.session.id }, 'closing a reply address failed');
    });
  }

  // --- §"CONNECT or STOMP Frame", §"Protocol Negotiation", §"Heart-beating" ---

  async connect(frame: StompFrame): Promise<void> {
    if (this.io.state !== 'awaiting-connect') throw relayError(Errors.ALREADY_CONNECTED);
    this.io.connecting();
    const h = frame.headers;
    this.offered = versionBeforeConnected(h['accept-version']);
    const negotiated = negotiateVersion(h['accept-version']);
    // §"Protocol Negotiation": the session adds a `version` header listing ours to this ERROR.
    if (negotiated instanceof RelayError) throw negotiated;
    const version = negotiated;
    const heartbeat = negotiateHeartbeat(
      version,
      version === '1.0' ? [0, 0] : parseHeartbeatHeader(h['heart-beat']),
      this.io.deps.config.heartbeat,
    );
    const principal = await this.authenticate(h);
    if (!this.io.open) return;

    this.version = version;
    const connected = makeHeaders({
      version,
      'heart-beat': version === '1.0' ? undefined : heartbeat.header,
      server: this.io.deps.serverHeader,
      session: this.io.session.id,
      'user-name': principal?.name,
    });
    this.io.established(version, heartbeat, principal, { command: 'CONNECTED', headers: connected, body: EMPTY });
  }

  private async authenticate(connectHeaders: StompHeaders): Promise<Principal | null> {
    const { authenticator, logger } = this.io.deps;
    let principal: Principal | null;
    try {
      principal = await authenticator.authenticate({ connectHeaders, handshake: this.io.session.handshake });
    } catch (err) {
      if (isRelayError(err)) throw err;
      // An authenticator bug must not leak details to the client, nor let the session in.
      logger.error({ err, session: this.io.session.id }, 'authenticator threw');
      throw relayError(Errors.AUTHENTICATION_FAILED, 'authenticator error');
    }
    // Whatever produced the name (a JWT sub, a host strategy), it must be usable everywhere.
    if (principal !== null) checkUserName(principal.name);
    // An expiry that is not a time could neither be scheduled nor ignored safely.
    if (principal?.expiresAt !== undefined && !Number.isFinite(principal.expiresAt)) {
      throw relayError(Errors.AUTHENTICATION_FAILED, 'the credential has an invalid expiry');
    }
    return principal;
  }

  // --- §SEND ---

  send(frame: StompFrame): void | Promise<void> {
    const destination = required(frame, 'destination');
    const route = this.io.deps.router.routeSend(this.io.session, destination, frame);
    // A pending decision holds later frames (the promise), so a burst keeps its order.
    const decision = this.authorizer?.check('SEND', destination, frame.headers);
    if (decision === undefined) return this.sendAllowed(frame, route);
    return decision.then(() => {
      if (this.io.open) return this.sendAllowed(frame, route);
    });
  }

  /** SEND once routed and allowed: resolve a `/temp-queue/` reply-to, then publish or hand over. */
  private sendAllowed(frame: StompFrame, route: SendRoute): void | Promise<void> {
    const replyTo = frame.headers['reply-to'];
    if (replyTo === undefined || !replyTo.startsWith(TEMP_QUEUE_PREFIX)) return this.sendRouted(frame, route, undefined);
    const address = this.tempQueueAddress(replyTo);
    if (typeof address === 'string') return this.sendRouted(frame, route, address);
    // First use of this temporary queue: later frames wait until its address exists, so a burst of
    // SENDs keeps its order and no reply can come before the address is there to take it.
    return address.then((resolved) => {
      if (this.io.open) return this.sendRouted(frame, route, resolved);
    });
  }

  /**
   * The `reply-to` that replaces a client's `/temp-queue/<name>`: the session's reply address for
   * that name, opened on first use (a promise then). RabbitMQ semantics:
   * https://www.rabbitmq.com/docs/stomp#d.tqd
   */
  private tempQueueAddress(replyTo: string): string | Promise<string> {
    const { config } = this.io.deps;
    if (replyTo.length === TEMP_QUEUE_PREFIX.length) throw relayError(Errors.INVALID_HEADER, 'reply-to', replyTo);
    if (!config.relayPrefixes.includes(TEMP_QUEUE_PREFIX)) {
      throw relayError(Errors.DESTINATION_NOT_ALLOWED, `reply-to ${replyTo} (temporary queues are not relayed here: RELAY_PREFIXES)`);
    }
    if (this.tempQueueTable?.has(replyTo) !== true) this.checkSubscriptionLimit();
    return this.tempQueues.replyTo(replyTo);
  }

  /** SEND once routed; `replyTo`, when set, replaces the client's `reply-to` header. */
  private sendRouted(frame: StompFrame, route: SendRoute, replyTo: string | undefined): void | Promise<void> {
    const h = frame.headers;
    // A client that asks for a receipt, or marks the message persistent, gets its RECEIPT only once
    // the broker confirmed it took the message: never a receipt for a message that could be lost.
    const ownConfirm = h.receipt !== undefined || h.persistent === 'true';
    // Who wrote this, as the relay knows it (header-policy.ts): passThrough dropped the client's own.
    const sender = this.io.session.principal?.name;
    let op: TransactionOp;
    if (route.kind === 'broker') {
      const { broker } = this.io.deps;
      const carried = passThrough(h, PROTOCOL_HEADERS, route.headers);
      if (replyTo !== undefined) carried['reply-to'] = replyTo;
      if (sender !== undefined) carried[SENDER_HEADER] = sender;
      const request = { destination: route.destination, headers: carried, body: frame.body };
      const publish = (confirm: boolean) => broker.publish(request, ownConfirm || confirm ? CONFIRM : undefined);
      const history = route.record === true ? broker.history : undefined;
      // A user destination: recorded for resume first, then published with its token (history.ts).
      op = history === undefined ? publish : (confirm) => recordBeforePublish(history, request).then(() => publish(confirm));
    } else {
      const session = this.io.session;
      const seen = passThrough(h, EMPTY_SET, undefined);
      if (replyTo !== undefined) seen['reply-to'] = replyTo;
      if (sender !== undefined) seen[SENDER_HEADER] = sender;
      const handled = { ...frame, headers: seen };
      op = () => route.handle(handled, session);
    }

    const transaction = h.transaction;
    if (transaction !== undefined) {
      this.transactions.add(transaction, op, h.receipt); // RECEIPT once COMMIT applied it
      return;
    }
    return this.track(invoke(op, false), frame);
  }

  // --- §SUBSCRIBE ---

  subscribe(frame: StompFrame): Promise<void> {
    const h = frame.headers;
    // Kept for the subscription's life, and mostly the same strings in every session: shared.
    const strings = this.io.deps.strings;
    const destination = strings.intern(required(frame, 'destination'));
    let id = h.id;
    if (id === undefined) {
      // STOMP 1.0 made `id` optional; the destination then names the subscription.
      if (this.version !== '1.0') throw relayError(Errors.MISSING_HEADER, 'SUBSCRIBE', 'id');
      id = destination;
    } else {
      id = strings.intern(id);
    }
    const ack = h.ack === undefined ? 'auto' : ACK_MODES.get(h.ack);
    if (ack === undefined) throw relayError(Errors.INVALID_HEADER, 'ack', h.ack!);
    if (this.subscriptions.has(id)) throw relayError(Errors.DUPLICATE_SUBSCRIPTION, id);
    this.checkSubscriptionLimit();
    const route = this.io.deps.router.routeSubscribe(this.io.session, destination, h);
    const decision = this.authorizer?.check('SUBSCRIBE', destination, h);
    if (decision === undefined) return this.subscribeAllowed(frame, id, ack, route);
    return decision.then(() => {
      if (this.io.open) return this.subscribeAllowed(frame, id!, ack, route);
    });
  }

  /** SUBSCRIBE once routed and allowed: the subscription, then the broker's consumer for it. */
  private subscribeAllowed(frame: StompFrame, id: string, ack: AckMode, route: SubscribeRoute): Promise<void> {
    if (route.kind === 'answered') return this.subscribeAnswered(frame, id, ack, route);
    const h = frame.headers;
    const { broker, metrics } = this.io.deps;
    const subscription = new SessionSubscription(this, id, route.clientDestination ?? '', ack, route.brokerDestination, route.accepts);
    this.subscriptions.add(subscription);
    metrics.subscriptions.inc();
    // resume-from on a user destination: history first, then live (resume-gate.ts).
    const resumeFrom = route.resumable === true ? h[RESUME_FROM_HEADER] : undefined;
    const gate = resumeFrom !== undefined ? this.resumeGate(subscription) : undefined;
    const request: SubscribeRequest = {
      destination: route.brokerDestination,
      ack: ack as AckMode,
      headers: passThrough(h, SUBSCRIBE_OWN_HEADERS, route.headers),
      // Exclusive queues belong to this session; durable topic subscriptions to its user and id.
      subscriber: { session: this.io.session.id, user: this.io.session.principal?.name, id },
    };
    return broker.subscribe(request, subscription).then(
      (consumer) => {
        this.subscriptions.attach(subscription, consumer);
        // Unsubscribed or session closed while the broker was busy: give the consumer back.
        if (!subscription.active) {
          gate?.abandon();
          return this.closeConsumer(subscription);
        }
        this.announce(subscription);
        // §SUBSCRIBE + §"Header receipt": the RECEIPT means messages published from now on arrive;
        // on a resume it also means the replay is complete (it comes after the replayed messages).
        // On a user destination it carries `resume-token`, the history's position, so a client that
        // drops before its first message can resume from there (docs/protocol.md "Resume").
        if (gate !== undefined) {
          return gate.resume(broker.history, route.brokerDestination, resumeFrom!).then((position) => this.receipt(frame, position));
        }
        const history = route.resumable === true && frame.headers.receipt !== undefined ? broker.history : undefined;
        if (history === undefined) return this.receipt(frame);
        return history.position(route.brokerDestination).then(
          (position) => this.receipt(frame, position),
          () => this.receipt(frame),
        );
      },
      (err: unknown) => {
        gate?.abandon();
        if (this.subscriptions.get(id) === subscription) {
          this.subscriptions.remove(id);
          metrics.subscriptions.dec();
        }
        throw err;
      },
    );
  }

  /**
   * The resume gate of a subscription that resumes, made in a method of its own: closures made in
   * {@link subscribeAllowed} would share its scope and keep the SUBSCRIBE frame alive for the
   * subscription's life.
   */
  private resumeGate(subscription: SessionSubscription): ResumeGate {
    subscription.gate = new ResumeGate({
      deliver: (delivery) => this.take(subscription, delivery),
      drop: (delivery) => this.passOver(subscription, delivery),
      gap: (position) => this.deliverGap(subscription, position),
    });
    return subscription.gate;
  }

  /**
   * @internal SessionSubscription: a delivery for `subscription`, past its resume gate. One
   * addressed to another session of the same user (`accepts` says no) is settled unseen.
   */
  take(subscription: SessionSubscription, delivery: Delivery): void {
    const accepts = subscription.accepts; // called unbound, as a route's function always was
    if (accepts !== undefined && !accepts(delivery.message, this.io.session)) {
      this.passOver(subscription, delivery);
      return;
    }
    this.deliver(subscription, delivery);
  }

  /** @internal SessionSubscription: a sink failed or its consumer was cancelled; the session ends. */
  sinkFailed(err: unknown): void {
    this.io.fail(err);
  }

  /**
   * A subscription the relay answers itself (an `/app` subscribe mapping): kept like any other until
   * UNSUBSCRIBE, with no broker consumer; the answer, if any, is its one MESSAGE, before the RECEIPT.
   */
  private subscribeAnswered(frame: StompFrame, id: string, ack: AckMode, route: AnsweredSubscribeRoute): Promise<void> {
    const subscription = this.subscriptions.add(new SessionSubscription(this, id, route.clientDestination, ack, '', undefined));
    this.io.deps.metrics.subscriptions.inc();
    return route.answer(frame, this.io.session).then((answer) => {
      if (!subscription.active || !this.io.open) return;
      if (answer !== undefined) {
        const messageId = `${this.io.session.id}-local-${this.localMessages++}`;
        const message = { destination: route.clientDestination, headers: answer.headers, body: answer.body, messageId };
        // A client-ack subscription gets an ack id it may use; with no consumer, settling it is a no-op.
        this.deliver(subscription, { message, ackId: ack === 'auto' ? undefined : messageId });
      }
      this.announce(subscription);
      this.receipt(frame);
    });
  }

  /** The subscription is in effect: tell the hub's listeners (session events, presence). */
  private announce(subscription: ClientSubscription): void {
    if (!this.io.open) return;
    subscription.announced = true;
    this.io.deps.lifecycle.subscribed(this.io.session, summary(subscription));
  }

  /** An announced subscription ended: its `unsubscribed` event, exactly once. */
  private announceEnd(subscription: ClientSubscription, reason: 'unsubscribe' | 'disconnect'): void {
    if (!subscription.announced) return;
    subscription.announced = false;
    this.io.deps.lifecycle.unsubscribed(this.io.session, summary(subscription), reason);
  }

  // --- §UNSUBSCRIBE ---

  unsubscribe(frame: StompFrame): Promise<void> {
    const h = frame.headers;
    let id = h.id;
    if (id === undefined) {
      if (this.version !== '1.0' || h.destination === undefined) throw relayError(Errors.MISSING_HEADER, 'UNSUBSCRIBE', 'id');
      id = h.destination;
    }
    const subscription = this.subscriptions.remove(id);
    if (subscription === undefined) throw relayError(Errors.UNKNOWN_SUBSCRIPTION, id);
    this.io.deps.metrics.subscriptions.dec();
    this.announceEnd(subscription, 'unsubscribe');
    // Closing the consumer returns its unacked messages to their queue. As on RabbitMQ, an
    // UNSUBSCRIBE flagged durable/persistent also removes a durable subscription's queue.
    const options = asksDurable(h) ? REMOVE_DURABLE : undefined;
    return this.closeConsumer(subscription, options).then(() => this.receipt(frame));
  }

  // --- MESSAGE (§MESSAGE) ---

  /**
   * A delivery for one of our subscriptions: render the shared template with this receiver's
   * headers. Hot path: one template lookup, one small header object, one buffer.
   */
  private deliver(subscription: ClientSubscription, delivery: Delivery): void {
    if (!subscription.active || !this.io.open) return;
    const message = delivery.message;
    const version = this.version;
    const template = this.io.deps.encoder.template(message, version);
    if (!template.bodyIsUtf8 && this.io.textOnly) {
      this.undeliverable(subscription, delivery);
      return;
    }
    const destination = subscription.clientDestination === '' ? message.destination : subscription.clientDestination;
    if (subscription.ack === 'auto' || delivery.ackId === undefined) {
      // Only `subscription` and `destination` are this receiver's: shared with the previous receiver
      // of this fan-out when they match (message-encoder.ts).
      this.io.sendMessage(this.io.deps.encoder.renderFor(template, subscription.id, destination), !template.bodyIsUtf8);
      return;
    }
    const perReceiver: StompHeaders = { subscription: subscription.id, destination };
    const key = this.subscriptions.track(subscription, delivery.ackId, message.messageId, version);
    // §MESSAGE (1.2): `ack` appears when the subscription needs acknowledgement.
    if (version === '1.2') perReceiver.ack = key;
    this.io.sendMessage(renderMessage(template, perReceiver), !template.bodyIsUtf8);
  }

  /**
   * The empty MESSAGE that opens a resumed subscription whose history has a gap (docs/protocol.md
   * "Resume"): `resume-gap:true`, and the position to resume from next time when no replayed
   * message follows to carry one.
   */
  private deliverGap(subscription: ClientSubscription, position: string | undefined): void {
    const headers = makeHeaders({ [RESUME_GAP_HEADER]: 'true' });
    if (position !== undefined) headers[RESUME_TOKEN_HEADER] = position;
    const messageId = `${this.io.session.id}-local-${this.localMessages++}`;
    const message = { destination: subscription.brokerDestination, headers, body: EMPTY_BODY, messageId };
    this.deliver(subscription, { message, ackId: subscription.ack === 'auto' ? undefined : messageId });
  }

  /**
   * A message from the relay itself to this session's own `auto` subscriptions to
   * `brokerDestination`, as if the broker had delivered it there (an application error report):
   * nobody else gets it, and it is written before anything the session sends afterwards. Returns
   * how many subscriptions took it. Client-ack subscriptions are skipped: there is nothing at the
   * broker to acknowledge.
   */
  deliverLocal(brokerDestination: string, headers: StompHeaders, body: Buffer): number {
    if (!this.io.open || brokerDestination === '') return 0;
    const message = { destination: brokerDestination, headers, body, messageId: `${this.io.session.id}-local-${this.localMessages++}` };
    let taken = 0;
    for (const subscription of this.subscriptions.all()) {
      if (subscription.brokerDestination !== brokerDestination || subscription.ack !== 'auto' || subscription.consumer === undefined)
        continue;
      this.deliver(subscription, { message });
      taken++;
    }
    return taken;
  }

  /**
   * A reply to one of the session's temporary queues: `subscription` and `destination` are the
   * client's `/temp-queue/<name>`, as RabbitMQ sends them to a client connected to it directly.
   */
  private deliverReply(clientDestination: string, delivery: Delivery): void {
    if (!this.io.open) return;
    const message = delivery.message;
    const template = this.io.deps.encoder.template(message, this.version);
    if (!template.bodyIsUtf8 && this.io.textOnly) {
      this.countUndeliverable(clientDestination, message.messageId);
      return;
    }
    const perReceiver: StompHeaders = { subscription: clientDestination, destination: clientDestination };
    this.io.sendMessage(renderMessage(template, perReceiver), !template.bodyIsUtf8);
  }

  /**
   * Policy (docs/protocol.md): a text-only transport (SockJS) cannot carry a body that is not valid
   * UTF-8, and sending it mangled would be worse than not sending it. Such a message is dropped for
   * this subscriber, logged and counted (undeliverable{reason=NOT_UTF8_ON_TEXT_TRANSPORT}); other
   * subscribers are unaffected. With a client-ack subscription it is settled on the client's behalf
   * ({@link passOver}): NACKing it would bring it straight back to the same consumer forever.
   */
  private undeliverable(subscription: ClientSubscription, delivery: Delivery): void {
    this.countUndeliverable(subscription.clientDestination || delivery.message.destination, delivery.message.messageId);
    this.passOver(subscription, delivery);
  }

  private countUndeliverable(destination: string, messageId: string): void {
    this.io.deps.metrics.undeliverable.inc({ reason: Errors.NOT_UTF8_ON_TEXT_TRANSPORT.code });
    this.io.deps.logger.warn(
      { session: this.io.session.id, destination, messageId },
      'dropped a message whose body is not UTF-8: this transport carries only text',
    );
  }

  /** TOO_MANY_SUBSCRIPTIONS when one more subscription or temporary queue would pass the limit. */
  private checkSubscriptionLimit(): void {
    const max = this.io.deps.config.limits.maxSubscriptionsPerSession;
    if (this.subscriptions.size + (this.tempQueueTable?.size ?? 0) >= max) throw relayError(Errors.TOO_MANY_SUBSCRIPTIONS, max);
  }

  /**
   * Settles a delivery this subscriber will not see, so it does not hold the queue or count against
   * prefetch: acked alone (not cumulatively, not NACKed: the broker would hand it straight back to
   * the same consumer), and never shown to the client, whose own cumulative ACKs stay exact.
   */
  private passOver(subscription: ClientSubscription, delivery: Delivery): void {
    if (subscription.ack === 'auto' || delivery.ackId === undefined) return;
    this.subscriptions.release(subscription, delivery.ackId);
  }

  // --- §ACK, §NACK ---

  settle(frame: StompFrame, outcome: Outcome): void {
    const h = frame.headers;
    let key: string;
    let subscriptionId: string | undefined;
    if (this.version === '1.2') {
      key = required(frame, 'id');
    } else if (this.version === '1.1') {
      key = required(frame, 'message-id');
      subscriptionId = required(frame, 'subscription');
    } else {
      key = required(frame, 'message-id');
      subscriptionId = h.subscription;
    }
    const nack = outcome === 'nack' ? nackOptions(frame) : undefined;
    const pending = this.subscriptions.find(key, subscriptionId);
    if (pending === undefined) throw relayError(Errors.UNKNOWN_ACK, key);

    const transaction = h.transaction;
    if (transaction !== undefined) {
      // §ACK "transaction": acknowledged when the transaction commits. If an earlier cumulative ACK
      // of the same transaction already covered it, there is nothing left to do.
      this.transactions.add(
        transaction,
        () => {
          const stillPending = this.subscriptions.find(key, subscriptionId);
          if (stillPending !== undefined) this.subscriptions.settle(stillPending, outcome, nack);
        },
        h.receipt,
      ); // RECEIPT once COMMIT applied it
      return;
    }
    this.subscriptions.settle(pending, outcome, nack);
    this.receipt(frame);
  }

  // --- §BEGIN, §COMMIT, §ABORT ---

  begin(frame: StompFrame): void {
    this.transactions.begin(required(frame, 'transaction'));
    this.receipt(frame);
  }

  commit(frame: StompFrame): void | Promise<void> {
    const held = this.transactions.commit(required(frame, 'transaction'));
    // Started in order, synchronously: the broker keeps one caller's publish order, so the
    // transaction's messages stay in order and ahead of any SEND that follows the COMMIT.
    const confirm = frame.headers.receipt !== undefined;
    const started = held.map(({ op }) => invoke(op, confirm));
    // §"Header receipt": a held frame took effect now, so its RECEIPT comes now, once every
    // operation completed (a SEND that asked for a receipt waited for the broker's confirm), in
    // order and before the COMMIT's own. A failure ends the session with an ERROR instead.
    const applied = Promise.all(started).then(() => {
      for (const { receipt } of held) this.sendReceipt(receipt);
    });
    return this.track(applied, frame);
  }

  abort(frame: StompFrame): void {
    this.transactions.abort(required(frame, 'transaction'));
    this.receipt(frame);
  }

  // --- §DISCONNECT ---

  async disconnect(frame: StompFrame): Promise<void> {
    // §DISCONNECT: the RECEIPT comes after every earlier frame took effect, so a client can wait for
    // it to know all its SENDs reached the broker. Frames after DISCONNECT are ignored.
    this.io.draining();
    while (this.busy) await Promise.all(this.inFlight);
    if (!this.io.open) return;
    this.receipt(frame);
    this.io.finish();
  }

  /**
   * Resolves once the work already under way (SENDs waiting for the broker) has settled and its
   * RECEIPTs or ERRORs went out (a draining session's shutdown waits for it). Undefined when none is.
   */
  settled(): Promise<void> | undefined {
    if (!this.busy) return undefined;
    return (async () => {
      while (this.busy) await Promise.all(this.inFlight);
    })();
  }

  // --- helpers ---

  /** §"Header receipt": sends RECEIPT when the frame asked for one (with a resume position, if any). */
  private receipt(frame: StompFrame, resumeToken?: string): void {
    this.sendReceipt(frame.headers.receipt, resumeToken);
  }

  private sendReceipt(id: string | undefined, resumeToken?: string): void {
    if (id === undefined || !this.io.open) return;
    this.io.sendFrame({ command: 'RECEIPT', headers: makeHeaders({ 'receipt-id': id, [RESUME_TOKEN_HEADER]: resumeToken }), body: EMPTY });
  }

  /**
   * Follows work that completes later: RECEIPT on success, ERROR (with receipt-id) on failure, never
   * a silent loss. Returns a promise, making the session wait, only when too much is in flight.
   */
  private track(work: Promise<void>, frame: StompFrame): void | Promise<void> {
    const done: Promise<void> = work.then(
      () => {
        this.settledOne(done);
        this.receipt(frame);
      },
      (err: unknown) => {
        this.settledOne(done);
        this.io.fail(err, frame);
      },
    );
    const inFlight = this.inFlight;
    inFlight.add(done);
    if (inFlight.size >= MAX_IN_FLIGHT) return Promise.race(inFlight);
  }

  /** Tracked work settled; the set goes once empty, so a session gone idle keeps none. */
  private settledOne(done: Promise<void>): void {
    const inFlight = this.inFlightSet;
    if (inFlight !== undefined && inFlight.delete(done) && inFlight.size === 0) this.inFlightSet = undefined;
  }

  private closeConsumer(subscription: ClientSubscription, options?: CloseOptions): Promise<void> {
    const consumer = subscription.consumer;
    if (consumer === undefined) return Promise.resolve();
    return consumer.close(options).catch((err: unknown) => {
      this.io.deps.logger.warn({ err, session: this.io.session.id, subscription: subscription.id }, 'closing a broker consumer failed');
    });
  }
}

/**
 * One subscription of a session: its record in the {@link SubscriptionTable} and, for one the broker
 * serves, the broker's sink for it. One object with methods rather than a record plus a sink object
 * (or closures): an idle relay holds mostly subscriptions.
 */
class SessionSubscription implements ClientSubscription, DeliverySink {
  consumer: Consumer | undefined = undefined;
  unacked: Map<string, string> | undefined = undefined;
  active = true;
  announced = false;
  deferred: ClientSubscription['deferred'] = undefined;
  /** Holds live deliveries while a resumed subscription replays its history. */
  gate: ResumeGate | undefined = undefined;

  constructor(
    private readonly protocol: SessionProtocol,
    readonly id: string,
    readonly clientDestination: string,
    readonly ack: AckMode,
    readonly brokerDestination: string,
    /** The router's filter (a user destination's target-session header); undefined takes all. */
    readonly accepts: BrokerSubscribeRoute['accepts'],
  ) {}

  deliver(delivery: Delivery): void {
    try {
      if (this.gate !== undefined) this.gate.live(delivery);
      else this.protocol.take(this, delivery);
    } catch (err) {
      this.protocol.sinkFailed(err); // a bug here must end this session only, not the broker's fan-out
    }
  }

  cancelled(reason: RelayError): void {
    // The broker ended the consumer by itself. STOMP has no per-subscription error, so, like
    // RabbitMQ's own STOMP adapter, the session ends with an ERROR naming the reason.
    if (this.active) this.protocol.sinkFailed(reason);
  }
}

const EMPTY = Buffer.alloc(0);
const EMPTY_SET: ReadonlySet<string> = new Set();
const CONFIRM = Object.freeze({ confirm: true });
const EMPTY_BODY = Buffer.alloc(0);
const GIVE_UP: NackOptions = Object.freeze({ requeue: false });

/**
 * A NACK's `requeue` header, read as RabbitMQ's STOMP plugin reads it: `false` (any letter case)
 * gives the message up (RabbitMQ dead-letters or drops it), `true` or absent puts it back. Anything
 * else is INVALID_HEADER: RabbitMQ would requeue it silently, and a typo must not turn "drop this
 * poison message" into "send it again forever".
 */
function nackOptions(frame: StompFrame): NackOptions | undefined {
  const value = frame.headers.requeue;
  if (value === undefined) return undefined;
  if (value.length === 5 && value.toLowerCase() === 'false') return GIVE_UP;
  if (value.length === 4 && value.toLowerCase() === 'true') return undefined;
  throw relayError(Errors.INVALID_HEADER, 'requeue', value);
}

const REMOVE_DURABLE: CloseOptions = Object.freeze({ removeDurable: true });

/** A subscription as events name it: the destination as the client sent it. */
function summary(subscription: ClientSubscription): SubscriptionSummary {
  return { id: subscription.id, destination: subscription.clientDestination || subscription.brokerDestination, ack: subscription.ack };
}

/** Runs a buffered operation, turning a synchronous throw into a rejection. */
function invoke(op: TransactionOp, confirm: boolean): Promise<void> {
  try {
    return Promise.resolve(op(confirm));
  } catch (err) {
    return Promise.reject(err);
  }
}

function required(frame: StompFrame, name: string): string {
  const value = frame.headers[name];
  if (value === undefined) throw relayError(Errors.MISSING_HEADER, frame.command, name);
  return value;
}

/** Copies `source` without `own`, then applies the router's `extra` headers over it. */
function passThrough(source: StompHeaders, own: ReadonlySet<string>, extra: StompHeaders | undefined): StompHeaders {
  // Relay-internal (`x-stomp-relay-*`) and relay-set (`x-relay-sender`) headers cannot come from a client (header-policy.ts).
  return headersExcept(source, [own, isInternalHeader, isRelaySetHeader], extra);
}

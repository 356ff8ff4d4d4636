/**
 * A receiver process of bench/lib/fanout-receivers.ts: holds subscribers `from..to-1` of a fan-out
 * run, opens and subscribes them when told, and counts what they receive with a DeliveryTracker
 * (delivery time on the stamp clock, comparable with the publisher's stamp in the parent). Runs only
 * as a child (the plan comes in the environment, orders over IPC); exits when its parent goes away.
 */
import { DeliveryTracker } from './delivery-tracker';
import { openFloorClient, openSocketIoClient, openStompClient, type FanoutSubscriber } from './fanout-clients';
import { RECEIVER_PLAN_ENV, type ReceiverCounts, type ReceiverPlan, type ToReceiverChild } from './fanout-receivers';
import { serveIpcRequests } from './ipc-child';
import { openLeanFloorReceiver, openLeanSocketIoReceiver, openLeanStompReceiver, type FanoutReceiver } from './lean-receivers';
import { stampClockMs } from './stats';
import { openMany } from './stomp-ws-client';

/** Handshakes in flight at once per process (a burst of thousands measures the accept queue). */
const OPEN_CONCURRENCY = 50;
/** Subscriptions in flight at once per process. */
const SUBSCRIBE_BATCH = 100;

/** A library client (bench/lib/fanout-clients.ts) seen as a receiver: the body is the whole message. */
function libraryReceiver(client: FanoutSubscriber): FanoutReceiver {
  return {
    subscribe: (topic, onMessage) => client.subscribe(topic, (body) => onMessage(body, 0)),
    get closed() { return client.closed; },
    get errors() { return client.errors; },
    close: () => client.close(),
    terminate: () => client.terminate(),
  };
}

/** Opens receiver `i` (index in the whole run) of `plan`. */
function openReceiver(plan: ReceiverPlan, i: number): Promise<FanoutReceiver> {
  const url = plan.urls[i % plan.urls.length]!;
  const login = plan.login ?? `bench-${i}`;
  if (plan.clients === 'lean') {
    switch (plan.protocol) {
      case 'stomp': return openLeanStompReceiver({ url, login, passcode: plan.passcode });
      case 'socketio': return openLeanSocketIoReceiver(url);
      case 'floor': return openLeanFloorReceiver(url);
    }
  }
  switch (plan.protocol) {
    case 'stomp': return openStompClient({ url, login, passcode: plan.passcode }).then(libraryReceiver);
    case 'socketio': return openSocketIoClient(url).then(libraryReceiver);
    case 'floor': return openFloorClient(url, 'sub').then(libraryReceiver);
  }
}

/** The receivers of this process and what they counted. */
class ReceiverLoad {
  private receivers: FanoutReceiver[] = [];
  /** Replaced on every `track`; a message outside its range counts as stray. */
  private tracker: DeliveryTracker;

  constructor(private readonly plan: ReceiverPlan) {
    this.tracker = new DeliveryTracker(plan.to - plan.from, 0, 1);
  }

  async open(): Promise<void> {
    const { plan } = this;
    this.receivers = await openMany(plan.to - plan.from, (k) => openReceiver(plan, plan.from + k), OPEN_CONCURRENCY);
  }

  async subscribe(): Promise<void> {
    for (let k = 0; k < this.receivers.length; k += SUBSCRIBE_BATCH) {
      await Promise.all(this.receivers.slice(k, k + SUBSCRIBE_BATCH).map((r, j) =>
        r.subscribe(this.plan.topic, (data, bodyFrom) => this.tracker.onMessage(k + j, data, stampClockMs(), bodyFrom))));
    }
  }

  track(base: number, count: number): void {
    this.tracker = new DeliveryTracker(this.plan.to - this.plan.from, base, count);
  }

  counts(): ReceiverCounts {
    return {
      ...this.tracker.counts(),
      closed: this.receivers.filter((r) => r.closed).length,
      errors: this.receivers.reduce((n, r) => n + r.errors, 0),
    };
  }

  samples(): { samples: Float64Array; offered: number } {
    return { samples: this.tracker.latency.storedSamples(), offered: this.tracker.latency.count };
  }

  /** Drops every socket at once (the servers are about to stop anyway). */
  close(): void {
    for (const r of this.receivers) r.terminate();
  }
}

function main(): void {
  const raw = process.env[RECEIVER_PLAN_ENV];
  if (raw === undefined) throw new Error('fanout-receiver-child runs only as a child of bench/lib/fanout-receivers.ts');
  const load = new ReceiverLoad(JSON.parse(raw) as ReceiverPlan);
  serveIpcRequests<ToReceiverChild>({
    closeType: 'close',
    onClose: () => load.close(),
    handle: async (msg) => {
      switch (msg.type) {
        case 'open': return load.open().then(() => null);
        case 'subscribe': return load.subscribe().then(() => null);
        case 'track':
          load.track(msg.base, msg.count);
          return null;
        case 'counts': return load.counts();
        case 'samples': return load.samples();
        case 'close': throw new Error('close is answered by serveIpcRequests');
      }
    },
  });
}

main();

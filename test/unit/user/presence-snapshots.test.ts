/**
 * What presence's snapshots cost an idle instance: every `intervalMs` each instance sends its users
 * (at 20,000 a Map, an object and a JSON string of 20,000 entries) and receives its own back. While
 * nothing changed the last snapshot's bytes go out again, and an instance's own snapshot is dropped
 * before it is parsed; peers' snapshots are read as before.
 */
import { expect } from 'chai';
import type { Broker, DeliverySink, PublishOptions, PublishRequest, SubscribeRequest } from '../../../server/broker/broker';
import { MemoryBroker } from '../../../server/broker/memory/memory-broker';
import { silentLogger } from '../../../server/observability/logger';
import { ClusterPresence } from '../../../server/user/presence';

/** The memory broker, with every publish recorded and a promise for the next delivery a subscriber has handled. */
function observedBroker(inner: MemoryBroker) {
  const published: Buffer[] = [];
  let handled: Array<() => void> = [];
  const broker = Object.create(inner) as Broker;
  broker.publish = (request: PublishRequest, options?: PublishOptions) => {
    published.push(request.body);
    return inner.publish(request, options);
  };
  broker.subscribe = (request: SubscribeRequest, sink: DeliverySink) =>
    inner.subscribe(request, {
      ...sink,
      deliver: (delivery) => {
        sink.deliver(delivery);
        const waiting = handled;
        handled = [];
        for (const done of waiting) done();
      },
    });
  const nextHandled = () => new Promise<void>((resolve) => handled.push(resolve));
  return { broker, published, nextHandled };
}

describe('presence snapshots on an idle instance', function () {
  let memory: MemoryBroker;
  const started: ClusterPresence[] = [];

  beforeEach(async function () {
    memory = new MemoryBroker({ history: { windowMs: 60_000, maxMessages: 100 } });
    await memory.start();
  });

  afterEach(async function () {
    for (const p of started.splice(0)) await p.stop();
    await memory.stop();
  });

  function presence(broker: Broker, instanceId: string, users: Map<string, number>, version: () => number, built: { n: number }) {
    const p = new ClusterPresence({
      broker,
      instanceId,
      localUsers: () => {
        built.n++;
        return users;
      },
      localUsersVersion: version,
      localSessionsOf: (user) => users.get(user) ?? 0,
      logger: silentLogger(),
      intervalMs: 3_600_000,
      changeDelayMs: 0,
    });
    started.push(p);
    return p;
  }

  it('sends an unchanged snapshot again as the same bytes, without building it; a change builds a new one', async function () {
    const { broker, published } = observedBroker(memory);
    const users = new Map([['alice', 1]]);
    let version = 1;
    const built = { n: 0 };
    const a = presence(broker, 'a', users, () => version, built);
    await a.start();
    expect(built.n).to.equal(1);
    expect(published).to.have.length(1);

    // A periodic snapshot with nothing changed (as the interval timer sends it).
    (a as unknown as { publish(leaving: boolean): void }).publish(false);
    expect(built.n, 'localUsers() called again for an unchanged snapshot').to.equal(1);
    expect(published).to.have.length(2);
    expect(published[1]!.equals(published[0]!)).to.equal(true);

    users.set('bob', 2);
    version++;
    (a as unknown as { publish(leaving: boolean): void }).publish(false);
    expect(built.n).to.equal(2);
    expect(JSON.parse(published[2]!.toString('utf8'))).to.deep.equal({ v: 1, instanceId: 'a', users: { alice: 1, bob: 2 } });
  });

  it("drops its own snapshots before parsing them, and reads a peer's (whose id starts like its own)", async function () {
    const { broker, nextHandled } = observedBroker(memory);
    const a = presence(broker, 'a', new Map([['alice', 1]]), () => 1, { n: 0 });
    const ab = presence(memory, 'ab', new Map([['bob', 3]]), () => 1, { n: 0 });
    const parsed: string[] = [];
    const parse = JSON.parse;
    JSON.parse = ((text: string, reviver?: (key: string, value: unknown) => unknown) => {
      parsed.push(text);
      return parse(text, reviver);
    }) as typeof JSON.parse;
    try {
      const ownBack = nextHandled();
      await a.start();
      await ownBack;
      expect(parsed.filter((t) => t.includes('"instanceId":"a"')), 'own snapshot parsed').to.deep.equal([]);

      const peer = nextHandled();
      await ab.start();
      await peer;
      expect(a.lookup('bob')).to.deep.equal({ user: 'bob', sessions: 3, instances: [{ instanceId: 'ab', sessions: 3 }] });
      expect(a.knownInstances()).to.equal(2);
    } finally {
      JSON.parse = parse;
    }
  });
});

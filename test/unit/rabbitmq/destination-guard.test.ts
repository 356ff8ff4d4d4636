import { expect } from 'chai';
import { headers } from '../../../server/codec/frame';
import { Errors, relayError, type RelayError } from '../../../server/errors';
import { DestinationGuard } from '../../../server/broker/rabbitmq/destination-guard';
import type { ProbeConnection, ProbeRelease } from '../../../server/broker/rabbitmq/probe-connection';
import type { ProbeTarget } from '../../../server/broker/rabbitmq/request-risk';

/** A probe connection whose answers the test gives by hand. */
class FakeProbes {
  readonly targets: ProbeTarget[] = [];
  private answers: Array<{ resolve(release: ProbeRelease): void; reject(error: RelayError): void }> = [];

  probe(target: ProbeTarget): Promise<ProbeRelease> {
    this.targets.push(target);
    return new Promise((resolve, reject) => { this.answers.push({ resolve, reject }); });
  }

  accept(release: ProbeRelease): void {
    this.next().resolve(release);
  }

  refuse(error: RelayError): void {
    this.next().reject(error);
  }

  private next() {
    const answer = this.answers.shift();
    if (!answer) throw new Error('no probe waiting');
    return answer;
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}

const ticks = async (n = 10): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

describe('rabbitmq DestinationGuard', () => {
  it('keeps one publisher\'s order on the first use of a risky destination: no publish overtakes one still waiting for the probe to let go', async () => {
    const probes = new FakeProbes();
    const guard = new DestinationGuard(probes as unknown as ProbeConnection);
    const order: string[] = [];
    const first = guard.checkPublish('/queue/jobs', headers());
    expect(first, 'a first use is probed').to.not.equal(undefined);
    void first?.then(() => order.push('first'));

    const letGo = deferred();
    probes.accept(() => letGo.promise);
    await ticks();
    expect(order).to.deep.equal([]);

    // The probe succeeded but is still letting go: a later publish must wait behind the first.
    const second = guard.checkPublish('/queue/jobs', headers());
    expect(second, 'the second publish would go out before the first').to.not.equal(undefined);
    void second?.then(() => order.push('second'));
    letGo.resolve();
    await ticks();
    expect(order).to.deep.equal(['first', 'second']);
    expect(probes.targets).to.have.length(1);
    // Verified and let go: from now on publishes pass at once.
    expect(guard.checkPublish('/queue/jobs', headers())).to.equal(undefined);
  });

  it('sends a publish to a queue exclusive to another connection through /amq/queue/, and still refuses to subscribe it', async () => {
    const probes = new FakeProbes();
    const guard = new DestinationGuard(probes as unknown as ProbeConnection);
    const first = guard.checkPublish('/queue/replies-x', headers({ 'correlation-id': 'c1' }));
    // What brokerErrorToRelayError makes of RabbitMQ's answer.
    probes.refuse(relayError(Errors.DESTINATION_NOT_ALLOWED, "resource_locked: RESOURCE_LOCKED - cannot obtain exclusive access to locked queue 'replies-x'"));
    expect(await first).to.equal('/amq/queue/replies-x');
    // Remembered: the next one goes the same way without a probe.
    expect(await guard.checkPublish('/queue/replies-x', headers())).to.equal('/amq/queue/replies-x');
    expect(probes.targets).to.have.length(1);
    let refused: unknown;
    await Promise.resolve(guard.checkSubscribe({ destination: '/queue/replies-x', ack: 'auto', headers: headers() })).catch((err: unknown) => { refused = err; });
    expect((refused as RelayError).code).to.equal('DESTINATION_NOT_ALLOWED');
    // Any other refusal is the publisher's.
    const other = guard.checkPublish('/queue/jobs', headers());
    probes.refuse(relayError(Errors.BROKER_ERROR, "precondition_failed: inequivalent arg 'durable'"));
    let error: unknown;
    await other?.catch((err: unknown) => { error = err; });
    expect((error as RelayError).code).to.equal('BROKER_ERROR');
  });

  it('probes again after clear()', async () => {
    const probes = new FakeProbes();
    const guard = new DestinationGuard(probes as unknown as ProbeConnection);
    const first = guard.checkPublish('/queue/jobs', headers());
    probes.accept(() => Promise.resolve());
    await first;
    await ticks();
    expect(guard.checkPublish('/queue/jobs', headers())).to.equal(undefined);
    guard.clear();
    expect(guard.checkPublish('/queue/jobs', headers())).to.not.equal(undefined);
    expect(probes.targets).to.have.length(2);
  });
});

import { expect } from 'chai';
import { headers } from '../../../server/codec/frame';
import { DestinationGuard } from '../../../server/broker/rabbitmq/destination-guard';
import type { ProbeConnection, ProbeRelease } from '../../../server/broker/rabbitmq/probe-connection';
import type { ProbeTarget } from '../../../server/broker/rabbitmq/request-risk';

/** A probe connection whose answers the test gives by hand. */
class FakeProbes {
  readonly targets: ProbeTarget[] = [];
  private answers: Array<(release: ProbeRelease) => void> = [];

  probe(target: ProbeTarget): Promise<ProbeRelease> {
    this.targets.push(target);
    return new Promise((resolve) => { this.answers.push(resolve); });
  }

  accept(release: ProbeRelease): void {
    const answer = this.answers.shift();
    if (!answer) throw new Error('no probe waiting');
    answer(release);
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

/**
 * Readiness on the embedded broker: the engine logs each change once, in its own words, and
 * reports its own connection gauge; the relay's readiness gauge follows it without a branch on the
 * engine's kind.
 */
import { expect } from 'chai';
import { captureLogs } from '../../harness/log-capture';
import { metricValue, request, startRelay, type TestRelay } from '../../harness/stomp-test-kit';

describe('embedded broker readiness', function () {
  let relay: TestRelay | undefined;

  afterEach(async () => {
    await relay?.close();
    relay = undefined;
  });

  it('logs each readiness change once and reports one in-process connection', async () => {
    const logs = captureLogs('info');
    relay = await startRelay({ logger: logs.logger });
    const text = (await request(`${relay.http}/metrics`)).text;
    expect(metricValue(text, 'stomp_relay_broker_ready')).to.equal(1);
    expect(metricValue(text, 'stomp_relay_broker_connections')).to.equal(1);
    await relay.close();
    relay = undefined;
    const readiness = logs.records().filter((r) => typeof r.ready === 'boolean').map((r) => `${String(r.ready)} ${r.msg}`);
    expect(readiness).to.deep.equal(['true embedded broker ready', 'false embedded broker stopped']);
  });
});

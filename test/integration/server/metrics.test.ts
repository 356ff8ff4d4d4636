/**
 * `/metrics` as dashboards and alerts read it: Node's default metrics under their usual names
 * (`process_*`, `nodejs_*`), the relay's build, HTTP requests by route and status, readiness
 * changes; and the Grafana dashboard and Prometheus alert rules in deploy/ name only metrics that
 * the relay really exposes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import { parse as parseYaml } from 'yaml';
import { PACKAGE_VERSION } from '../../../server/package-info';
import { api, metricValue, request, startRelay, unique, wsClient, type TestRelay } from '../../harness/stomp-test-kit';
import { metricNamesOf, exposedFamilies } from '../../harness/promql-names';

const ROOT = join(__dirname, '..', '..', '..');

describe('server: metrics', function () {
  let server: TestRelay;
  let scrape: () => Promise<string>;

  before(async () => {
    server = await startRelay();
    scrape = async () => (await request(`${server.http}/metrics`)).text;
  });
  after(async () => { await server.close(); });

  it('exposes Node\'s default metrics under their usual names, not prefixed', async () => {
    const text = await scrape();
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_heap_size_used_bytes', 'nodejs_active_handles_total']) {
      expect(text, name).to.match(new RegExp(`^# TYPE ${name} `, 'm'));
    }
    expect(text).to.not.include('stomp_relay_process_');
  });

  it('exposes stomp_relay_build_info with the version and the Node version', async () => {
    expect(metricValue(await scrape(), `stomp_relay_build_info{version="${PACKAGE_VERSION}",nodejs="${process.version}"}`)).to.equal(1);
  });

  it('counts HTTP requests by method, route template and status, with their latency', async () => {
    const sample = (name: string, labels: string) => `${name}{method="${labels.split(' ')[0]}",route="${labels.split(' ')[1]}",status_code="${labels.split(' ')[2]}"}`;
    const count = async (labels: string) => metricValue(await scrape(), sample('stomp_relay_http_requests_total', labels)) ?? 0;
    const before = {
      push: await count('POST /push/:user 202'),
      bad: await count('POST /push/:user 400'),
      health: await count('GET /healthz 200'),
      unmatched: await count('GET (unmatched) 404'),
    };
    await api(server, 'POST', '/push/alice', { destination: '/queue/x', payload: 1 });
    await api(server, 'POST', '/push/bob', { destination: '/queue/x', payload: 2 });
    await api(server, 'POST', '/push/carol', { payload: 'no destination' });
    await api(server, 'GET', '/healthz');
    await api(server, 'GET', '/no/such/route/12345');
    const text = await scrape();
    expect(metricValue(text, sample('stomp_relay_http_requests_total', 'POST /push/:user 202')), 'user names are not labels').to.equal(before.push + 2);
    expect(metricValue(text, sample('stomp_relay_http_requests_total', 'POST /push/:user 400'))).to.equal(before.bad + 1);
    expect(metricValue(text, sample('stomp_relay_http_requests_total', 'GET /healthz 200'))).to.equal(before.health + 1);
    expect(metricValue(text, sample('stomp_relay_http_requests_total', 'GET (unmatched) 404')), 'unknown paths share one label').to.equal(before.unmatched + 1);
    expect(text).to.not.include('12345');
    expect(metricValue(text, sample('stomp_relay_http_request_duration_seconds_count', 'POST /push/:user 202'))).to.equal(before.push + 2);
    expect(text).to.match(/^stomp_relay_http_request_duration_seconds_bucket\{le="\+Inf",method="POST",route="\/push\/:user",status_code="202"\} \d+$/m);
  });

  it('exposes broker readiness, its changes and broker reconnects (zero on the embedded broker)', async () => {
    const text = await scrape();
    expect(metricValue(text, 'stomp_relay_broker_ready')).to.equal(1);
    expect(text).to.match(/^# TYPE stomp_relay_broker_ready_changes_total counter$/m);
    expect(text).to.match(/^# TYPE stomp_relay_broker_reconnects_total counter$/m);
  });

  it('counts every MESSAGE frame sent in stomp_relay_frames_out_total, exactly, at each scrape, and their bytes', async () => {
    const messages = async () => metricValue(await scrape(), 'stomp_relay_frames_out_total{command="MESSAGE"}') ?? 0;
    const topic = `/topic/${unique('frames-out')}`;
    const a = await wsClient(server);
    const b = await wsClient(server);
    try {
      const subs = [await a.subscribe(topic), await b.subscribe(topic)];
      const bytes = async () => metricValue(await scrape(), 'stomp_relay_bytes_out_total') ?? 0;
      const before = await messages();
      const bytesBefore = await bytes();
      const bytesIn = async () => metricValue(await scrape(), 'stomp_relay_bytes_in_total') ?? 0;
      const bytesInBefore = await bytesIn();
      await a.publish(topic, 'one');
      await a.publish(topic, 'two');
      for (const s of subs) await s.messages.take(2, 'the two MESSAGEs');
      expect(await messages()).to.equal(before + 4);
      // Four MESSAGE frames (headers and body) and two RECEIPTs at least.
      expect((await bytes()) - bytesBefore).to.be.above(4 * 'MESSAGE\ndestination:\n\none\0'.length + topic.length * 4);
      // Two SENDs (receipted) came in, counted by the time of the scrape.
      expect((await bytesIn()) - bytesInBefore).to.be.above(2 * ('SEND\ndestination:\n\none\0'.length + topic.length));
      await b.publish(topic, 'three');
      for (const s of subs) await s.messages.take(1, 'the third MESSAGE');
      expect(await messages(), 'a second scrape adds only what was sent since').to.equal(before + 6);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  describe('deploy/ dashboards and alerts', () => {
    let families: Set<string>;
    before(async () => { families = exposedFamilies(await scrape()); });

    /** Series Prometheus adds to every target itself. */
    const fromPrometheus = new Set(['up']);
    /** Names in `exprs` that no metric family of the scrape provides (histogram series count as their family). */
    const unknown = (exprs: string[]) => exprs.flatMap((e) => metricNamesOf(e).filter((n) => !families.has(n) && !fromPrometheus.has(n)).map((n) => `${n} in ${e}`));

    it('the Grafana dashboard queries only metrics the relay exposes', () => {
      const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy', 'grafana', 'stomp-relay-dashboard.json'), 'utf8')) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }> };
      const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
      expect(exprs.length).to.be.at.least(10);
      expect(unknown(exprs)).to.deep.equal([]);
      const named = new Set(exprs.flatMap(metricNamesOf));
      for (const family of ['stomp_relay_sessions', 'stomp_relay_http_request_duration_seconds_bucket', 'stomp_relay_broker_ready', 'nodejs_eventloop_lag_p99_seconds', 'process_resident_memory_bytes']) {
        expect(named.has(family), `the dashboard shows ${family}`).to.equal(true);
      }
    });

    it('the Prometheus alert rules name only metrics the relay exposes, and cover the four failure modes', () => {
      const rules = parseYaml(readFileSync(join(ROOT, 'deploy', 'prometheus', 'alerts.yml'), 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string; for?: string; labels?: { severity?: string }; annotations?: { summary?: string } }> }> };
      const all = rules.groups.flatMap((g) => g.rules);
      expect(unknown(all.map((r) => r.expr))).to.deep.equal([]);
      expect(all.map((r) => r.alert)).to.include.members(['StompRelayBrokerDown', 'StompRelayReadinessFlapping', 'StompRelaySlowConsumerDisconnects', 'StompRelayEventLoopLag']);
      for (const r of all) {
        expect(r.labels?.severity, r.alert).to.be.oneOf(['warning', 'critical']);
        expect(r.annotations?.summary, r.alert).to.be.a('string');
      }
    });
  });
});

/**
 * The demo page in Debian's chromium, through the production nginx config (deploy/nginx.conf),
 * load-balancing two relay instances that share one private RabbitMQ node: the deployment of the
 * README, with every piece real. What a user would notice is asserted on the page itself:
 * - it connects over SockJS (also with WebSocket gone and only xhr-streaming allowed) and shows the
 *   instance its socket is on;
 * - a backend's push sent to the *other* instance (its admin port, as in production) reaches it;
 * - when its instance goes away (graceful close, or cut off hard), it reconnects through nginx to
 *   the survivor without a reload, and pushes reach it there;
 * - two pages on different instances chat over a topic.
 * Screenshots land in test-artifacts/.
 */
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { browserUnavailableReason, launchBrowser, type TestBrowser } from '../harness/browser';
import { nginxUnavailableReason } from '../harness/nginx';
import { RABBITMQ_BIN, startRabbitNode, type RabbitNode } from '../harness/rabbitmq';
import { connectedInstance, notificationsLive, pushFromBackend, pushToSelfThroughForm, sayInChat, waitForLine } from './demo-page';
import { startRelayCluster, type RelayCluster } from './relay-cluster';
import { ensureClientBundle } from './client-bundle';
import { requireTool } from '../harness/unavailable';

interface TrackedPage {
  page: Page;
  /** console.error lines and uncaught exceptions. */
  errors: string[];
  /** Every request URL the page made. */
  requests: string[];
  /** WebSocket URLs the page opened. */
  websockets: string[];
}

describe('demo page through nginx on two relays and RabbitMQ (chromium)', function () {
  this.timeout(30_000);
  let node: RabbitNode | undefined;
  let browser: TestBrowser | undefined;
  let cluster: RelayCluster | undefined;
  let pages: TrackedPage[] = [];
  let clusterCount = 0;

  before(async function () {
    this.timeout(90_000);
    const reason =
      browserUnavailableReason() ??
      nginxUnavailableReason() ??
      (existsSync(join(RABBITMQ_BIN, 'rabbitmq-server')) ? undefined : `no rabbitmq-server in ${RABBITMQ_BIN}`);
    requireTool(this, reason);
    ensureClientBundle();
    // Boot both at once (the node takes seconds); whichever succeeded is stopped in after() if the other failed.
    const [nodeResult, browserResult] = await Promise.allSettled([startRabbitNode(), launchBrowser()]);
    if (nodeResult.status === 'fulfilled') node = nodeResult.value;
    if (browserResult.status === 'fulfilled') browser = browserResult.value;
    if (nodeResult.status === 'rejected') throw nodeResult.reason;
    if (browserResult.status === 'rejected') throw browserResult.reason;
  });

  after(async function () {
    this.timeout(60_000);
    await browser?.close().catch(() => undefined);
    await node?.stop();
  });

  beforeEach(async function () {
    this.timeout(20_000);
    clusterCount += 1;
    cluster = await startRelayCluster(node!.relayOptions, [`relay${clusterCount}a`, `relay${clusterCount}b`]);
  });

  afterEach(async function () {
    this.timeout(20_000);
    const failed = this.currentTest?.state === 'failed' ? this.currentTest.err : undefined;
    if (failed) {
      // The pages' own complaints (a 404 for the bundle, an uncaught exception) usually say why.
      const said = pages.map((p, i) => `page ${i}: ${p.errors.join(' | ') || '(no errors)'}`).join('\n');
      failed.message += `\n${said}\nnginx error log:\n${(await cluster?.gateway.errorLog())?.split('\n').slice(-10).join('\n')}`;
      for (const [i, p] of pages.entries()) await browser?.screenshot(p.page, `browser-failed-${i}`).catch(() => undefined);
    }
    for (const p of pages) await p.page.close().catch(() => undefined);
    pages = [];
    await cluster?.stop();
    cluster = undefined;
  });

  /** Opens `path` through nginx; `disableWebSocket` removes window.WebSocket before any script runs. */
  async function open(path: string, options: { disableWebSocket?: boolean } = {}): Promise<TrackedPage> {
    const page = await browser!.context.newPage();
    const tracked: TrackedPage = { page, errors: [], requests: [], websockets: [] };
    pages.push(tracked);
    page.on('console', (m) => {
      if (m.type() === 'error') tracked.errors.push(m.text());
    });
    page.on('pageerror', (e) => tracked.errors.push(`uncaught: ${e.message}`));
    page.on('request', (r) => tracked.requests.push(r.url()));
    page.on('response', (r) => {
      if (r.status() >= 400) tracked.errors.push(`HTTP ${r.status()} for ${r.request().method()} ${r.url()}`);
    });
    page.on('websocket', (ws) => tracked.websockets.push(ws.url()));
    if (options.disableWebSocket) {
      await page.addInitScript(() => {
        Object.defineProperty(window, 'WebSocket', { value: undefined, configurable: true, writable: true });
      });
    }
    await page.goto(`${cluster!.gateway.url}${path}`, { waitUntil: 'load', timeout: 10_000 });
    return tracked;
  }

  /** Checks the page's "Socket on" against where the user's session really is, and returns that instance. */
  function holderOf(user: string, shown: string): string {
    const holders = cluster!.instances.filter((r) => r.sessionsOf(user) > 0).map((r) => r.id);
    expect(holders, `instances holding a session of ${user}`).to.deep.equal([shown]);
    return shown;
  }

  it('connects over SockJS through nginx, shows its socket instance, and gets a push sent to the other instance', async () => {
    const alice = await open('/?name=alice&transport=sockjs');
    const on = holderOf('alice', await connectedInstance(alice.page));
    expect(await alice.page.getByTestId('transport').textContent()).to.equal('sockjs');
    expect(await alice.page.getByTestId('user-name').textContent()).to.equal('alice');
    expect(alice.websockets.some((u) => u.includes('/sockjs/')), 'SockJS used its websocket transport through nginx').to.equal(true);
    // "Page from" is whichever instance answered GET /instance through nginx: either one, shown as such.
    await alice.page.waitForFunction(() => document.querySelector('[data-testid="instance-id"]')?.textContent !== '—', undefined, { timeout: 5000 });
    expect(cluster!.instances.map((r) => r.id)).to.include(await alice.page.getByTestId('instance-id').textContent());

    await pushToSelfThroughForm(alice.page, 'alice', 'notifications are live');
    const other = cluster!.other(on);
    const result = await pushFromBackend(other.adminUrl, 'alice', `report ready (pushed to ${other.id})`);
    // What the push API reports is what presence knows: alice's one session, on the instance she is on.
    expect(result).to.deep.include({ user: 'alice', sessions: 1, instances: [{ instanceId: on, sessions: 1 }] });
    await waitForLine(alice.page, 'notifications', `report ready (pushed to ${other.id})`);

    await browser!.screenshot(alice.page, 'browser-demo');
    expect(alice.errors).to.deep.equal([]);
  });

  it('works with WebSocket disabled, over SockJS xhr-streaming only', async () => {
    const bob = await open('/?name=bob&transport=sockjs&sockjs=xhr-streaming', { disableWebSocket: true });
    const on = holderOf('bob', await connectedInstance(bob.page));
    expect(bob.websockets, 'no WebSocket opened').to.deep.equal([]);
    const streaming = bob.requests.filter((u) => u.includes('/xhr_streaming'));
    const sends = () => bob.requests.filter((u) => u.includes('/xhr_send'));
    expect(streaming, 'SockJS session carried over xhr_streaming').to.have.length.greaterThan(0);
    expect(sends(), 'frames sent with xhr_send').to.have.length.greaterThan(0);

    // Live means confirmed by the relay: a backend push sent now cannot race the SUBSCRIBE.
    await notificationsLive(bob.page);
    const other = cluster!.other(on);
    await pushFromBackend(other.adminUrl, 'bob', `pushed via ${other.id} over xhr-streaming`);
    await waitForLine(bob.page, 'notifications', `pushed via ${other.id} over xhr-streaming`);
    expect(bob.errors).to.deep.equal([]);
  });

  const outages = [
    { stop: 'close', transport: 'sockjs', how: 'closes gracefully (relay.close()), over SockJS websocket' },
    { stop: 'kill', transport: 'sockjs', how: 'is cut off hard (sockets destroyed, no goodbye), over SockJS websocket' },
    { stop: 'kill', transport: 'sockjs&sockjs=xhr-streaming', how: 'is cut off hard, over SockJS xhr-streaming' },
  ] as const;
  for (const [n, { stop, transport, how }] of outages.entries()) {
    it(`reconnects through nginx to the surviving instance, without a reload, when its instance ${how}`, async () => {
      const user = `carol${n}`;
      const carol = await open(`/?name=${user}&transport=${transport}`);
      const first = holderOf(user, await connectedInstance(carol.page));
      await pushToSelfThroughForm(carol.page, user, 'before the outage');
      // Marks this document: a reload would start a new one without it.
      await carol.page.evaluate(() => {
        (window as unknown as { sameDocument: boolean }).sameDocument = true;
      });

      const dead = cluster!.byId(first);
      const survivor = cluster!.other(first);
      await (stop === 'close' ? dead.close() : dead.kill());

      const second = holderOf(user, await connectedInstance(carol.page, 20_000, first));
      expect(second).to.equal(survivor.id);
      expect(await carol.page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).to.equal(true);
      await waitForLine(carol.page, 'chat-log', 'connection lost');
      // Resubscribed: the page shows the subscription live again once the survivor confirmed it.
      await notificationsLive(carol.page);

      // A push that only the survivor can deliver: the dead instance is gone.
      await pushFromBackend(survivor.adminUrl, user, `after the outage, via ${survivor.id}`);
      await waitForLine(carol.page, 'notifications', `after the outage, via ${survivor.id}`, 8000);
      expect(await carol.page.getByTestId('notifications').getByText('before the outage').count(), 'old notifications kept').to.equal(1);

      // Whichever upstream nginx tries first (round robin for requests without a SockJS session), a
      // new visitor is served by the survivor: nginx skips the dead one instead of answering 502.
      for (let i = 0; i < 4; i++) {
        const res = await fetch(`${cluster!.gateway.url}/instance`, { signal: AbortSignal.timeout(5000) });
        expect(res.status, `GET /instance through nginx #${i + 1}`).to.equal(200);
        expect(((await res.json()) as { instanceId: string }).instanceId).to.equal(survivor.id);
      }
      if (n === 1) await browser!.screenshot(carol.page, 'browser-demo-failover');
    });
  }

  it("in 'auto' mode falls back to SockJS when the browser has no WebSocket", async () => {
    const dave = await open('/?name=dave', { disableWebSocket: true });
    const on = holderOf('dave', await connectedInstance(dave.page));
    expect(await dave.page.getByTestId('transport').textContent()).to.equal('sockjs');
    expect(dave.websockets, 'no WebSocket opened').to.deep.equal([]);
    await pushToSelfThroughForm(dave.page, 'dave', 'fallback works');
    await pushFromBackend(cluster!.other(on).adminUrl, 'dave', 'pushed over the fallback');
    await waitForLine(dave.page, 'notifications', 'pushed over the fallback');
    expect(dave.errors).to.deep.equal([]);
  });

  it('carries a topic chat between two pages on different instances', async () => {
    const alice = await open('/?name=alice&transport=websocket');
    const aliceOn = holderOf('alice', await connectedInstance(alice.page));
    // Plain WebSocket goes to nginx's least_conn upstream (counts shared across workers by its `zone`),
    // which puts it next to alice's open socket only when bob's own GET /instance is in flight on the
    // other instance at that moment (about 1 load in 5 here): then the page is opened again (bounded).
    let bob: TrackedPage | undefined;
    let bobOn = aliceOn;
    let attempts = 0;
    while (bobOn === aliceOn && attempts < 6) {
      attempts += 1;
      if (bob) await bob.page.close();
      bob = await open('/?name=bob&transport=websocket');
      bobOn = await connectedInstance(bob.page);
    }
    expect(bobOn, `bob on the other instance after ${attempts} page loads`).to.not.equal(aliceOn);
    holderOf('bob', bobOn);

    // Each first sees their own line come back: their topic subscription is live at the broker.
    await sayInChat(bob!.page, 'bob is here');
    await waitForLine(bob!.page, 'chat-log', 'bob is here');
    await sayInChat(alice.page, 'hello <b>bob</b>, I am on ' + aliceOn);
    await waitForLine(alice.page, 'chat-log', 'hello <b>bob</b>');
    await waitForLine(bob!.page, 'chat-log', `hello <b>bob</b>, I am on ${aliceOn}`);
    await sayInChat(bob!.page, `hi alice, from ${bobOn}`);
    await waitForLine(alice.page, 'chat-log', `hi alice, from ${bobOn}`);
    expect(await bob!.page.locator('[data-testid=chat-log] b').count(), 'chat text is not parsed as HTML').to.equal(0);

    await browser!.screenshot(alice.page, 'browser-chat-alice');
    await browser!.screenshot(bob!.page, 'browser-chat-bob');
    expect([...alice.errors, ...bob!.errors]).to.deep.equal([]);
  });
});

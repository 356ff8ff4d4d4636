/**
 * Nothing lost across reconnects (issue 10, docs/protocol.md "Resume"), end to end: real nginx
 * (deploy/nginx.conf), alice's page in chromium on the project's client (which resumes by itself),
 * and a stock @stomp/stompjs client in Node that resumes by hand (stock-resume-client.ts).
 *
 * Two deployments run the same scenarios:
 * - `rabbitmq`: two relay processes (A, B) on one private RabbitMQ node; the clients are put on A
 *   (B's door refuses while they connect), a backend pushes through B, and A is SIGKILLed midway.
 *   History lives in the broker (streams), so it survives A.
 * - `embedded`: one relay on the embedded broker (in-memory history); the outage drops every
 *   connection of the relay, which keeps running.
 * In both, new connections are held for a stretch of pushes after the outage, so that pushes are
 * certainly accepted while no session of the user exists: only resume can bring them.
 */
import { requireTool } from '../harness/unavailable';
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { browserUnavailableReason, launchBrowser, type TestBrowser } from '../harness/browser';
import { nginxUnavailableReason, type NginxGateway } from '../harness/nginx';
import { RABBITMQ_BIN, startRabbitNode, type RabbitNode } from '../harness/rabbitmq';
import { TcpProxy } from '../harness/tcp-proxy';
import { startNginx } from '../harness/nginx';
import { ensureClientBundle } from './client-bundle';
import { connectedInstance, describe as describePage, notificationsLive, pushToSelfThroughForm, waitForLine } from './demo-page';
import { startRelayInstance, startRelayProcessCluster } from './relay-cluster';
import { startStockResumeClient, type StockResumeClient } from './stock-resume-client';

const DESTINATION = '/queue/notifications';
const PUSHES = 1_000;
/** Pushes per second the backend sends, one at a time (each awaited: their order is defined). */
const PUSH_RATE = 250;
/** Pushes accepted while no session can reach the relay (new connections held). */
const PUSHES_WHILE_AWAY = 50;

/** A deployment the scenarios run on. */
interface Deployment {
  readonly gateway: NginxGateway;
  /** `ws://<nginx>/ws` */
  readonly gatewayWsUrl: string;
  /** Admin URL of the instance the backend pushes through (B). */
  readonly pushUrl: string;
  /** The instance the clients are on before the outage, and the one they are on after it. */
  readonly firstId: string;
  readonly afterId: string;
  /**
   * While on, nginx can only pick the first instance for new connections. Turning it off resolves
   * once nginx routes to the other instance again: the pin works by failing connections to it, which
   * nginx holds against it for `fail_timeout` (10 s). An outage inside that window would leave nginx
   * with no live upstream at all, and a client on the default backoff (doubling to 30 s) could spend
   * longer than the test waits before it retries.
   */
  pinToFirst(on: boolean): Promise<void>;
  /** The first instance dies (or drops every connection); new connections are held until `release()`. */
  outage(): Promise<{ release(): void }>;
  stop(): Promise<void>;
}

/** What the page's script keeps (window.t). */
interface PageState {
  received: number[];
  gaps: unknown[];
  resumed: Array<{ recovered: number; gap: boolean; resumeFrom: string }>;
  servers: string[];
}

/**
 * Starts the project's client in the page (imported from the relay through nginx) as `user`,
 * subscribed to DESTINATION; every message's `n` goes to window.t.received. `resumeFrom`: the
 * first SUBSCRIBE resumes from it (a token kept across a reload). Resolves once it is live.
 */
async function startPageClient(page: Page, user: string, resumeFrom?: string): Promise<void> {
  await page.evaluate(`(async () => {
    const lib = await import('/client/stomp-relay-client.js');
    window.t = { received: [], gaps: [], resumed: [], servers: [] };
    window.relay = lib.createRelayClient({ url: '', transport: 'websocket', login: ${JSON.stringify(user)},
      reconnect: { initialMs: 50, maxMs: 200 }, onConnected: (info) => window.t.servers.push(info.server) });
    window.sub = window.relay.subscribeUser(${JSON.stringify(DESTINATION)}, (m) => window.t.received.push(m.json().n), {},
      { onGap: (g) => window.t.gaps.push(g), onResumed: (r) => window.t.resumed.push(r)${resumeFrom === undefined ? '' : `, resumeFrom: ${JSON.stringify(resumeFrom)}`} });
    await window.sub.whenActive();
  })()`);
}

const pageState = (page: Page): Promise<PageState> => page.evaluate('window.t') as Promise<PageState>;

async function waitInPage(page: Page, condition: string, what: string, timeoutMs = 30_000): Promise<void> {
  await page.waitForFunction(condition, undefined, { timeout: timeoutMs, polling: 50 }).catch(async () => {
    const t = (await pageState(page).catch(() => undefined)) as PageState | undefined;
    const summary = t && { received: t.received.length, last: t.received.slice(-3), gaps: t.gaps.length, resumed: t.resumed, servers: t.servers };
    throw new Error(`page: ${what} not within ${timeoutMs} ms: ${JSON.stringify(summary)}`);
  });
}

/** A backend's `POST /push/:user` of `{ n }` to DESTINATION; resolves with the HTTP status. */
async function push(pushUrl: string, user: string, n: number): Promise<number> {
  const res = await fetch(`${pushUrl}/push/${encodeURIComponent(user)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ destination: DESTINATION, payload: { n } }),
    signal: AbortSignal.timeout(10_000),
  });
  await res.arrayBuffer();
  return res.status;
}

/** Pushes 1..count, one at a time; `at(n)` runs (awaited) before push n. Returns the accepted (2xx) ones. */
async function pushAll(pushUrl: string, user: string, count: number, at: (n: number) => Promise<void> | void = () => undefined): Promise<number[]> {
  const accepted: number[] = [];
  const start = Date.now();
  for (let n = 1; n <= count; n++) {
    await at(n);
    if ((await push(pushUrl, user, n)) < 300) accepted.push(n);
    // A steady rate: the next push is due at start + n / rate (not a synchronisation: load shaping).
    const wait = start + (n * 1000) / PUSH_RATE - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  return accepted;
}

/**
 * Resolves once a request through nginx at `gatewayUrl` is answered by instance `id` (its
 * `/healthz` names it): nginx counts that instance live again. Polls, with a deadline.
 */
async function untilRoutedTo(gatewayUrl: string, id: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${gatewayUrl}/healthz`, { signal: AbortSignal.timeout(5_000) });
    const answer = res.ok ? ((await res.json()) as { instanceId?: string }).instanceId ?? '' : `HTTP ${res.status}`;
    if (answer === id) return;
    if (Date.now() > deadline) throw new Error(`nginx did not route to ${id} within ${timeoutMs} ms (last answer: ${answer})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const numbers = (client: StockResumeClient): number[] => client.messages.map((m) => (JSON.parse(m.body) as { n: number }).n);

async function waitForStock(client: StockResumeClient, count: number, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (client.messages.length < count) {
    if (Date.now() > deadline) throw new Error(`stock client: ${what} not within ${timeoutMs} ms (has ${client.messages.length}, last ${JSON.stringify(numbers(client).slice(-3))}, gaps ${client.gaps.length}, servers ${client.servers.join(', ')})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function resumeScenarios(name: string, start: (n: number) => Promise<Deployment>, unavailable: () => string | undefined, boot?: () => Promise<() => Promise<void>>): void {
  describe(`resume across reconnects through nginx, ${name} (chromium + stock stomp.js)`, function () {
    this.timeout(90_000);
    let browser: TestBrowser | undefined;
    let shutdown: (() => Promise<void>) | undefined;
    let deployment: Deployment | undefined;
    let pages: Page[] = [];
    let stocks: StockResumeClient[] = [];
    let count = 0;

    before(async function () {
      this.timeout(120_000);
      const reason = browserUnavailableReason() ?? nginxUnavailableReason() ?? unavailable();
      requireTool(this, reason);
      ensureClientBundle();
      const [bootResult, browserResult] = await Promise.allSettled([boot?.(), launchBrowser()]);
      if (bootResult.status === 'fulfilled') shutdown = bootResult.value;
      if (browserResult.status === 'fulfilled') browser = browserResult.value;
      if (bootResult.status === 'rejected') throw bootResult.reason;
      if (browserResult.status === 'rejected') throw browserResult.reason;
    });

    after(async function () {
      this.timeout(60_000);
      await browser?.close().catch(() => undefined);
      await shutdown?.();
    });

    beforeEach(async function () {
      this.timeout(60_000);
      deployment = await start(++count);
    });

    afterEach(async function () {
      this.timeout(30_000);
      const failed = this.currentTest?.state === 'failed' ? this.currentTest.err : undefined;
      if (failed) {
        const said = await Promise.all(pages.map(async (p, i) => `page ${i}: ${await describePage(p)}`));
        failed.message += `\n${said.join('\n')}\nnginx error log:\n${(await deployment?.gateway.errorLog())?.split('\n').slice(-10).join('\n')}`;
      }
      for (const s of stocks) await s.close().catch(() => undefined);
      for (const p of pages) await p.close().catch(() => undefined);
      stocks = [];
      pages = [];
      await deployment?.stop();
      deployment = undefined;
    });

    /** A page from nginx (the demo, not signed in: only its origin is used) with the project's client. */
    async function openPage(): Promise<Page> {
      const page = await browser!.context.newPage();
      pages.push(page);
      await page.goto(`${deployment!.gateway.url}/`, { waitUntil: 'load', timeout: 10_000 });
      return page;
    }

    function stock(login: string, resumeFrom?: string): StockResumeClient {
      const client = startStockResumeClient({ url: deployment!.gatewayWsUrl, login, destination: `/user${DESTINATION}`, resumeFrom });
      stocks.push(client);
      return client;
    }

    it(`${PUSHES} pushes through another instance while the clients' instance goes away midway (killed, or its connections dropped): both clients get every accepted push, in order, once, with no gap`, async () => {
      const d = deployment!;
      const user = `alice${count}`;
      await d.pinToFirst(true);
      const page = await openPage();
      await startPageClient(page, user);
      const stomp = stock(user);
      await stomp.subscribed(1);
      expect((await pageState(page)).servers[0], 'the page is on the first instance').to.include(`(${d.firstId})`);
      expect(stomp.servers[0], 'the stock client is on the first instance').to.include(`(${d.firstId})`);
      await d.pinToFirst(false);

      let release: (() => void) | undefined;
      const accepted = await pushAll(d.pushUrl, user, PUSHES, async (n) => {
        if (n === PUSHES / 2) release = (await d.outage()).release;
        if (n === PUSHES / 2 + PUSHES_WHILE_AWAY) release!();
      });
      expect(accepted, 'pushes the relay accepted (2xx)').to.have.length(PUSHES);

      await waitInPage(page, `window.t.received.length >= ${accepted.length}`, `all ${accepted.length} pushes`);
      await waitForStock(stomp, accepted.length, `all ${accepted.length} pushes`);
      const t = await pageState(page);
      expect(t.received, 'page: every accepted push, in order, once').to.deep.equal(accepted);
      expect(numbers(stomp), 'stock client: every accepted push, in order, once').to.deep.equal(accepted);
      expect(t.gaps, 'page: no gap').to.deep.equal([]);
      expect(stomp.gaps.map((m) => m.headers), 'stock client: no gap').to.deep.equal([]);
      // They did reconnect (to the survivor), and the page's resume brought what was pushed meanwhile.
      expect(t.servers.at(-1)).to.include(`(${d.afterId})`);
      expect(stomp.servers.at(-1)).to.include(`(${d.afterId})`);
      expect(t.resumed.length, 'page resumed').to.be.greaterThan(0);
      expect(t.resumed.reduce((sum, r) => sum + r.recovered, 0), 'page: recovered at least the pushes sent while it was away').to.be.at.least(PUSHES_WHILE_AWAY);
    });

    it('resuming from a forged token: resume-gap:true first (empty), then live messages', async () => {
      const d = deployment!;
      const user = `carol${count}`;
      const stomp = stock(user, 'forged.token.123');
      await stomp.subscribed(1);
      const page = await openPage();
      await startPageClient(page, user, 'm1.00000000.1.0');
      expect(stomp.gaps, 'the gap marker came before the RECEIPT').to.have.length(1);
      expect(stomp.gaps[0].body).to.equal('');
      expect(stomp.gaps[0].headers['resume-gap']).to.equal('true');
      expect(stomp.messages).to.deep.equal([]);
      const gapsSeen = (await pageState(page)).gaps;
      expect(gapsSeen, "the page's onGap").to.have.length(1);
      expect((await pageState(page)).resumed).to.deep.include.members([{ subscriptionId: 'sub-0', destination: `/user${DESTINATION}`, resumeFrom: 'm1.00000000.1.0', recovered: 0, gap: true }]);

      expect(await pushAll(d.pushUrl, user, 2)).to.deep.equal([1, 2]);
      await waitForStock(stomp, 2, 'two live pushes');
      await waitInPage(page, 'window.t.received.length >= 2', 'two live pushes');
      expect(numbers(stomp)).to.deep.equal([1, 2]);
      expect((await pageState(page)).received).to.deep.equal([1, 2]);
      expect(stomp.gaps, 'one gap only').to.have.length(1);
      expect(stomp.messages.every((m) => m.headers['resume-token'] !== undefined), 'live messages carry resume-token').to.equal(true);
    });

    it('two tabs of alice resuming at different points each get exactly what they missed', async () => {
      const d = deployment!;
      const user = `alice${count}`;
      const [tab1, tab2] = [await openPage(), await openPage()];
      await startPageClient(tab1, user);
      await startPageClient(tab2, user);
      const token = (tab: Page): Promise<string> => tab.evaluate('window.sub.resumeToken') as Promise<string>;
      const leave = (tab: Page): Promise<void> => tab.evaluate('window.relay.close()') as Promise<void>;

      await pushAll(d.pushUrl, user, 2);
      await waitInPage(tab1, 'window.t.received.length === 2', 'pushes 1-2');
      const tab1At = await token(tab1);
      await leave(tab1);
      for (const n of [3, 4]) expect(await push(d.pushUrl, user, n)).to.equal(202);
      await waitInPage(tab2, 'window.t.received.length === 4', 'pushes 1-4');
      const tab2At = await token(tab2);
      await leave(tab2);
      for (const n of [5, 6]) expect(await push(d.pushUrl, user, n)).to.equal(202);

      // Each comes back (as after a reload) from where it was.
      await startPageClient(tab1, user, tab1At);
      await startPageClient(tab2, user, tab2At);
      expect(await push(d.pushUrl, user, 7)).to.equal(202);
      await waitInPage(tab1, 'window.t.received.includes(7)', 'push 7');
      await waitInPage(tab2, 'window.t.received.includes(7)', 'push 7');
      expect((await pageState(tab1)).received, 'tab 1 left after 2').to.deep.equal([3, 4, 5, 6, 7]);
      expect((await pageState(tab2)).received, 'tab 2 left after 4').to.deep.equal([5, 6, 7]);
      expect([(await pageState(tab1)).gaps, (await pageState(tab2)).gaps]).to.deep.equal([[], []]);
    });

    it("bob resuming from alice's token on his own destination gets nothing of alice's", async () => {
      const d = deployment!;
      const [alice, bob] = [`alice${count}`, `bob${count}`];
      const aliceClient = stock(alice);
      await aliceClient.subscribed(1);
      expect(await pushAll(d.pushUrl, alice, 3)).to.deep.equal([1, 2, 3]);
      await waitForStock(aliceClient, 3, "alice's pushes");
      const aliceFirst = aliceClient.messages[0].headers['resume-token'];
      expect(aliceFirst, "alice's first token").to.be.a('string');

      const bobClient = stock(bob, aliceFirst);
      await bobClient.subscribed(1);
      expect(await push(d.pushUrl, bob, 100)).to.equal(202);
      await waitForStock(bobClient, 1, "bob's own push");
      expect(numbers(bobClient), "bob's messages: his own push only").to.deep.equal([100]);
      expect(bobClient.gaps.every((g) => g.body === ''), 'a gap marker (if any) carries nothing').to.equal(true);
    });

    it('the demo: its notifications list survives the instance going away without losing an item, and says what it recovered', async () => {
      const d = deployment!;
      const user = `dave${count}`;
      await d.pinToFirst(true);
      const page = await openPage();
      await page.goto(`${d.gateway.url}/?name=${user}&transport=websocket`, { waitUntil: 'load', timeout: 10_000 });
      expect(await connectedInstance(page)).to.equal(d.firstId);
      await pushToSelfThroughForm(page, user, 'before the outage');
      await d.pinToFirst(false);

      const { release } = await d.outage();
      const texts = ['while away 1', 'while away 2', 'while away 3'];
      for (const text of texts) {
        const res = await fetch(`${d.pushUrl}/push/${user}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ destination: DESTINATION, payload: { from: 'backend', text } }),
          signal: AbortSignal.timeout(10_000),
        });
        expect(res.status, `push "${text}"`).to.equal(202);
      }
      release();
      await connectedInstance(page, 30_000, d.firstId === d.afterId ? undefined : d.firstId);
      await notificationsLive(page, 30_000);
      for (const text of texts) await waitForLine(page, 'notifications', text, 10_000);
      const note = page.getByTestId('resume-note');
      await note.waitFor({ state: 'visible', timeout: 5000 });
      expect(await note.textContent()).to.match(/recovered [1-9]\d* after reconnecting/);
      expect(await note.getAttribute('data-gap')).to.equal('false');
      const items = await page.getByTestId('notifications').locator('li').allTextContents();
      for (const text of ['before the outage', ...texts]) {
        expect(items.filter((i) => i.includes(text)), `"${text}" once`).to.have.length(1);
      }
      await browser!.screenshot(page, `browser-demo-resumed-${name}`);
    });
  });
}

// RabbitMQ: two relay processes, history in the broker; A is SIGKILLed.
let node: RabbitNode | undefined;
resumeScenarios(
  'two relay processes on RabbitMQ, one SIGKILLed',
  async (n) => {
    const cluster = await startRelayProcessCluster(node!.relayOptions, [`resume${n}a`, `resume${n}b`]);
    const [a, b] = cluster.instances;
    return {
      gateway: cluster.gateway,
      gatewayWsUrl: `${cluster.gateway.url.replace(/^http/, 'ws')}/ws`,
      pushUrl: b.adminUrl,
      firstId: a.id,
      afterId: b.id,
      async pinToFirst(on) {
        b.door.refuse(on);
        if (!on) await untilRoutedTo(cluster.gateway.url, b.id);
      },
      async outage() {
        b.door.pause();
        await a.kill();
        return { release: () => b.door.resume() };
      },
      stop: () => cluster.stop(),
    };
  },
  () => (existsSync(join(RABBITMQ_BIN, 'rabbitmq-server')) ? undefined : `no rabbitmq-server in ${RABBITMQ_BIN}`),
  async () => {
    node = await startRabbitNode();
    return () => node!.stop();
  },
);

// Embedded broker: one relay, history in its memory; its connections are dropped.
resumeScenarios(
  'one relay on the embedded broker, its connections dropped',
  async (n) => {
    const relay = await startRelayInstance({}, `solo${n}`);
    let door: TcpProxy | undefined;
    let gateway: NginxGateway | undefined;
    try {
      door = await TcpProxy.start({ host: '127.0.0.1', port: Number(relay.address.split(':')[1]) });
      gateway = await startNginx({ upstreams: [`127.0.0.1:${door.port}`], adminUpstreams: [relay.adminAddress] });
    } catch (err) {
      await door?.close();
      await relay.close();
      throw err;
    }
    const openDoor = door;
    return {
      gateway,
      gatewayWsUrl: `${gateway.url.replace(/^http/, 'ws')}/ws`,
      pushUrl: relay.adminUrl,
      firstId: relay.id,
      afterId: relay.id,
      pinToFirst: () => Promise.resolve(),
      async outage() {
        openDoor.pause();
        relay.dropConnections();
        return { release: () => openDoor.resume() };
      },
      async stop() {
        await gateway!.stop().catch(() => undefined);
        await openDoor.close().catch(() => undefined);
        await relay.close().catch(() => undefined);
      },
    };
  },
  () => undefined,
);

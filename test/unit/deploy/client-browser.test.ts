/**
 * The built browser client (dist/client/stomp-relay-client.js) in real chromium against a scripted
 * STOMP peer: it loads as an ES module, connects over WebSocket and SockJS, sends the token where
 * the relay looks for it, resubscribes after a dropped connection and falls back from WebSocket to
 * SockJS in 'auto' mode. The same client against the real relay is covered by test/browser/.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { browserUnavailableReason, launchBrowser, type TestBrowser } from '../../harness/browser';
import { startScriptedPeer, type ScriptedPeer } from './scripted-stomp-peer';
import { requireTool } from '../../harness/unavailable';

const ROOT = resolve(__dirname, '..', '..', '..');

/** Runs `script` in the page with the client module imported as `lib`; `window.t` holds test state. */
async function inPage<T>(page: Page, script: string): Promise<T> {
  return page.evaluate(
    `(async () => { const lib = await import('/client/stomp-relay-client.js'); window.t ??= { received: [], states: [], errors: [] }; ${script} })()`,
  ) as Promise<T>;
}

describe('browser client bundle (chromium, scripted STOMP peer)', function () {
  this.timeout(60_000);
  let browser: TestBrowser;
  let peer: ScriptedPeer;
  let page: Page;
  let pageErrors: string[];

  before(async function () {
    requireTool(this, browserUnavailableReason());
    execFileSync(process.execPath, [resolve(ROOT, 'client', 'build.mjs')], { cwd: ROOT, stdio: 'pipe' });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
  });

  beforeEach(async () => {
    peer = await startScriptedPeer();
    const opened = await browser.openPage(`${peer.url}/`);
    page = opened.page;
    pageErrors = opened.errors;
  });

  afterEach(async () => {
    await page?.evaluate('window.relay?.close()').catch(() => undefined);
    await page?.close();
    await peer?.close();
  });

  it('loads as an ES module exporting createRelayClient, without console errors', async () => {
    const exported = await inPage<string[]>(page, 'return Object.keys(lib).sort();');
    expect(exported).to.include.members(['createRelayClient', 'backoffDelay', 'DEFAULT_RECONNECT']);
    expect(pageErrors).to.deep.equal([]);
  });

  it('connects over WebSocket with a v1x.stomp subprotocol and reports CONNECTED headers', async () => {
    await inPage(page, `
      window.relay = lib.createRelayClient({ url: '', transport: 'websocket', login: 'alice',
        onConnected: (info) => { window.t.info = info; } });`);
    await waitInPage(page, 'window.t.info !== undefined');
    const info = await page.evaluate('window.t.info');
    expect(info).to.deep.include({ userName: 'alice', server: 'scripted-peer/1', version: '1.2', transport: 'websocket' });
    expect(peer.connections).to.have.length(1);
    const connect = peer.connections[0].frames[0];
    expect(connect.command).to.equal('CONNECT');
    expect(connect.headers.login).to.equal('alice');
    expect(connect.headers['accept-version']).to.equal('1.2,1.1,1.0');
    expect(await page.evaluate('window.relay.connected')).to.equal(true);
  });

  it('sends the token as Authorization: Bearer and passcode, asking the token function before every attempt', async () => {
    await inPage(page, `
      let n = 0;
      window.relay = lib.createRelayClient({ url: '', transport: 'websocket', token: async () => 'jwt-' + (++n),
        reconnect: { initialMs: 10, maxMs: 20 }, onConnected: () => { window.t.connects = (window.t.connects ?? 0) + 1; } });`);
    await waitInPage(page, 'window.t.connects === 1');
    expect(peer.connections[0].frames[0].headers).to.include({ Authorization: 'Bearer jwt-1', passcode: 'jwt-1' });
    peer.connections[0].drop();
    await waitInPage(page, 'window.t.connects === 2');
    expect(peer.connections[1].frames[0].headers).to.include({ Authorization: 'Bearer jwt-2', passcode: 'jwt-2' });
  });

  it('resubscribes with the same ids after the connection drops, and keeps delivering', async () => {
    await inPage(page, `
      window.relay = lib.createRelayClient({ url: '', transport: 'websocket', login: 'bob',
        reconnect: { initialMs: 10, maxMs: 50 },
        onStateChange: (s) => window.t.states.push(s),
        onDisconnected: (r) => { window.t.lost = r; } });
      window.relay.subscribe('/topic/chat', (m) => window.t.received.push(['chat', m.json()]));
      window.relay.subscribeUser('/queue/notifications', (m) => window.t.received.push(['note', m.body]));`);
    const first = await peer.waitFor(() => peer.connections[0]?.frames.filter((f) => f.command === 'SUBSCRIBE').length === 2 && peer.connections[0], 5000, 'two SUBSCRIBEs');
    const subscribes = first.frames.filter((f) => f.command === 'SUBSCRIBE').map((f) => [f.headers.id, f.headers.destination]);
    expect(subscribes).to.deep.equal([['sub-0', '/topic/chat'], ['sub-1', '/user/queue/notifications']]);

    first.drop();
    const second = await peer.waitFor(() => peer.connections[1]?.frames.filter((f) => f.command === 'SUBSCRIBE').length === 2 && peer.connections[1], 5000, 'resubscribe');
    expect(second.frames.filter((f) => f.command === 'SUBSCRIBE').map((f) => [f.headers.id, f.headers.destination])).to.deep.equal(subscribes);
    expect(await page.evaluate('window.t.states')).to.deep.equal(['connected', 'reconnecting', 'connected']);
    expect(await page.evaluate('window.t.lost !== undefined')).to.equal(true);

    second.send('MESSAGE', { destination: '/topic/chat', subscription: 'sub-0', 'message-id': 'm1', 'content-type': 'application/json' }, '{"text":"after"}');
    second.send('MESSAGE', { destination: '/user/queue/notifications', subscription: 'sub-1', 'message-id': 'm2' }, 'ping');
    await waitInPage(page, 'window.t.received.length === 2');
    expect(await page.evaluate('window.t.received')).to.deep.equal([['chat', { text: 'after' }], ['note', 'ping']]);
  });

  /** The SUBSCRIBE frames of `conn` once there are `count` of them. */
  const subscribesOn = (index: number, count: number) =>
    peer.waitFor(() => {
      const subscribes = peer.connections[index]?.frames.filter((f) => f.command === 'SUBSCRIBE');
      return subscribes?.length === count && subscribes;
    }, 5000, `${count} SUBSCRIBE(s) on connection ${index}`);

  it('resumes a user subscription after a reconnect with resume-from = the last resume-token; a first SUBSCRIBE and a topic carry none', async () => {
    await inPage(page, `
      window.t.resumed = [];
      window.relay = lib.createRelayClient({ url: '', transport: 'websocket', login: 'alice', reconnect: { initialMs: 10, maxMs: 20 } });
      window.relay.subscribe('/topic/chat', () => undefined);
      window.sub = window.relay.subscribeUser('/queue/notifications', (m) => window.t.received.push(m.body), {},
        { onResumed: (r) => window.t.resumed.push(r) });`);
    const first = await subscribesOn(0, 2);
    for (const f of first) expect(f.headers, `first SUBSCRIBE of ${f.headers.destination}`).not.to.have.property('resume-from');
    const conn0 = peer.connections[0];
    for (const f of first) conn0.send('RECEIPT', { 'receipt-id': f.headers.receipt });
    conn0.send('MESSAGE', { destination: '/user/queue/notifications', subscription: 'sub-1', 'message-id': 'm1', 'resume-token': 'tok-1' }, 'one');
    conn0.send('MESSAGE', { destination: '/user/queue/notifications', subscription: 'sub-1', 'message-id': 'm2', 'resume-token': 'tok-2' }, 'two');
    await waitInPage(page, 'window.t.received.length === 2');
    expect(await page.evaluate('window.t.resumed'), 'a first subscription resumes nothing').to.deep.equal([]);
    expect(await page.evaluate('window.sub.resumeToken')).to.equal('tok-2');

    conn0.drop();
    const second = await subscribesOn(1, 2);
    const [topic, user] = second;
    expect(topic.headers).not.to.have.property('resume-from');
    expect(user.headers).to.include({ id: 'sub-1', destination: '/user/queue/notifications', 'resume-from': 'tok-2' });
    // The relay replays what came meanwhile, then confirms.
    const conn1 = peer.connections[1];
    conn1.send('MESSAGE', { destination: '/user/queue/notifications', subscription: 'sub-1', 'message-id': 'm3', 'resume-token': 'tok-3' }, 'three');
    conn1.send('RECEIPT', { 'receipt-id': user.headers.receipt });
    await waitInPage(page, 'window.t.resumed.length === 1');
    expect(await page.evaluate('window.t.received')).to.deep.equal(['one', 'two', 'three']);
    expect(await page.evaluate('window.t.resumed')).to.deep.equal([
      { subscriptionId: 'sub-1', destination: '/user/queue/notifications', resumeFrom: 'tok-2', recovered: 1, gap: false },
    ]);
    expect(await page.evaluate('window.sub.active')).to.equal(true);

    conn1.drop();
    const third = await subscribesOn(2, 2);
    expect(third[1].headers['resume-from'], 'resumes from the replayed message').to.equal('tok-3');
  });

  it('reports a resume-gap MESSAGE to onGap (the subscription\'s and the client\'s), never to the handler, and resumes from its token next time', async () => {
    await inPage(page, `
      window.t.gaps = []; window.t.resumed = [];
      window.relay = lib.createRelayClient({ url: '', transport: 'websocket', login: 'alice', reconnect: { initialMs: 10, maxMs: 20 },
        onGap: (g) => window.t.gaps.push(['client', g]) });
      window.sub = window.relay.subscribeUser('/queue/notifications', (m) => window.t.received.push(m.body), {},
        { onGap: (g) => window.t.gaps.push(['subscription', g]), onResumed: (r) => window.t.resumed.push(r) });`);
    const [first] = await subscribesOn(0, 1);
    peer.connections[0].send('RECEIPT', { 'receipt-id': first.headers.receipt });
    peer.connections[0].send('MESSAGE', { destination: '/user/queue/notifications', subscription: 'sub-0', 'message-id': 'm1', 'resume-token': 'old-1' }, 'before');
    await waitInPage(page, 'window.t.received.length === 1');

    peer.connections[0].drop();
    const [second] = await subscribesOn(1, 1);
    expect(second.headers['resume-from']).to.equal('old-1');
    // The history had no record after old-1: the gap marker (with a position to resume from), then live.
    peer.connections[1].send('MESSAGE', { destination: '/user/queue/notifications', subscription: 'sub-0', 'message-id': 'g', 'resume-gap': 'true', 'resume-token': 'pos-7' }, '');
    peer.connections[1].send('RECEIPT', { 'receipt-id': second.headers.receipt });
    await waitInPage(page, 'window.t.resumed.length === 1');
    const gap = { subscriptionId: 'sub-0', destination: '/user/queue/notifications', resumeFrom: 'old-1' };
    expect(await page.evaluate('window.t.gaps')).to.deep.equal([['subscription', gap], ['client', gap]]);
    expect(await page.evaluate('window.t.resumed')).to.deep.equal([{ ...gap, recovered: 0, gap: true }]);
    peer.connections[1].send('MESSAGE', { destination: '/user/queue/notifications', subscription: 'sub-0', 'message-id': 'm8', 'resume-token': 'tok-8' }, 'live');
    await waitInPage(page, 'window.t.received.length === 2');
    expect(await page.evaluate('window.t.received'), 'the gap marker is no message').to.deep.equal(['before', 'live']);

    // A gap marker's token is a position too: a resume right after it starts there.
    peer.connections[1].drop();
    const [third] = await subscribesOn(2, 1);
    peer.connections[2].send('MESSAGE', { destination: '/user/queue/notifications', subscription: 'sub-0', 'message-id': 'g2', 'resume-gap': 'true', 'resume-token': 'pos-9' }, '');
    peer.connections[2].drop();
    const [fourth] = await subscribesOn(3, 1);
    expect([third.headers['resume-from'], fourth.headers['resume-from']]).to.deep.equal(['tok-8', 'pos-9']);
    expect(pageErrors).to.deep.equal([]);
  });

  it('acks a resume-gap MESSAGE of a client-ack subscription on the application\'s behalf (it never sees it to ack it)', async () => {
    await inPage(page, `
      window.relay = lib.createRelayClient({ url: '', transport: 'websocket', login: 'alice' });
      window.relay.subscribeUser('/queue/jobs', (m) => window.t.received.push(m.body), { ack: 'client-individual' }, { resumeFrom: 'kept-1' });`);
    const [first] = await subscribesOn(0, 1);
    expect(first.headers).to.include({ ack: 'client-individual', 'resume-from': 'kept-1' });
    peer.connections[0].send('MESSAGE', { destination: '/user/queue/jobs', subscription: 'sub-0', 'message-id': 'g', ack: 'ack-g', 'resume-gap': 'true' }, '');
    const ack = await peer.waitFor(() => peer.connections[0].frames.find((f) => f.command === 'ACK'), 5000, 'ACK of the gap marker');
    expect(ack.headers.id).to.equal('ack-g');
    expect(await page.evaluate('window.t.received')).to.deep.equal([]);
  });

  it('resumes the first SUBSCRIBE from options.resumeFrom (a token kept across a page reload)', async () => {
    await inPage(page, `
      window.relay = lib.createRelayClient({ url: '', transport: 'websocket', login: 'alice' });
      window.relay.subscribeUser('/queue/notifications', () => undefined, {}, { resumeFrom: 'kept-5' });`);
    const [first] = await subscribesOn(0, 1);
    expect(first.headers['resume-from']).to.equal('kept-5');
  });

  it('stops delivering and sends UNSUBSCRIBE when a subscription is cancelled, and does not resubscribe it', async () => {
    await inPage(page, `
      window.relay = lib.createRelayClient({ url: '', transport: 'websocket', reconnect: { initialMs: 10, maxMs: 20 } });
      window.sub = window.relay.subscribe('/topic/a', (m) => window.t.received.push(m.body));`);
    const conn = await peer.waitFor(() => peer.connections[0]?.frames.some((f) => f.command === 'SUBSCRIBE') && peer.connections[0]);
    await page.evaluate('window.sub.unsubscribe()');
    await peer.waitFor(() => conn.frames.some((f) => f.command === 'UNSUBSCRIBE' && f.headers.id === 'sub-0'), 5000, 'UNSUBSCRIBE');
    conn.send('MESSAGE', { destination: '/topic/a', subscription: 'sub-0', 'message-id': 'late' }, 'late');
    conn.drop();
    const next = await peer.waitFor(() => peer.connections[1]?.frames.some((f) => f.command === 'CONNECT') && peer.connections[1]);
    await waitInPage(page, 'window.relay.connected');
    expect(next.frames.filter((f) => f.command === 'SUBSCRIBE')).to.deep.equal([]);
    expect(await page.evaluate('window.t.received')).to.deep.equal([]);
  });

  it('publishes objects as JSON with content-type and strings as they are', async () => {
    await inPage(page, `
      window.relay = lib.createRelayClient({ url: '', transport: 'websocket', onConnected: () => {
        window.relay.publish('/topic/chat', { text: 'hi' });
        window.relay.publish('/app/echo', 'plain', { 'x-trace': '1' });
      } });`);
    const sends = await peer.waitFor(() => {
      const s = peer.connections[0]?.frames.filter((f) => f.command === 'SEND');
      return s?.length === 2 && s;
    });
    expect(sends[0].headers).to.include({ destination: '/topic/chat', 'content-type': 'application/json' });
    expect(sends[0].body).to.equal('{"text":"hi"}');
    expect(sends[1].headers).to.include({ destination: '/app/echo', 'x-trace': '1' });
    expect(sends[1].headers).not.to.have.property('content-type');
    expect(sends[1].body).to.equal('plain');
  });

  it('refuses to publish while not connected instead of dropping the message silently', async () => {
    peer.acceptWebSocket = false;
    const message = await inPage<string>(page, `
      window.relay = lib.createRelayClient({ url: '', transport: 'websocket' });
      try { window.relay.publish('/topic/x', 'lost'); return 'sent'; } catch (e) { return e.message; }`);
    expect(message).to.match(/not connected/);
  });

  it('connects over SockJS with the token in the access_token query parameter', async () => {
    await inPage(page, `
      window.relay = lib.createRelayClient({ url: '', transport: 'sockjs', sockjsTransports: ['xhr-streaming'],
        token: 'tok en', login: 'carol', onConnected: (info) => { window.t.info = info; } });`);
    await waitInPage(page, 'window.t.info !== undefined');
    expect(await page.evaluate('window.t.info')).to.deep.include({ userName: 'carol', transport: 'sockjs' });
    expect(peer.connections[0].transport).to.equal('sockjs');
    expect(peer.connections[0].url).to.match(/^\/sockjs\/.*xhr_streaming\?access_token=tok%20en(&|$)/, peer.connections[0].url);
    expect(peer.connections[0].frames[0].headers).to.include({ Authorization: 'Bearer tok en' });
  });

  it("falls back to SockJS in 'auto' mode when WebSocket cannot open", async () => {
    peer.acceptWebSocket = false;
    await inPage(page, `
      window.relay = lib.createRelayClient({ url: '', transport: 'auto', login: 'dave',
        reconnect: { initialMs: 10, maxMs: 20 }, onConnected: (info) => { window.t.info = info; } });`);
    await waitInPage(page, 'window.t.info !== undefined', 10_000);
    expect(await page.evaluate('window.t.info.transport')).to.equal('sockjs');
    expect(peer.connections.map((c) => c.transport)).to.deep.equal(['sockjs']);
  });

  it("in 'websocket' mode without a usable WebSocket, reports WEBSOCKET_UNAVAILABLE and keeps retrying instead of hanging", async () => {
    await inPage(page, `
      window.OriginalWebSocket = window.WebSocket;
      window.WebSocket = function () { throw new DOMException('blocked by policy', 'SecurityError'); };
      window.relay = lib.createRelayClient({ url: '', transport: 'websocket', login: 'erin',
        reconnect: { initialMs: 10, maxMs: 20 },
        onError: (e) => window.t.errors.push(e.code), onStateChange: (s) => window.t.states.push(s),
        onConnected: (info) => { window.t.info = info; } });`);
    await waitInPage(page, 'window.t.errors.length >= 2');
    expect(await page.evaluate('window.t.errors[0]')).to.equal('WEBSOCKET_UNAVAILABLE');
    expect(await page.evaluate('window.t.states')).to.include('reconnecting');
    // Once the page may open WebSockets again, the next attempt connects.
    await page.evaluate('window.WebSocket = window.OriginalWebSocket');
    await waitInPage(page, 'window.t.info !== undefined', 10_000);
    expect(await page.evaluate('window.t.info.transport')).to.equal('websocket');
    expect(pageErrors.filter((e) => !/blocked by policy/.test(e))).to.deep.equal([]);
  });

  it('stops retrying when static credentials are refused (AUTHENTICATION_FAILED): state closed, the ERROR reported', async () => {
    peer.refusedLogins.add('mallory');
    await inPage(page, `
      window.relay = lib.createRelayClient({ url: '', transport: 'websocket', login: 'mallory', reconnect: { initialMs: 10, maxMs: 20 },
        onStateChange: (s) => window.t.states.push(s), onError: (e) => window.t.errors.push(e.code) });`);
    await waitInPage(page, "window.t.states.includes('closed')");
    expect(await page.evaluate('window.relay.state')).to.equal('closed');
    expect(await page.evaluate('window.t.errors')).to.deep.equal(['AUTHENTICATION_FAILED']);
    // A retry would come within ~20 ms; give it ten times that to show up.
    await page.waitForTimeout(200);
    expect(peer.connections, 'no retry with the same refused credentials').to.have.length(1);
  });

  it('keeps retrying after AUTHENTICATION_FAILED when the token is a function (the next call may give a fresh token)', async () => {
    peer.refusedLogins.add('refresh-me');
    await inPage(page, `
      let n = 0;
      window.relay = lib.createRelayClient({ url: '', transport: 'websocket', login: 'refresh-me', token: async () => 'jwt-' + (++n),
        reconnect: { initialMs: 10, maxMs: 20 } });`);
    await peer.waitFor(() => peer.connections.length >= 3, 5000, 'three attempts');
    expect(await page.evaluate('window.relay.state')).to.not.equal('closed');
  });

  it('does not reconnect a session the relay revoked (SESSION_REVOKED): state closed, the ERROR reported', async () => {
    await inPage(page, `
      window.relay = lib.createRelayClient({ url: '', transport: 'websocket', login: 'banned', token: () => 'jwt', reconnect: { initialMs: 10, maxMs: 20 },
        onStateChange: (s) => window.t.states.push(s), onError: (e) => window.t.errors.push(e.code) });`);
    await waitInPage(page, 'window.relay.connected');
    peer.endSessionsOf('banned', 'SESSION_REVOKED', 'session ended by the server: banned');
    await waitInPage(page, "window.t.states.includes('closed')");
    expect(await page.evaluate('window.t.errors')).to.deep.equal(['SESSION_REVOKED']);
    await page.waitForTimeout(200);
    expect(peer.connections).to.have.length(1);
  });

  it('is closed, and stays closed, when close() is called while waiting to reconnect', async () => {
    await inPage(page, `
      window.relay = lib.createRelayClient({ url: '', transport: 'websocket', login: 'carol', reconnect: { initialMs: 300, maxMs: 300 },
        onStateChange: (s) => window.t.states.push(s) });`);
    await waitInPage(page, 'window.relay.connected');
    peer.acceptWebSocket = false;
    peer.connections[0].drop();
    await waitInPage(page, "window.relay.state === 'reconnecting'");
    await page.evaluate('window.relay.close()');
    expect(await page.evaluate('window.relay.state')).to.equal('closed');
    peer.acceptWebSocket = true;
    await page.waitForTimeout(600);
    expect(await page.evaluate('window.relay.state')).to.equal('closed');
    expect(await page.evaluate('window.t.states.at(-1)')).to.equal('closed');
    expect(peer.connections).to.have.length(1);
  });

  it('close() disconnects and stops reconnecting', async () => {
    await inPage(page, `
      window.relay = lib.createRelayClient({ url: '', transport: 'websocket', reconnect: { initialMs: 10, maxMs: 20 } });`);
    await waitInPage(page, 'window.relay.connected');
    await page.evaluate('window.relay.close()');
    expect(await page.evaluate('window.relay.state')).to.equal('closed');
    expect(peer.connections[0].frames.map((f) => f.command)).to.include('DISCONNECT');
    // Reconnect attempts would come within ~20 ms; give them ten times that to show up.
    await page.waitForTimeout(200);
    expect(peer.connections).to.have.length(1);
  });
});

async function waitInPage(page: Page, condition: string, timeoutMs = 5000): Promise<void> {
  await page.waitForFunction(condition, undefined, { timeout: timeoutMs, polling: 20 });
}

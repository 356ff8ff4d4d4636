/**
 * The demo page (client/demo) in chromium, on the built client, against the scripted STOMP peer:
 * sign-in, chat between two users, a push to one user, and the state shown in the header. The same
 * page against the real relay and nginx is for test/browser/.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { browserUnavailableReason, launchBrowser, type OpenedPage, type TestBrowser } from '../../harness/browser';
import { startScriptedPeer, type ScriptedPeer } from './scripted-stomp-peer';
import { requireTool } from '../../harness/unavailable';

const ROOT = resolve(__dirname, '..', '..', '..');

describe('demo page (chromium, scripted STOMP peer)', function () {
  this.timeout(60_000);
  let browser: TestBrowser;
  let peer: ScriptedPeer;
  const opened: OpenedPage[] = [];

  before(async function () {
    requireTool(this, browserUnavailableReason());
    execFileSync(process.execPath, [resolve(ROOT, 'client', 'build.mjs')], { cwd: ROOT, stdio: 'pipe' });
    browser = await launchBrowser();
    peer = await startScriptedPeer();
  });

  after(async () => {
    for (const o of opened) await o.page.close().catch(() => undefined);
    await peer?.close();
    await browser?.close();
  });

  const byId = (page: Page, testId: string) => page.getByTestId(testId);

  it('shows only the sign-in form before sign-in: the app panels stay hidden', async () => {
    const page = await browser.openPage(`${peer.url}/demo/`);
    try {
      expect(await byId(page.page, 'sign-in').isVisible()).to.equal(true);
      for (const panel of ['chat', 'notifications-card', 'push', 'sign-out']) {
        expect(await byId(page.page, panel).isVisible(), `${panel} before sign-in`).to.equal(false);
      }
    } finally {
      await page.page.close();
    }
  });

  it('signs in through the form and shows state, user, socket instance and page instance', async () => {
    const alice = await browser.openPage(`${peer.url}/demo/`);
    opened.push(alice);
    await byId(alice.page, 'login-name').fill('alice');
    await byId(alice.page, 'login-transport').selectOption('websocket');
    await byId(alice.page, 'login-submit').click();
    await expect(await waitText(alice.page, 'connection-state', 'connected')).to.equal('connected');
    expect(await byId(alice.page, 'user-name').textContent()).to.equal('alice');
    expect(await byId(alice.page, 'server-info').textContent()).to.equal('scripted-peer/1');
    expect(await waitText(alice.page, 'instance-id', 'scripted-peer')).to.equal('scripted-peer');
    expect(await byId(alice.page, 'transport').textContent()).to.equal('websocket');
    // One instance on the embedded broker: the page says how to see pushes cross instances.
    await byId(alice.page, 'cluster-hint').waitFor({ state: 'visible', timeout: 5000 });
    expect(await byId(alice.page, 'cluster-hint').textContent()).to.match(/one instance.*docker compose up/s);
    expect(alice.errors).to.deep.equal([]);
  });

  it('delivers chat from one user to another (here over SockJS) and sends a notification to one user', async () => {
    const bob = await browser.openPage(`${peer.url}/demo/?name=bob&transport=sockjs`);
    opened.push(bob);
    const alice = opened[0];
    await waitText(bob.page, 'connection-state', 'connected');
    expect(await byId(bob.page, 'transport').textContent()).to.equal('sockjs');

    await byId(alice.page, 'chat-input').fill('hello <b>bob</b>');
    await byId(alice.page, 'chat-send').click();
    await bob.page.getByTestId('chat-log').getByText('hello <b>bob</b>').waitFor({ timeout: 5000 });
    expect(await bob.page.locator('[data-testid=chat-log] b').count(), 'message text is not parsed as HTML').to.equal(0);

    await byId(bob.page, 'push-user').fill('alice');
    await byId(bob.page, 'push-text').fill('your report is ready');
    await byId(bob.page, 'push-send').click();
    expect(await waitText(bob.page, 'push-result', 'sent to alice (/user/alice/queue/notifications)')).to.equal('sent to alice (/user/alice/queue/notifications)');
    await alice.page.getByTestId('notifications').getByText('your report is ready').waitFor({ timeout: 5000 });
    expect(await bob.page.getByTestId('notifications').locator('li').count(), 'bob gets no copy').to.equal(0);

    await browser.screenshot(alice.page, 'demo-alice');
    expect([...alice.errors, ...bob.errors]).to.deep.equal([]);
  });

  it('after a reconnect says what the notifications resume recovered, or that the history had a gap', async () => {
    const erin = await browser.openPage(`${peer.url}/demo/?name=erin&transport=websocket`);
    opened.push(erin);
    await waitText(erin.page, 'connection-state', 'connected');
    const notificationsOn = (index: number) => peer.waitFor(() => {
      const c = peer.connections.filter((x) => x.login === 'erin')[index];
      const f = c?.frames.find((x) => x.command === 'SUBSCRIBE' && x.headers.destination === '/user/queue/notifications');
      return f && { c, f };
    }, 5000, `erin's notifications SUBSCRIBE on connection ${index}`);
    const first = await notificationsOn(0);
    const note = (c: typeof first.c, token: string, text: string, extra: Record<string, string> = {}) =>
      c.send('MESSAGE', { destination: '/user/queue/notifications', subscription: first.f.headers.id, 'message-id': token, 'resume-token': token, ...extra }, text);
    note(first.c, 't1', 'first');
    await erin.page.getByTestId('notifications').getByText('first').waitFor({ timeout: 5000 });
    expect(await byId(erin.page, 'resume-note').isVisible(), 'no note before any resume').to.equal(false);

    // Reconnected: the relay replays one notification, then confirms the resumed SUBSCRIBE.
    first.c.drop();
    const second = await notificationsOn(1);
    expect(second.f.headers['resume-from']).to.equal('t1');
    note(second.c, 't2', 'missed while away');
    second.c.send('RECEIPT', { 'receipt-id': second.f.headers.receipt });
    await erin.page.getByTestId('resume-note').getByText('recovered 1 after reconnecting').waitFor({ timeout: 5000 });

    // Reconnected again, and this time the history could not cover it.
    second.c.drop();
    const third = await notificationsOn(2);
    expect(third.f.headers['resume-from']).to.equal('t2');
    third.c.send('MESSAGE', { destination: '/user/queue/notifications', subscription: third.f.headers.id, 'message-id': 'g', 'resume-gap': 'true' }, '');
    third.c.send('RECEIPT', { 'receipt-id': third.f.headers.receipt });
    await erin.page.getByTestId('resume-note').getByText('history gap').waitFor({ timeout: 5000 });
    expect(await byId(erin.page, 'resume-note').getAttribute('data-gap')).to.equal('true');
    expect(await erin.page.getByTestId('notifications').locator('li').allTextContents()).to.have.length(2);
    expect(erin.errors).to.deep.equal([]);
  });

  it('signs out: closes the connection and returns to the sign-in form', async () => {
    const alice = opened[0];
    await byId(alice.page, 'sign-out').click();
    expect(await waitText(alice.page, 'connection-state', 'signed out')).to.equal('signed out');
    expect(await byId(alice.page, 'sign-in').isVisible()).to.equal(true);
    for (const panel of ['chat', 'notifications-card', 'push', 'sign-out']) {
      expect(await byId(alice.page, panel).isVisible(), `${panel} after sign-out`).to.equal(false);
    }
    const aliceConnection = peer.connections.find((c) => c.login === 'alice')!;
    await peer.waitFor(() => aliceConnection.frames.some((f) => f.command === 'DISCONNECT'), 5000, 'DISCONNECT');
  });
});

async function waitText(page: Page, testId: string, text: string): Promise<string> {
  const locator = page.getByTestId(testId);
  await page.waitForFunction(
    ([id, expected]) => document.querySelector(`[data-testid="${id}"]`)?.textContent === expected,
    [testId, text] as const,
    { timeout: 5000 },
  ).catch(async () => {
    throw new Error(`${testId} shows "${await locator.textContent()}", expected "${text}"`);
  });
  return (await locator.textContent()) ?? '';
}

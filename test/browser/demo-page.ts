/**
 * What a person sees on the demo page (client/demo), read through its data-testid attributes, and
 * what a backend does to it (POST /push/:user). Every wait is bounded and names what it waited for.
 */
import { expect } from 'chai';
import type { Page } from 'playwright-core';

/** Waits until the page is connected and returns the instance its socket is on ("Socket on"). */
export async function connectedInstance(page: Page, timeoutMs = 10_000, notOn?: string): Promise<string> {
  await page
    .waitForFunction(
      ([previous]) => {
        const state = document.querySelector('[data-testid="connection-state"]')?.textContent;
        const on = document.querySelector('[data-testid="server-info"]')?.textContent ?? '';
        return state === 'connected' && on !== '' && on !== '—' && on !== previous;
      },
      [notOn ?? null] as const,
      { timeout: timeoutMs },
    )
    .catch(async () => {
      throw new Error(`page not connected${notOn ? ` to an instance other than ${notOn}` : ''} within ${timeoutMs} ms: ${await describe(page)}`);
    });
  return (await page.getByTestId('server-info').textContent()) ?? '';
}

/** Waits until `text` shows up in the list `testId` (`notifications`, `chat-log`). */
export async function waitForLine(page: Page, testId: string, text: string, timeoutMs = 5000): Promise<void> {
  await page
    .getByTestId(testId)
    .getByText(text, { exact: false })
    .waitFor({ timeout: timeoutMs })
    .catch(async () => {
      throw new Error(`"${text}" did not appear in ${testId} within ${timeoutMs} ms: ${await describe(page)}`);
    });
}

/**
 * Waits until the page shows its notifications subscription as live: the relay confirmed it with a
 * RECEIPT (sent once the broker has it), so a push sent from now on arrives.
 */
export async function notificationsLive(page: Page, timeoutMs = 10_000): Promise<void> {
  await page.waitForSelector('[data-testid="notifications-live"][data-active="true"]', { timeout: timeoutMs });
}

/**
 * Sends to the page's own user with the page's send-to-user form and waits for it to arrive: the user's
 * way of seeing that notifications work now (the subscription is live at the broker), so that a
 * push sent next by a backend cannot race the page's SUBSCRIBE.
 */
export async function pushToSelfThroughForm(page: Page, user: string, text: string): Promise<void> {
  await page.getByTestId('push-user').fill(user);
  await page.getByTestId('push-text').fill(text);
  await page.getByTestId('push-send').click();
  await waitForLine(page, 'notifications', text);
}

/** Types `text` into the chat box and sends it. */
export async function sayInChat(page: Page, text: string): Promise<void> {
  await page.getByTestId('chat-input').fill(text);
  await page.getByTestId('chat-send').click();
}

/** What `POST /push/:user` answers: the user and what presence knows of their sessions. */
export interface PushResult {
  user: string;
  sessions: number;
  instances: Array<{ instanceId: string; sessions: number }>;
}

/** What a backend does: `POST {relayUrl}/push/{user}` to /queue/notifications (`relayUrl`: an instance's admin port). */
export async function pushFromBackend(relayUrl: string, user: string, text: string): Promise<PushResult> {
  const res = await fetch(`${relayUrl}/push/${encodeURIComponent(user)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ destination: '/queue/notifications', payload: { from: 'backend', text } }),
    signal: AbortSignal.timeout(5000),
  });
  const body = (await res.json()) as PushResult;
  expect(res.status, `POST ${relayUrl}/push/${user}: ${JSON.stringify(body)}`).to.equal(202);
  return body;
}

/**
 * The page's header and last log lines, for failure messages. A string script: tsx would wrap the
 * helper functions of a closure in `__name(...)`, which does not exist in the page.
 */
const DESCRIBE_SCRIPT = `(() => {
  const text = (id) => document.querySelector('[data-testid="' + id + '"]')?.textContent?.trim();
  const lines = (id) => [...document.querySelectorAll('[data-testid="' + id + '"] li')].slice(-6).map((li) => li.textContent);
  return JSON.stringify({
    state: text('connection-state'), socketOn: text('server-info'), pageFrom: text('instance-id'),
    transport: text('transport'), chat: lines('chat-log'), notifications: lines('notifications'), push: text('push-result'),
  });
})()`;

export async function describe(page: Page): Promise<string> {
  return page.evaluate<string>(DESCRIBE_SCRIPT).catch((err: Error) => `(page unreadable: ${err.message})`);
}

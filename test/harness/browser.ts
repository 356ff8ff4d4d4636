/**
 * Headless Debian chromium for browser tests, driven by playwright-core (which never downloads a
 * browser of its own). Each launch gets a fresh temporary profile, removed on close.
 *
 * ```ts
 * const browser = await launchBrowser();
 * const page = await browser.openPage(`${server.url}/`);
 * await browser.screenshot(page, 'demo-connected');
 * await browser.close();
 * ```
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core';

/** Where Debian's `chromium` package puts the browser. `CHROMIUM_PATH` overrides it. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Flags for a quiet, sandbox-less headless chromium in a container or CI (see shared/README). */
export const CHROMIUM_FLAGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** Screenshots land here (repository root), for README images and for debugging failed runs. */
export const ARTIFACTS_DIR = resolve(__dirname, '..', '..', 'test-artifacts');

/** Why browser tests cannot run here, or undefined if they can. Suites pass it to requireTool (unavailable.ts). */
export function browserUnavailableReason(): string | undefined {
  if (!existsSync(CHROMIUM_PATH)) return `no chromium at ${CHROMIUM_PATH} (apt-get install -y chromium)`;
  return undefined;
}

/** A page plus what it reported: console errors and uncaught exceptions fail most tests. */
export interface OpenedPage {
  page: Page;
  /** `console.error` lines and uncaught exceptions, in order. */
  errors: string[];
  /** Every console line, `type: text`. */
  console: string[];
}

export interface TestBrowser {
  readonly context: BrowserContext;
  /** Opens a new tab at `url` and waits for its `load` event. */
  openPage(url: string): Promise<OpenedPage>;
  /** Saves a PNG of the page to test-artifacts/<name>.png; returns the path. */
  screenshot(page: Page, name: string): Promise<string>;
  /** Closes the browser and deletes its profile. */
  close(): Promise<void>;
}

/** Launches chromium with a new temporary user-data-dir. */
export async function launchBrowser(options: { viewport?: { width: number; height: number } } = {}): Promise<TestBrowser> {
  const reason = browserUnavailableReason();
  if (reason) throw new Error(reason);
  const profile = await mkdtemp(join(tmpdir(), 'stomp-relay-chromium-'));
  let context: BrowserContext;
  try {
    // A persistent context is how playwright accepts a user-data-dir (it refuses --user-data-dir in args).
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      args: [...CHROMIUM_FLAGS],
      headless: true,
      viewport: options.viewport ?? { width: 1200, height: 800 },
      timeout: 30_000,
    });
  } catch (err) {
    await rm(profile, { recursive: true, force: true });
    throw err;
  }

  return {
    context,
    async openPage(url) {
      const page = await context.newPage();
      const errors: string[] = [];
      const lines: string[] = [];
      page.on('console', (m: ConsoleMessage) => {
        lines.push(`${m.type()}: ${m.text()}`);
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e: Error) => errors.push(`uncaught: ${e.message}`));
      await page.goto(url, { waitUntil: 'load' });
      return { page, errors, console: lines };
    },
    async screenshot(page, name) {
      await mkdir(ARTIFACTS_DIR, { recursive: true });
      const path = join(ARTIFACTS_DIR, `${name.replace(/[^\w.-]+/g, '_')}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
    async close() {
      try {
        await context.close();
      } finally {
        await rm(profile, { recursive: true, force: true });
      }
    },
  };
}

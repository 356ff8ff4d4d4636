/**
 * `/client/*` over real HTTP: each file with a content type a browser and TypeScript tooling accept
 * (the `.d.ts` once went out as `video/mp2t`), and with the CORS headers that let a page on another
 * origin import the library; then, in chromium, a page on a second local origin does import it from
 * the relay and connects with it. Needs `npm run build` (dist/client).
 */
import { requireTool } from '../../harness/unavailable';
import { expect } from 'chai';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { browserUnavailableReason, launchBrowser, type TestBrowser } from '../../harness/browser';
import { request, startRelay, type TestRelay } from '../../harness/stomp-test-kit';

/** Every kind of file the relay serves under /client, with the content type it must carry. */
const FILES: ReadonlyArray<readonly [path: string, type: RegExp]> = [
  ['/client/stomp-relay-client.js', /^text\/javascript; charset=utf-8$/],
  ['/client/stomp-relay-client.js.map', /^application\/json(; charset=utf-8)?$/],
  ['/client/stomp-relay-client.d.ts', /^(application\/typescript|text\/plain)(; charset=utf-8)?$/],
  ['/client/types/index.d.ts', /^(application\/typescript|text\/plain)(; charset=utf-8)?$/],
  ['/client/sockjs.min.js', /^text\/javascript; charset=utf-8$/],
];

describe('server: /client files (content types, CORS, cross-origin import)', function () {
  let server: TestRelay;

  before(async () => { server = await startRelay(); });
  after(async () => { await server.close(); });

  for (const [path, type] of FILES) {
    it(`serves ${path} as ${type.source.replace(/[\\^$]/g, '')}, loadable from any origin`, async () => {
      const res = await request(`${server.http}${path}`, { headers: { origin: 'http://app.example' } });
      expect(res.status, `${path} missing: run \`npm run build\``).to.equal(200);
      expect(res.headers.get('content-type')).to.match(type);
      expect(res.headers.get('access-control-allow-origin')).to.equal('*');
      expect(res.headers.get('cross-origin-resource-policy')).to.equal('cross-origin');
      expect(res.headers.get('x-content-type-options')).to.equal('nosniff');
    });
  }

  it('serves a source map that is JSON and a .d.ts that is the declarations, not something else', async () => {
    const map = await request(`${server.http}/client/stomp-relay-client.js.map`);
    expect(map.body?.version).to.equal(3);
    const types = await request(`${server.http}/client/stomp-relay-client.d.ts`);
    expect(types.text).to.match(/^export \* from '\.\/types\/index\.js';/);
    const index = await request(`${server.http}/client/types/index.d.ts`);
    expect(index.text).to.include('createRelayClient');
  });

  describe('imported by a page on another origin (chromium)', function () {
    this.timeout(60_000);
    let browser: TestBrowser;
    let page: Server;
    let pageOrigin: string;

    before(async function () {
      const reason = browserUnavailableReason();
      requireTool(this, reason);
      // The other origin: a second local server (another port is another origin) with a blank page.
      page = createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end('<!doctype html><title>app</title><p>app page</p>');
      });
      page.listen(0, '127.0.0.1');
      await once(page, 'listening');
      pageOrigin = `http://127.0.0.1:${(page.address() as AddressInfo).port}`;
      browser = await launchBrowser();
    });

    after(async () => {
      await browser?.close();
      if (page?.listening) await new Promise((r) => page.close(r));
    });

    it('import()s /client/stomp-relay-client.js from the relay and connects to it with the client', async () => {
      const opened = await browser.openPage(`${pageOrigin}/`);
      expect(await opened.page.evaluate('location.origin')).to.equal(pageOrigin);
      expect(pageOrigin).to.not.equal(server.http);
      const exported = await opened.page.evaluate(`(async () => {
        const lib = await import(${JSON.stringify(`${server.http}/client/stomp-relay-client.js`)});
        window.connected = new Promise((resolve, reject) => {
          window.relay = lib.createRelayClient({ url: ${JSON.stringify(server.http)}, transport: 'websocket', login: 'carol',
            onConnected: resolve, onError: (e) => reject(new Error(e.code + ': ' + e.message)) });
        });
        return Object.keys(lib).sort();
      })()`);
      expect(exported).to.include('createRelayClient');
      const info = await opened.page.evaluate('window.connected.then((i) => ({ userName: i.userName, transport: i.transport }))');
      expect(info).to.deep.equal({ userName: 'carol', transport: 'websocket' });
      await opened.page.evaluate('window.relay.close()');
      expect(opened.errors, 'no console errors (a CORS refusal logs one)').to.deep.equal([]);
      await opened.page.close();
    });
  });
});

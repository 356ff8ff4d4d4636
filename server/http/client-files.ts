/**
 * The static files under `/client/`: the browser client library (built by client/build.mjs), its
 * types and source map, and sockjs-client for SockJS's iframe transports. They are public code, so
 * any origin may load them: a page on app.example.com can `import()` the library from the relay's
 * own origin (module scripts are fetched with CORS, hence Access-Control-Allow-Origin; and
 * Cross-Origin-Resource-Policy lets pages that set Cross-Origin-Embedder-Policy use them too).
 */
import type { ServerResponse } from 'node:http';
import express, { type RequestHandler } from 'express';

/**
 * Content types by file ending, for the endings whose default is wrong or unusable here: `.ts`
 * would go out as `video/mp2t` (MPEG transport stream), and module scripts need a JavaScript type.
 * Longest ending first.
 */
const CONTENT_TYPES: ReadonlyArray<readonly [ending: string, type: string]> = [
  ['.d.ts', 'application/typescript; charset=utf-8'],
  ['.ts', 'application/typescript; charset=utf-8'],
  ['.mjs', 'text/javascript; charset=utf-8'],
  ['.js', 'text/javascript; charset=utf-8'],
  ['.map', 'application/json; charset=utf-8'],
  ['.txt', 'text/plain; charset=utf-8'],
];

/** The content type the relay gives a client file, or undefined to leave it to express's default. */
export function clientFileContentType(path: string): string | undefined {
  return CONTENT_TYPES.find(([ending]) => path.endsWith(ending))?.[1];
}

function setClientFileHeaders(res: ServerResponse, path: string): void {
  const type = clientFileContentType(path);
  if (type) res.setHeader('Content-Type', type);
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Cross-Origin-Resource-Policy', 'cross-origin');
  res.setHeader('X-Content-Type-Options', 'nosniff');
}

/** Serves `dir` (dist/client) for mounting at `/client`; a missing file is a JSON 404 (fallthrough off). */
export function clientFiles(dir: string): RequestHandler {
  return express.static(dir, { fallthrough: false, maxAge: '1h', setHeaders: setClientFileHeaders });
}

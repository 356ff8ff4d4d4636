/**
 * The HTTP API's body-taking routes (`POST /push/:user`, `POST /push`, `POST /publish`) answered
 * straight from node's `request` event, in front of express, on a server the relay owns
 * (`relay.listen()`: the public server, or the admin server with ADMIN_PORT). A push then costs
 * what the relay does with it, not express's routing, its request/response prototypes and nested
 * routers, which were most of a push's CPU (docs/benchmarks.md).
 *
 * Nothing here is a second implementation: each route is the {@link JsonRoute} express serves too,
 * behind the same authentication middleware (api-auth.ts), the same body reader (message-body.ts),
 * the same error answers (errors.ts) and the same request metrics (http-metrics.ts); express and
 * this file are two ways of dispatching to them.
 *
 * Why only where the relay owns the server: an embedded relay's routes sit inside a host
 * application, whose own middleware (logging, CORS, sessions a passport strategy reads, rate
 * limits) must see every request; answering before express would skip it. So `relay.router` and
 * `relay.adminRouter` stay plain express, and a relay given a host's passport strategy (`pushAuth`)
 * keeps express even under `listen()`, since such strategies may read what express adds to a
 * request (`req.query`, `req.get()`...).
 *
 * Anything that is not plainly one of these routes goes on to express, which then answers exactly
 * as before: another method, a path express would match only loosely (other letter case, a
 * trailing slash) or could not decode (a bad `%` escape). Gzip and other charsets are handled by
 * the same body reader as on express (body-parser, which needs no express either).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../observability/logger';
import type { ApiAuth } from './api-auth';
import { answerError } from './errors';
import type { HttpRequestMeter } from './http-metrics';
import type { JsonRoute } from './json-route';
import { jsonBody, sendJson } from './message-body';

/** A connect-style step on node's own request and response (what the middleware used here need). */
type Step = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

export interface DirectRoutesDeps {
  routes: readonly JsonRoute[];
  /** The relay's own API authentication (JWT scopes, or none in dev mode). */
  auth: ApiAuth;
  /** Largest JSON body accepted (bytes). */
  maxBodyBytes: number;
  /** Path the routes are under on this server ('' for the root; the library's `httpPrefix`). */
  prefix: string;
  meter: HttpRequestMeter;
  logger: Logger;
}

interface CompiledRoute {
  route: JsonRoute;
  /** The route's segments after the prefix: literal names, or `:name` for a parameter. */
  segments: readonly string[];
  authenticate: Step;
}

/** Answers the routes it was given for requests that plainly match them; see the file comment. */
export class DirectRoutes {
  private readonly routes: readonly CompiledRoute[];
  private readonly readBody: Step;

  constructor(private readonly deps: DirectRoutesDeps) {
    // The middleware are express-typed but use only node's request and response (passport and
    // body-parser are connect middleware; ours read headers and the stream), so they run here as they are.
    this.routes = deps.routes.map((route) => ({
      route,
      segments: route.path.split('/').slice(1),
      authenticate: deps.auth(...route.scopes) as unknown as Step,
    }));
    this.readBody = jsonBody(deps.maxBodyBytes) as unknown as Step;
  }

  /** Takes `req` when it is a POST to one of the routes (true), or leaves it to the next listener (false). */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.method !== 'POST') return false;
    const matched = this.match(req.url ?? '');
    if (matched === undefined) return false;
    void this.serve(matched.compiled, matched.params, req, res);
    return true;
  }

  private match(url: string): { compiled: CompiledRoute; params: Record<string, string> } | undefined {
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    const { prefix } = this.deps;
    if (!path.startsWith(prefix + '/')) return undefined;
    const parts = path.slice(prefix.length + 1).split('/');
    for (const compiled of this.routes) {
      const params = paramsOf(compiled.segments, parts);
      if (params !== undefined) return { compiled, params };
    }
    return undefined;
  }

  private async serve(compiled: CompiledRoute, params: Record<string, string>, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { route } = compiled;
    this.deps.meter.measure(req, res, () => route.path);
    try {
      await step(compiled.authenticate, req, res);
      await step(this.readBody, req, res);
      const { status, body } = await route.answer(params, (req as { body?: unknown }).body);
      sendJson(res, status, body);
    } catch (err) {
      if (res.headersSent) res.destroy();
      else answerError(res, err, () => `${req.method} ${route.path}`, this.deps.logger);
    }
  }
}

/** The decoded parameters when `parts` match `segments` exactly (case and all), else undefined. */
function paramsOf(segments: readonly string[], parts: readonly string[]): Record<string, string> | undefined {
  if (parts.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i];
    const part = parts[i];
    if (segment[0] !== ':') {
      if (part !== segment) return undefined;
      continue;
    }
    if (part === '') return undefined;
    try {
      params[segment.slice(1)] = decodeURIComponent(part);
    } catch {
      return undefined; // express answers what it cannot decode
    }
  }
  return params;
}

/** Runs one middleware; resolves when it calls `next()`, rejects with what it passes to `next(err)`. */
function step(run: Step, req: IncomingMessage, res: ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => run(req, res, (err) => (err === undefined || err === null ? resolve() : reject(err))));
}

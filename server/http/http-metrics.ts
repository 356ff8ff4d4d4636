/**
 * HTTP request metrics: `stomp_relay_http_requests_total` and
 * `stomp_relay_http_request_duration_seconds` by method, route template and status. The route
 * label is the express route as declared (`/push/:user`, never the user name, so the label set
 * stays small), `/client/*` for the client files, `(static)` for the demo page's files and
 * `(unmatched)` for everything else.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, RequestHandler } from 'express';
import type { RelayMetrics } from '../observability/metrics';

/**
 * Counts requests and their durations by method, route label and status. One per relay, shared by
 * the express middleware ({@link httpMetrics}) and the direct routes (direct-routes.ts), so both
 * feed the same labelled children.
 */
export class HttpRequestMeter {
  // One pair of labelled children per (method, route, status): prom-client would otherwise hash the
  // label object twice per request, a visible share of a push's CPU. The set stays small (route
  // templates, not paths).
  private readonly children = new Map<string, { count: { inc(): void }; duration: { observe(value: number): void } }>();

  constructor(private readonly metrics: RelayMetrics) {}

  /** Counts `req` once `res` finished, under the route label `routeOf` gives for the final status. */
  measure(req: IncomingMessage, res: ServerResponse, routeOf: (status: number) => string): void {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const pair = this.childrenOf(req.method ?? '', routeOf(res.statusCode), String(res.statusCode));
      pair.count.inc();
      pair.duration.observe(Number(process.hrtime.bigint() - started) / 1e9);
    });
  }

  private childrenOf(method: string, route: string, status: string) {
    const key = `${method} ${status} ${route}`;
    let pair = this.children.get(key);
    if (pair === undefined) {
      const labels = { method, route, status_code: status };
      pair = { count: this.metrics.httpRequests.labels(labels), duration: this.metrics.httpDuration.labels(labels) };
      this.children.set(key, pair);
    }
    return pair;
  }
}

/**
 * One middleware to put first in each of the relay's routers. A request passes through several of
 * them when routers are nested (`relay.router` holds both halves); it is measured once.
 */
export function httpMetrics(meter: HttpRequestMeter): RequestHandler {
  const measured = new WeakSet<Request>();
  return (req, res, next) => {
    if (measured.has(req)) return next();
    measured.add(req);
    meter.measure(req, res, (status) => routeLabel(req, status));
    next();
  };
}

function routeLabel(req: Request, status: number): string {
  const route = (req.route as { path?: unknown } | undefined)?.path;
  if (typeof route === 'string') return route;
  const path = req.originalUrl.split('?')[0];
  if (path.startsWith('/client/')) return '/client/*';
  return status < 400 ? '(static)' : '(unmatched)';
}

/**
 * HTTP request metrics: `stomp_relay_http_requests_total` and
 * `stomp_relay_http_request_duration_seconds` by method, route template and status. The route
 * label is the express route as declared (`/push/:user`, never the user name, so the label set
 * stays small), `/client/*` for the client files, `(static)` for the demo page's files and
 * `(unmatched)` for everything else.
 */
import type { Request, RequestHandler } from 'express';
import type { RelayMetrics } from '../observability/metrics';

/**
 * One middleware to put first in each of the relay's routers. A request passes through several of
 * them when routers are nested (`relay.router` holds both halves); it is measured once.
 */
export function httpMetrics(metrics: RelayMetrics): RequestHandler {
  const measured = new WeakSet<Request>();
  // One pair of labelled children per (method, route, status): prom-client would otherwise hash the
  // label object twice per request, a visible share of a push's CPU. The set stays small (route
  // templates, not paths).
  const children = new Map<string, { count: { inc(): void }; duration: { observe(value: number): void } }>();
  const childrenOf = (method: string, route: string, status: string) => {
    const key = `${method} ${status} ${route}`;
    let pair = children.get(key);
    if (pair === undefined) {
      const labels = { method, route, status_code: status };
      pair = { count: metrics.httpRequests.labels(labels), duration: metrics.httpDuration.labels(labels) };
      children.set(key, pair);
    }
    return pair;
  };
  return (req, res, next) => {
    if (measured.has(req)) return next();
    measured.add(req);
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const pair = childrenOf(req.method, routeLabel(req, res.statusCode), String(res.statusCode));
      pair.count.inc();
      pair.duration.observe(Number(process.hrtime.bigint() - started) / 1e9);
    });
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

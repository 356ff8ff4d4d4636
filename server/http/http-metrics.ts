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
  return (req, res, next) => {
    if (measured.has(req)) return next();
    measured.add(req);
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const labels = { method: req.method, route: routeLabel(req, res.statusCode), status_code: String(res.statusCode) };
      metrics.httpRequests.inc(labels);
      metrics.httpDuration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
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

/** HTTP side of the error catalogue: every API error is JSON `{ error: { code, message } }`. */
import type { ErrorRequestHandler, Response } from 'express';
import { Errors, type RelayError, isRelayError, relayError } from '../errors';
import type { Logger } from '../observability/logger';

export function sendError(res: Response, err: RelayError): void {
  res.status(err.status ?? 500).json({ error: { code: err.code, message: err.message } });
}

/**
 * Last middleware: turns anything thrown into a JSON error; never leaks a stack trace or an internal
 * message (file paths from static files, parser internals): only the catalogue's own texts go out.
 */
export function errorMiddleware(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    if (isRelayError(err)) return sendError(res, err);
    // body-parser, serve-static and router errors carry `status` and, for body-parser, `type`.
    const e = err as { status?: number; type?: string; limit?: number };
    if (e.type === 'entity.too.large') return sendError(res, relayError(Errors.PAYLOAD_TOO_LARGE, e.limit ?? 0));
    if (e.type === 'entity.parse.failed') return sendError(res, relayError(Errors.BAD_REQUEST, 'body is not valid JSON'));
    if (e.status === 404) return sendError(res, relayError(Errors.NOT_FOUND, `${req.method} ${req.path}`));
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      const generic = relayError(Errors.BAD_REQUEST, e.type ? e.type.replace(/\./g, ' ') : 'malformed request');
      res.status(e.status).json({ error: { code: generic.code, message: generic.message } });
      return;
    }
    logger.error({ err }, 'unhandled error in HTTP handler');
    res.status(500).json({ error: { code: Errors.INTERNAL_ERROR.code, message: 'internal error' } });
  };
}

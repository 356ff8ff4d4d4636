/** HTTP side of the error catalogue: every API error is JSON `{ error: { code, message } }`. */
import type { ErrorRequestHandler, Response } from 'express';
import { Errors, RelayError, isRelayError, relayError } from '../errors';
import type { Logger } from '../observability/logger';

export function sendError(res: Response, err: RelayError): void {
  res.status(err.status ?? 500).json({ error: { code: err.code, message: err.message } });
}

/** Last middleware: turns anything thrown into a JSON error; never leaks a stack trace. */
export function errorMiddleware(logger: Logger): ErrorRequestHandler {
  return (err, _req, res, _next) => {
    if (isRelayError(err)) return sendError(res, err);
    // body-parser errors carry `status` and `type`.
    const e = err as { status?: number; type?: string; limit?: number; message?: string };
    if (e.type === 'entity.too.large') return sendError(res, relayError(Errors.PAYLOAD_TOO_LARGE, e.limit ?? 0));
    if (e.type === 'entity.parse.failed') return sendError(res, relayError(Errors.BAD_REQUEST, 'body is not valid JSON'));
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      return sendError(res, relayError(Errors.BAD_REQUEST, e.message ?? 'malformed request'));
    }
    logger.error({ err }, 'unhandled error in HTTP handler');
    res.status(500).json({ error: { code: 'INTERNAL', message: 'internal error' } });
  };
}

/** HTTP side of the error catalogue: every API error is JSON `{ error: { code, message } }`. */
import type { ServerResponse } from 'node:http';
import type { ErrorRequestHandler } from 'express';
import { Errors, type RelayError, isRelayError, relayError } from '../errors';
import type { Logger } from '../observability/logger';
import { sendJson } from './message-body';

/**
 * Answers `err` as JSON with its status (500 without one). Written with node's own response
 * methods, so express's routes and the direct routes (direct-routes.ts) answer byte for byte alike.
 */
export function sendError(res: ServerResponse, err: RelayError): void {
  writeJsonError(res, err.status ?? 500, err.code, err.message);
}

/**
 * Last middleware: turns anything thrown into a JSON error; never leaks a stack trace or an internal
 * message (file paths from static files, parser internals): only the catalogue's own texts go out.
 */
export function errorMiddleware(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    answerError(res, err, () => `${req.method} ${req.path}`, logger);
  };
}

/**
 * Answers whatever a route or middleware failed with (see {@link errorMiddleware}): `request`
 * names the request in a NOT_FOUND message, `logger` takes what is not one of ours.
 */
export function answerError(res: ServerResponse, err: unknown, request: () => string, logger: Logger): void {
  if (isRelayError(err)) return sendError(res, err);
  // body-parser, serve-static and router errors carry `status` and, for body-parser, `type`.
  const e = err as { status?: number; type?: string; limit?: number };
  if (e.type === 'entity.too.large') return sendError(res, relayError(Errors.PAYLOAD_TOO_LARGE, e.limit ?? 0));
  if (e.type === 'entity.parse.failed') return sendError(res, relayError(Errors.BAD_REQUEST, 'body is not valid JSON'));
  if (e.status === 404) return sendError(res, relayError(Errors.NOT_FOUND, request()));
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
    const generic = relayError(Errors.BAD_REQUEST, e.type ? e.type.replace(/\./g, ' ') : 'malformed request');
    return writeJsonError(res, e.status, generic.code, generic.message);
  }
  logger.error({ err }, 'unhandled error in HTTP handler');
  writeJsonError(res, 500, Errors.INTERNAL_ERROR.code, 'internal error');
}

function writeJsonError(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { error: { code, message } });
}

/**
 * The JSON bodies of the HTTP API: a body parser with the relay's size limit, and the checks every
 * route that sends a message shares (`destination`, `payload`, `headers`), so each answers bad
 * shapes with the same 400 texts.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import express, { type RequestHandler } from 'express';
import { Errors, relayError } from '../errors';
import type { Payload } from '../user/user-messaging';

/**
 * A JSON body of at most `maxBytes`, whatever the content type (curl's default included), as
 * `req.body`. The usual request (UTF-8, no content-encoding) is read here in one pass: body-parser
 * costs a push more CPU than everything the relay does with it. Anything else (gzip, another
 * charset) goes to body-parser, whose answers (413, 400, 415) the error middleware renders.
 */
export function jsonBody(maxBytes: number): RequestHandler {
  const general = express.json({ limit: maxBytes, strict: false, type: () => true });
  return (req, res, next) => {
    if (req.body !== undefined || !isPlainUtf8(req.headers)) return general(req, res, next);
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > maxBytes) return next(relayError(Errors.PAYLOAD_TOO_LARGE, maxBytes));
    const chunks: Buffer[] = [];
    let length = 0;
    let failed = false;
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      req.removeListener('data', onData);
      req.resume(); // drain what is left so the connection can be reused
      next(err);
    };
    const onData = (chunk: Buffer) => {
      length += chunk.length;
      if (length > maxBytes) fail(relayError(Errors.PAYLOAD_TOO_LARGE, maxBytes));
      else chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('error', (err) => fail(relayError(Errors.BAD_REQUEST, `request body not received (${err.message})`)));
    req.once('end', () => {
      if (failed) return;
      const text = (chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, length)).toString('utf8');
      if (text.trim() === '') {
        req.body = {}; // as body-parser: an empty body is an empty object
        return next();
      }
      try {
        req.body = JSON.parse(text);
      } catch {
        return fail(relayError(Errors.BAD_REQUEST, 'body is not valid JSON'));
      }
      next();
    });
  };
}

/** No content-encoding, and a charset (if any) of UTF-8: what {@link jsonBody} reads itself. */
function isPlainUtf8(headers: IncomingHttpHeaders): boolean {
  const encoding = headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return false;
  const type = headers['content-type'];
  if (type === undefined) return true;
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(type);
  return charset === null || charset[1].toLowerCase() === 'utf-8' || charset[1].toLowerCase() === 'utf8';
}

/**
 * Answers `status` with `body` as JSON, without express's `res.json` detour (etag, freshness,
 * content-type negotiation) on the hot routes.
 */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** What a message-sending route was asked to send. */
export interface MessageBody {
  destination: string;
  payload: Payload;
  headers: Record<string, string | number | boolean> | undefined;
}

/** The body as an object; BAD_REQUEST when it is anything else, `example` says what is expected. */
export function bodyObject(body: unknown, example: string): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw relayError(Errors.BAD_REQUEST, `body must be a JSON object ${example}`);
  }
  return body as Record<string, unknown>;
}

/**
 * Reads `destination`, `payload` and `headers` of a body object, BAD_REQUEST naming the field that
 * is wrong. Header names and values are checked where they are copied (copyApplicationHeaders).
 */
export function readMessage(body: Record<string, unknown>, destinationExample: string): MessageBody {
  const { destination, payload, headers } = body;
  if (typeof destination !== 'string')
    throw relayError(Errors.BAD_REQUEST, `"destination" must be a string such as "${destinationExample}"`);
  if (payload === undefined) throw relayError(Errors.BAD_REQUEST, '"payload" is required (JSON value or string)');
  if (headers !== undefined && (typeof headers !== 'object' || headers === null || Array.isArray(headers))) {
    throw relayError(Errors.BAD_REQUEST, '"headers" must be an object of strings');
  }
  return { destination, payload: payload as Payload, headers: headers as MessageBody['headers'] };
}

/** {@link readMessage} of a body that holds only the message (`POST /push/:user`, `POST /publish`). */
export function readMessageBody(body: unknown, destinationExample: string): MessageBody {
  return readMessage(bodyObject(body, `{"destination": "${destinationExample}", "payload": ...}`), destinationExample);
}

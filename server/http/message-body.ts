/**
 * The JSON bodies of the HTTP API: a body parser with the relay's size limit, and the checks every
 * route that sends a message shares (`destination`, `payload`, `headers`), so each answers bad
 * shapes with the same 400 texts.
 */
import express, { type RequestHandler } from 'express';
import { Errors, relayError } from '../errors';
import type { Payload } from '../user/user-messaging';

/** A JSON body of at most `maxBytes`, whatever the content type (curl's default included). */
export function jsonBody(maxBytes: number): RequestHandler {
  return express.json({ limit: maxBytes, strict: false, type: () => true });
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
  if (typeof destination !== 'string') throw relayError(Errors.BAD_REQUEST, `"destination" must be a string such as "${destinationExample}"`);
  if (payload === undefined) throw relayError(Errors.BAD_REQUEST, '"payload" is required (JSON value or string)');
  if (headers !== undefined && (typeof headers !== 'object' || headers === null || Array.isArray(headers))) {
    throw relayError(Errors.BAD_REQUEST, '"headers" must be an object of strings');
  }
  return { destination, payload: payload as Payload, headers: headers as MessageBody['headers'] };
}

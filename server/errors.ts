/**
 * One catalogue of every error the relay reports to a peer or an operator.
 *
 * Each entry has a stable `code` (never renamed: clients and dashboards match on it), a message
 * template with `%s` placeholders, and where it surfaces over HTTP, the status to answer with.
 * STOMP errors go out as an `ERROR` frame whose `message` header is the rendered message and whose
 * `code` header is the code. docs/protocol.md lists exactly these codes (a test keeps them in step).
 */

/** One entry of the {@link Errors} catalogue. */
export interface ErrorDefinition {
  /** The stable code (`ERROR` frame `code` header, HTTP `error.code`). */
  readonly code: string;
  /** The message, with `%s` placeholders for the details. */
  readonly template: string;
  /** HTTP status, for errors that can surface on the HTTP API. */
  readonly status?: number;
}

function def<C extends string>(code: C, template: string, status?: number): ErrorDefinition & { readonly code: C } {
  return Object.freeze({ code, template, status });
}

/**
 * The catalogue's keys are its codes: the compiler refuses an entry whose `code` differs from its
 * key (a test checks the same at run time), so `Errors.X.code === 'X'` always.
 */
function keyedByCode<T extends { readonly [K in keyof T]: ErrorDefinition & { readonly code: K } }>(entries: T): Readonly<T> {
  return Object.freeze(entries);
}

/**
 * The catalogue of every error the relay reports, by code (module comment above; docs/protocol.md lists them all). Each entry is its own
 * code, message template and HTTP status.
 */
export const Errors = keyedByCode({
  // --- STOMP codec: malformed input ---
  FRAME_TOO_LARGE: def('FRAME_TOO_LARGE', 'frame exceeds the limit of %s bytes'),
  TOO_MANY_HEADERS: def('TOO_MANY_HEADERS', 'frame has more than %s headers'),
  HEADER_LINE_TOO_LONG: def('HEADER_LINE_TOO_LONG', 'header line exceeds the limit of %s bytes'),
  HEADER_WITHOUT_COLON: def('HEADER_WITHOUT_COLON', 'header line has no colon: %s'),
  INVALID_ESCAPE: def('INVALID_ESCAPE', 'header has an invalid escape sequence: %s'),
  INVALID_CONTENT_LENGTH: def('INVALID_CONTENT_LENGTH', 'content-length is not a non-negative integer: %s'),
  BODY_LONGER_THAN_CONTENT_LENGTH: def(
    'BODY_LONGER_THAN_CONTENT_LENGTH',
    'frame body does not end with NUL where content-length says it does',
  ),
  INVALID_COMMAND: def('INVALID_COMMAND', 'not a STOMP command line: %s'),
  INVALID_UTF8: def('INVALID_UTF8', 'frame command or headers are not valid UTF-8'),

  // --- transport ---
  MESSAGE_TOO_LARGE: def(
    'MESSAGE_TOO_LARGE',
    'WebSocket message exceeds the limit of %s bytes (one message may hold several frames; split them across messages)',
  ),

  // --- STOMP session: protocol misuse ---
  UNKNOWN_COMMAND: def('UNKNOWN_COMMAND', 'unknown STOMP command: %s'),
  NOT_CONNECTED: def('NOT_CONNECTED', 'expected CONNECT or STOMP as the first frame, got %s'),
  ALREADY_CONNECTED: def('ALREADY_CONNECTED', 'session is already connected'),
  UNSUPPORTED_VERSION: def('UNSUPPORTED_VERSION', 'no supported STOMP version in accept-version: %s (supported: 1.0,1.1,1.2)'),
  MISSING_HEADER: def('MISSING_HEADER', '%s frame requires the %s header'),
  INVALID_HEADER: def('INVALID_HEADER', 'invalid %s header: %s'),
  DUPLICATE_SUBSCRIPTION: def('DUPLICATE_SUBSCRIPTION', 'subscription id %s is already in use'),
  UNKNOWN_SUBSCRIPTION: def('UNKNOWN_SUBSCRIPTION', 'no subscription with id %s'),
  TOO_MANY_SUBSCRIPTIONS: def('TOO_MANY_SUBSCRIPTIONS', 'session exceeds the limit of %s subscriptions'),
  UNKNOWN_TRANSACTION: def('UNKNOWN_TRANSACTION', 'no transaction with id %s'),
  DUPLICATE_TRANSACTION: def('DUPLICATE_TRANSACTION', 'transaction %s is already in progress'),
  TRANSACTION_TOO_LARGE: def('TRANSACTION_TOO_LARGE', 'transaction %s exceeds the limit of %s frames'),
  TOO_MANY_TRANSACTIONS: def('TOO_MANY_TRANSACTIONS', 'session exceeds the limit of %s open transactions'),
  UNKNOWN_ACK: def('UNKNOWN_ACK', 'no unacknowledged message with id %s'),
  DESTINATION_NOT_ALLOWED: def('DESTINATION_NOT_ALLOWED', 'destination not allowed: %s', 403),
  ACCESS_DENIED: def('ACCESS_DENIED', 'access denied: %s'),

  // --- application handlers: reported on the sender's error destination, the session stays ---
  NO_HANDLER: def('NO_HANDLER', 'no application handler for %s'),
  HANDLER_ERROR: def('HANDLER_ERROR', 'the handler for %s failed (see the server log)'),

  TOKEN_EXPIRED: def('TOKEN_EXPIRED', 'the token that authenticated this session expired at %s; reconnect with a fresh token'),
  HEARTBEAT_TIMEOUT: def('HEARTBEAT_TIMEOUT', 'no data from client for %s ms (heart-beat grace period)'),
  SLOW_CONSUMER: def('SLOW_CONSUMER', 'session outbound buffer exceeds %s bytes; client is too slow'),
  NOT_UTF8_ON_TEXT_TRANSPORT: def('NOT_UTF8_ON_TEXT_TRANSPORT', 'message body is not valid UTF-8 and this transport carries only text'),
  SHUTTING_DOWN: def('SHUTTING_DOWN', 'server is shutting down; reconnect to another instance'),
  SESSION_REVOKED: def('SESSION_REVOKED', 'session ended by the server: %s'),
  INTERNAL_ERROR: def('INTERNAL_ERROR', 'internal error: %s', 500),

  // --- broker ---
  BROKER_UNAVAILABLE: def('BROKER_UNAVAILABLE', 'message broker is unavailable: %s', 503),
  BROKER_ERROR: def('BROKER_ERROR', 'message broker reported an error: %s', 502),
  AUTHENTICATION_FAILED: def('AUTHENTICATION_FAILED', 'authentication failed: %s', 401),
  NO_ROUTE: def('NO_ROUTE', 'no subscription takes messages for %s', 404),
  NOT_DELIVERED: def('NOT_DELIVERED', 'not delivered: %s', 503),

  // --- HTTP API ---
  BAD_REQUEST: def('BAD_REQUEST', 'bad request: %s', 400),
  UNAUTHORIZED: def('UNAUTHORIZED', 'authentication required: %s', 401),
  FORBIDDEN: def('FORBIDDEN', 'forbidden: %s', 403),
  NOT_FOUND: def('NOT_FOUND', 'not found: %s', 404),
  PAYLOAD_TOO_LARGE: def('PAYLOAD_TOO_LARGE', 'request body exceeds %s bytes', 413),
  TOO_MANY_USERS: def('TOO_MANY_USERS', 'push names %s users; the limit is %s (PUSH_MAX_USERS)', 413),
  ORIGIN_NOT_ALLOWED: def('ORIGIN_NOT_ALLOWED', 'origin not allowed: %s', 403),
  UPGRADE_REQUIRED: def('UPGRADE_REQUIRED', '%s takes WebSocket connections only (Upgrade: websocket)', 426),

  // --- configuration ---
  INVALID_CONFIG: def('INVALID_CONFIG', 'invalid configuration: %s'),
});

/** Every code of the catalogue: what a {@link RelayError}'s `code` can be. */
export type ErrorCode = keyof typeof Errors;

/** An error from the catalogue: `code` is stable, `message` is readable by a person. */
export class RelayError extends Error {
  /** The catalogue code: stable, for programs to match on. */
  readonly code: ErrorCode;
  /** HTTP status to answer with, for errors that can surface over HTTP. */
  readonly status: number | undefined;

  constructor(definition: ErrorDefinition, ...args: Array<string | number>) {
    super(render(definition.template, args));
    this.name = 'RelayError';
    this.code = definition.code as ErrorCode;
    this.status = definition.status;
  }
}

function render(template: string, args: Array<string | number>): string {
  let i = 0;
  return template.replace(/%s/g, () => (i < args.length ? String(args[i++]) : '%s'));
}

/** Shorthand: `relayError(Errors.MISSING_HEADER, 'SEND', 'destination')`. */
export function relayError(definition: ErrorDefinition, ...args: Array<string | number>): RelayError {
  return new RelayError(definition, ...args);
}

/**
 * The same, without a stack trace: for errors that are ordinary answers on a hot path, not faults
 * (NO_ROUTE answers every push to a user with no session; capturing a stack for each cost ~5% of a
 * push's CPU). Nobody reads their stack.
 */
export function stacklessRelayError(definition: ErrorDefinition, ...args: Array<string | number>): RelayError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new RelayError(definition, ...args);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** Whether `err` is a {@link RelayError} (an error from the catalogue). */
export function isRelayError(err: unknown): err is RelayError {
  return err instanceof RelayError;
}

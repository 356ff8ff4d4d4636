/**
 * Asks the relay's {@link Authorize} function about one session's SUBSCRIBE and SEND frames, and
 * turns its answer into what the session does: go on, ERROR ACCESS_DENIED, or (for a function that
 * failed) a generic ERROR INTERNAL_ERROR with the details logged. Fail closed: only `true` allows.
 */
import type { Principal } from '../auth/authenticator';
import type { Authorize, AuthorizationRequest, AuthorizedCommand } from '../auth/authorization';
import type { StompHeaders } from '../codec/frame';
import { Errors, type RelayError, relayError } from '../errors';
import type { Logger } from '../observability/logger';

export class FrameAuthorizer {
  constructor(
    private readonly authorize: Authorize,
    /** Its frozen principal is made once per session, not per request. */
    private readonly session: { readonly id: string; readonly frozenPrincipal: Readonly<Principal> | null },
    private readonly logger: Logger,
  ) {}

  /**
   * Undefined when the frame is allowed at once; throws ACCESS_DENIED / INTERNAL_ERROR when refused
   * at once; otherwise a promise that resolves when allowed and rejects when refused.
   */
  check(command: AuthorizedCommand, destination: string, headers: StompHeaders): void | Promise<void> {
    const request: AuthorizationRequest = Object.freeze({
      principal: this.session.frozenPrincipal,
      sessionId: this.session.id,
      command,
      destination,
      headers: Object.freeze(Object.assign(Object.create(null), headers) as StompHeaders),
    });
    let verdict: unknown;
    try {
      verdict = this.authorize(request);
    } catch (err) {
      throw this.failed(err, request);
    }
    if (isThenable(verdict)) {
      return Promise.resolve(verdict).then(
        (resolved) => this.decide(resolved, request),
        (err: unknown) => {
          throw this.failed(err, request);
        },
      );
    }
    this.decide(verdict, request);
  }

  private decide(verdict: unknown, request: AuthorizationRequest): void {
    if (verdict === true) return;
    if (verdict === false) {
      const who = request.principal === null ? 'an anonymous session' : request.principal.name;
      throw relayError(Errors.ACCESS_DENIED, `${request.command} to ${request.destination} is not allowed for ${who}`);
    }
    throw this.failed(new TypeError(`authorize answered ${describe(verdict)}, not true or false`), request);
  }

  /** Logs what went wrong and returns the ERROR the client gets, which tells it nothing of it. */
  private failed(err: unknown, request: AuthorizationRequest): RelayError {
    this.logger.error(
      { err, session: request.sessionId, command: request.command, destination: request.destination },
      'the authorize function failed; the frame is refused',
    );
    return relayError(Errors.INTERNAL_ERROR, `the authorization check failed (see the server log for session ${request.sessionId})`);
  }
}

/**
 * True when `value` already is what {@link frozenCopy} would make of it: plain objects and arrays,
 * frozen all the way down, holding only data (no functions, accessors, symbols, undefined values,
 * class instances or Dates) within the depth limit. Such a value can be handed out as it is: a
 * session then keeps one principal, not the principal and a copy.
 */
export function isFrozenPlainData(value: unknown, depth = 0): boolean {
  if (value === null || typeof value !== 'object') return typeof value !== 'function';
  if (depth > 16 || !Object.isFrozen(value)) return false;
  const array = Array.isArray(value);
  if (Object.getPrototypeOf(value) !== (array ? Array.prototype : Object.prototype)) return false;
  for (const key of Reflect.ownKeys(value)) {
    if (array && key === 'length') continue;
    const descriptor = Object.getOwnPropertyDescriptor(value, key)!;
    if (typeof key === 'symbol' || !descriptor.enumerable || !('value' in descriptor)) return false;
    if (!array && descriptor.value === undefined) return false; // frozenCopy leaves such keys out
    if (!isFrozenPlainData(descriptor.value, depth + 1)) return false;
  }
  return true;
}

/**
 * A deep, frozen copy of plain data (objects, arrays, primitives), as an authorizer may read it.
 * Functions are left out; class instances (a host's user object) become plain objects of their own
 * enumerable properties; a cycle or depth beyond 16 ends in undefined.
 */
export function frozenCopy(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (value === null || typeof value !== 'object') return typeof value === 'function' ? undefined : value;
  if (depth > 16 || seen.has(value)) return undefined;
  seen.add(value);
  let copy: unknown;
  if (Array.isArray(value)) {
    copy = value.map((item) => frozenCopy(item, depth + 1, seen));
  } else if (value instanceof Date) {
    copy = new Date(value.getTime());
  } else {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      const item = frozenCopy((value as Record<string, unknown>)[key], depth + 1, seen);
      // defineProperty: a key named `__proto__` (a JWT may carry one) stays a key, not a prototype.
      if (item !== undefined) Object.defineProperty(out, key, { value: item, enumerable: true, writable: true, configurable: true });
    }
    copy = out;
  }
  seen.delete(value);
  return Object.freeze(copy);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

function describe(value: unknown): string {
  if (value === undefined || value === null) return String(value);
  if (typeof value === 'string') return `the string "${value.slice(0, 40)}"`;
  return `a ${typeof value}`;
}

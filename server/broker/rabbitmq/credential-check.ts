/**
 * Checks a login and passcode against RabbitMQ's own users, for AUTH_MODE=broker (people moving
 * from Web-STOMP, whose clients already send their RabbitMQ credentials in CONNECT).
 *
 * One check is one short STOMP connection to the broker's STOMP port with those credentials:
 * CONNECTED means accepted, ERROR means refused; then DISCONNECT. No connection is kept per
 * session: sessions ride on the relay's own pool, under BROKER_URL's user.
 *
 * - Verdicts are cached (bounded, short TTL: 30 s accepted, 5 s refused by default), keyed by an
 *   HMAC of login and passcode under a key drawn per instance: the passcode is never kept in clear,
 *   and the key cannot be looked up in a table made elsewhere. A user deleted or re-passworded in
 *   RabbitMQ can still open sessions on an instance for up to the accepted TTL.
 * - Concurrent checks of the same credentials share one attempt (a reconnect storm of one user
 *   costs one connection, not hundreds).
 * - At most `maxConcurrent` attempts run at once; up to `maxQueued` more wait their turn; beyond
 *   that a check fails at once with BROKER_UNAVAILABLE rather than queueing without bound.
 * - An unreachable broker is BROKER_UNAVAILABLE and not remembered: it says nothing about the
 *   credentials.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { BrokerEndpoint } from '../../config';
import { Errors, relayError } from '../../errors';
import { BrokerConnection, ConnectRefusedError } from './broker-connection';
import { VerdictCache } from './verdict-cache';

/**
 * One sign-in attempt: resolves true when the broker accepts the credentials, false when it
 * refuses them; rejects with BROKER_UNAVAILABLE when it cannot tell.
 */
export type SignIn = (login: string, passcode: string) => Promise<boolean>;

export interface CredentialCheckOptions {
  /** The broker whose users sign in (host, port, vhost of BROKER_URL; its login is not used). */
  endpoint: BrokerEndpoint;
  /** Bound on one attempt's TCP connect + CONNECT/CONNECTED. Default 5 s. */
  connectTimeoutMs?: number;
  /** How long accepted credentials stay accepted. Default 30 s. */
  okTtlMs?: number;
  /** How long a refusal is remembered. Default 5 s. */
  refusedTtlMs?: number;
  /** Most remembered verdicts. Default 10 000. */
  maxEntries?: number;
  /** Most attempts (broker connections) at once. Default 4. */
  maxConcurrent?: number;
  /** Most checks waiting for a free attempt. Default 1000. */
  maxQueued?: number;
  /** Replaces the STOMP sign-in (unit tests). */
  signIn?: SignIn;
  /** Clock of the cache, replaceable in unit tests. */
  now?: () => number;
}

/** Nothing is expected on a connection that lives for one CONNECT and one DISCONNECT. */
const IGNORE = { onMessage: () => undefined, onError: () => undefined, onClose: () => undefined };

export class CredentialCheck {
  private readonly cache: VerdictCache;
  /** Checks under way, by credential key: later identical checks wait for the same answer. */
  private readonly inFlight = new Map<string, Promise<void>>();
  /** Checks waiting for a free attempt, oldest first. */
  private readonly waiting: Array<() => void> = [];
  private running = 0;
  private readonly hmacKey = randomBytes(32);
  private readonly signIn: SignIn;
  private readonly maxConcurrent: number;
  private readonly maxQueued: number;
  private readonly vhost: string;

  constructor(options: CredentialCheckOptions) {
    const { endpoint } = options;
    const connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    this.vhost = endpoint.vhost;
    this.signIn = options.signIn ?? ((login, passcode) => stompSignIn({ ...endpoint, login, passcode }, connectTimeoutMs));
    this.maxConcurrent = options.maxConcurrent ?? 4;
    this.maxQueued = options.maxQueued ?? 1000;
    this.cache = new VerdictCache({
      okTtlMs: options.okTtlMs ?? 30_000,
      refusedTtlMs: options.refusedTtlMs ?? 5_000,
      maxEntries: options.maxEntries ?? 10_000,
      now: options.now,
    });
  }

  /** Verdicts remembered now. */
  get cachedVerdicts(): number {
    return this.cache.size;
  }

  /**
   * Resolves when RabbitMQ accepts `login` / `passcode`. Rejects with AUTHENTICATION_FAILED when it
   * refuses them, BROKER_UNAVAILABLE when it cannot be asked.
   */
  verify(login: string, passcode: string): Promise<void> {
    const key = this.keyOf(login, passcode);
    const running = this.inFlight.get(key);
    if (running) return running;
    const known = this.cache.get(key);
    if (known === null) return Promise.resolve();
    if (known !== undefined) return Promise.reject(known);
    // A failed attempt (broker unreachable) rejects past this and is not remembered.
    const check = this.attempt(login, passcode).then((accepted) => {
      if (accepted) {
        this.cache.set(key, null);
        return;
      }
      const refusal = relayError(
        Errors.AUTHENTICATION_FAILED,
        `RabbitMQ refused login "${login}" (wrong login or passcode, or no access to vhost "${this.vhost}")`,
      );
      this.cache.set(key, refusal);
      throw refusal;
    });
    this.inFlight.set(key, check);
    void check
      .catch(() => undefined)
      .finally(() => {
        this.inFlight.delete(key);
      });
    return check;
  }

  /** One sign-in, once a slot is free. */
  private attempt(login: string, passcode: string): Promise<boolean> {
    if (this.running >= this.maxConcurrent) {
      if (this.waiting.length >= this.maxQueued) {
        return Promise.reject(relayError(Errors.BROKER_UNAVAILABLE, `more than ${this.maxQueued} sign-ins are waiting for the broker`));
      }
      return new Promise<void>((resolve) => this.waiting.push(resolve)).then(() => this.run(login, passcode));
    }
    return this.run(login, passcode);
  }

  private run(login: string, passcode: string): Promise<boolean> {
    this.running++;
    let outcome: Promise<boolean>;
    try {
      outcome = this.signIn(login, passcode);
    } catch (err) {
      outcome = Promise.reject(err);
    }
    return outcome.finally(() => {
      this.running--;
      this.waiting.shift()?.();
    });
  }

  /** HMAC-SHA256 of the pair, length-prefixed so that no two pairs share an input. */
  private keyOf(login: string, passcode: string): string {
    return createHmac('sha256', this.hmacKey).update(`${login.length}:${login}:${passcode}`, 'utf8').digest('base64url');
  }
}

/**
 * Opens a STOMP connection with `endpoint`'s credentials and closes it again: true on CONNECTED,
 * false on ERROR. The slot it holds is released only once the connection is closed.
 */
async function stompSignIn(endpoint: BrokerEndpoint, connectTimeoutMs: number): Promise<boolean> {
  let connection: BrokerConnection;
  try {
    connection = await BrokerConnection.open({ endpoint, heartbeatMs: 0, connectTimeoutMs, parserLimits: SMALL_FRAMES }, IGNORE);
  } catch (err) {
    if (err instanceof ConnectRefusedError) return false;
    throw err;
  }
  await connection.close(1_000);
  return true;
}

/** A sign-in reads CONNECTED or ERROR and a RECEIPT: nothing large. */
const SMALL_FRAMES = { maxFrameBytes: 64 * 1024, maxHeaders: 64, maxHeaderLineBytes: 8 * 1024 };

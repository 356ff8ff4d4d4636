/**
 * The STOMP frame as the rest of the relay sees it. No sockets, no brokers: just data.
 * Spec: https://stomp.github.io/stomp-specification-1.2.html#STOMP_Frames
 */

export type StompVersion = '1.0' | '1.1' | '1.2';

export const SUPPORTED_VERSIONS: readonly StompVersion[] = ['1.0', '1.1', '1.2'];

/**
 * Header name → value. Objects made by the parser have a null prototype, so a header named
 * `__proto__` is just a header. When a header repeats in a frame, the first occurrence wins
 * (STOMP 1.2 §"Repeated Header Entries"); later ones are dropped by the parser.
 */
export type StompHeaders = Record<string, string>;

/** One STOMP frame, as the codec parses and serializes it. */
export interface StompFrame {
  /** Upper-case command, e.g. `SEND`, `MESSAGE`. */
  command: string;
  /** Headers, decoded (escapes undone); for a repeated header, the first value, as the spec says. */
  headers: StompHeaders;
  /** Raw body bytes; empty Buffer for no body. Never interpreted by the codec. */
  body: Buffer;
}

/** Commands a client may send (STOMP 1.2 §"Client Frames"). */
export const CLIENT_COMMANDS = [
  'CONNECT',
  'STOMP',
  'SEND',
  'SUBSCRIBE',
  'UNSUBSCRIBE',
  'ACK',
  'NACK',
  'BEGIN',
  'COMMIT',
  'ABORT',
  'DISCONNECT',
] as const;

/** Commands a server sends (STOMP 1.2 §"Server Frames"). */
export const SERVER_COMMANDS = ['CONNECTED', 'MESSAGE', 'RECEIPT', 'ERROR'] as const;

/** Builds a header object with a null prototype (see {@link StompHeaders}). */
export function headers(init?: Record<string, string | number | undefined>): StompHeaders {
  const h: StompHeaders = Object.create(null);
  if (init) {
    for (const k of Object.keys(init)) {
      const v = init[k];
      if (v !== undefined) h[k] = String(v);
    }
  }
  return h;
}

/** Names a header copy leaves out: a set, or a test for the rules a set cannot say (prefixes, letter case). */
export type HeaderExclusion = ReadonlySet<string> | ((name: string) => boolean);

/**
 * The one "copy headers except these" of the relay: a null-prototype copy of `source` without the
 * names `except` covers (each is tried in turn), then `extra` set over it. Every path that
 * carries headers from one side to another (client SEND to broker, broker MESSAGE to client, engine
 * requests to RabbitMQ) copies through here; which names each path leaves out is its own policy
 * (session/header-policy.ts for the session side, the engines for theirs).
 */
export function headersExcept(
  source: Readonly<StompHeaders>,
  except: HeaderExclusion | readonly HeaderExclusion[],
  extra?: Readonly<StompHeaders>,
): StompHeaders {
  const out: StompHeaders = Object.create(null);
  const rules = Array.isArray(except) ? (except as readonly HeaderExclusion[]) : [except as HeaderExclusion];
  for (const name of Object.keys(source)) {
    if (!excluded(name, rules)) out[name] = source[name];
  }
  if (extra !== undefined) for (const name of Object.keys(extra)) out[name] = extra[name];
  return out;
}

function excluded(name: string, rules: readonly HeaderExclusion[]): boolean {
  for (const rule of rules) {
    if (typeof rule === 'function' ? rule(name) : rule.has(name)) return true;
  }
  return false;
}

/** Size and shape limits the parser enforces. All configurable; see docs/protocol.md. */
export interface ParserLimits {
  /** Largest frame, command + headers + body, in bytes. */
  maxFrameBytes: number;
  /** Most header lines in one frame. */
  maxHeaders: number;
  /** Longest single header line (name + ':' + value), in bytes. */
  maxHeaderLineBytes: number;
}

export const DEFAULT_PARSER_LIMITS: Readonly<ParserLimits> = Object.freeze({
  maxFrameBytes: 1024 * 1024,
  maxHeaders: 64,
  maxHeaderLineBytes: 8 * 1024,
});

/**
 * Structured logs (pino). Each relay gets a logger from its options; nothing logs through a global.
 */
import pino from 'pino';

/** The relay's logger: a pino logger (pass your own, or a child of it, as `createRelay({ logger })`). */
export type Logger = pino.Logger;

/** A pino logger at `level` (default `LOG_LEVEL`, else `info`) writing JSON lines to stdout, as the CLI logs. */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { service: 'stomp-relay' } });
}

/** A logger that writes nothing, for tests and embedding hosts that bring their own. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

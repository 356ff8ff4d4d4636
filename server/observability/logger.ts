/**
 * Structured logs (pino). Each relay gets a logger from its options; nothing logs through a global.
 */
import pino from 'pino';

export type Logger = pino.Logger;

export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { service: 'stomp-relay' } });
}

/** A logger that writes nothing, for tests and embedding hosts that bring their own. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

#!/usr/bin/env node
/**
 * `stomp-relay` / `npm start`: configuration from environment variables, one relay on one port,
 * graceful shutdown on SIGTERM/SIGINT.
 */
import { ENV_VARS, configFromEnv } from './config';
import { isRelayError } from './errors';
import { createLogger } from './observability/logger';
import { PACKAGE_VERSION } from './package-info';
import { createRelay } from './relay';

function usage(): string {
  const width = Math.max(...ENV_VARS.map((v) => v.name.length));
  return [
    `stomp-relay ${PACKAGE_VERSION}: STOMP over WebSocket (/ws) and SockJS (/sockjs), relayed through RabbitMQ`,
    '',
    'Usage: stomp-relay [--help] [--version]',
    '',
    'Configuration comes from environment variables:',
    ...ENV_VARS.map((v) => `  ${v.name.padEnd(width)}  ${v.help}`),
    '',
    'Public endpoints: /ws, /sockjs, GET /healthz, /readyz, /instance, /client/*, demo page at /',
    'Admin endpoints (on ADMIN_PORT when set): POST /push/:user, POST /push, POST /publish, GET /users,',
    '  GET /users/:user, DELETE /users/:user/sessions, GET /metrics, GET /openapi.json',
  ].join('\n');
}

async function main(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage() + '\n');
    return;
  }
  if (argv.includes('--version')) {
    process.stdout.write(PACKAGE_VERSION + '\n');
    return;
  }
  const unknown = argv.filter((a) => a.startsWith('-'));
  if (unknown.length > 0) {
    process.stderr.write(`stomp-relay: unknown option ${unknown[0]}\n\n${usage()}\n`);
    process.exitCode = 2;
    return;
  }

  let config;
  try {
    config = configFromEnv(process.env);
  } catch (err) {
    process.stderr.write(`stomp-relay: ${isRelayError(err) ? err.message : String(err)}\n`);
    process.exitCode = 2;
    return;
  }
  const logger = createLogger(config.logLevel);
  // The dev-mode warnings come from the relay itself (an embedded relay logs them too).
  if (config.brokerUrl === undefined) {
    logger.warn('BROKER_URL is not set: embedded in-memory broker, single instance only.');
  }

  let relay;
  try {
    relay = createRelay({ ...config, logger });
  } catch (err) {
    // ACL_FILE is read here: its problems are configuration mistakes like any other.
    if (!isRelayError(err)) throw err;
    process.stderr.write(`stomp-relay: ${err.message}\n`);
    process.exitCode = 2;
    return;
  }
  const shutdown = (signal: string) => {
    logger.info({ signal }, 'shutting down');
    relay.close().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));

  try {
    await relay.listen();
  } catch (err) {
    logger.fatal({ err }, 'failed to start');
    process.exit(1);
  }
}

void main(process.argv.slice(2));

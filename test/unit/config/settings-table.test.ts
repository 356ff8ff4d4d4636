import { expect } from 'chai';
import { DEFAULT_CONFIG, ENV_VARS, configFromEnv, resolveConfig } from '../../../server/config';
import { RelayError } from '../../../server/errors';

const configError = (build: () => unknown): RelayError => {
  try {
    build();
  } catch (err) {
    expect(err).to.be.instanceOf(RelayError).with.property('code', 'INVALID_CONFIG');
    return err as RelayError;
  }
  throw new Error('expected INVALID_CONFIG');
};

describe('config: one settings table for defaults, env, options, validation and --help', () => {
  it('keeps every default', () => {
    const { instanceId, ...rest } = DEFAULT_CONFIG;
    expect(instanceId).to.equal(`${require('node:os').hostname()}-${process.pid}`);
    expect(JSON.parse(JSON.stringify(rest))).to.deep.equal({
      port: 8080, host: '0.0.0.0', pushMaxUsers: 1000, brokerPoolSize: 4, brokerExclusiveConnections: 100,
      routeQueueTtlMs: 30_000, userRouteWaitMs: 2_000, brokerHeartbeatMs: 5_000,
      resumeWindowMs: 120_000, resumeMaxMessages: 1000, resumePartitions: 4,
      authJwtRequireExp: true, authJwksRefreshMs: 30_000,
      limits: {
        maxFrameBytes: 1024 * 1024, maxHeaders: 64, maxHeaderLineBytes: 8 * 1024, maxSubscriptionsPerSession: 256,
        maxBufferedBytes: 4 * 1024 * 1024, maxTransactionsPerSession: 16, maxTransactionFrames: 1024, maxWsMessageBytes: 4 * 1024 * 1024,
      },
      heartbeat: { sendMs: 10_000, receiveMs: 10_000, graceFactor: 2, minMs: 1_000 },
      relayPrefixes: ['/topic/', '/queue/', '/exchange/', '/amq/queue/', '/temp-queue/', '/reply-queue/'],
      appPrefix: '/app/', userPrefix: '/user/', appErrorDestination: '/queue/errors', allowedOrigins: ['*'],
      shutdownGraceMs: 5_000, presenceIntervalMs: 5_000, logLevel: 'info',
    });
    for (const unset of ['adminPort', 'adminHost', 'brokerUrl', 'brokerAmqpUrl', 'authMode', 'authJwtSecret', 'authJwksUrl', 'authJwtIssuer', 'authJwtAudience', 'aclFile'] as const) {
      expect(DEFAULT_CONFIG[unset], unset).to.equal(undefined);
    }
  });

  it('bounds a setting the same from the environment and as a library option', () => {
    const cases: Array<[Record<string, string>, Parameters<typeof resolveConfig>[0], RegExp, RegExp]> = [
      [{ BROKER_POOL_SIZE: '65' }, { brokerPoolSize: 65 }, /BROKER_POOL_SIZE must be between 1 and 64/, /brokerPoolSize \(BROKER_POOL_SIZE\) must be between 1 and 64/],
      [{ MAX_FRAME_BYTES: '255' }, { limits: { maxFrameBytes: 255 } }, /MAX_FRAME_BYTES must be between 256/, /limits\.maxFrameBytes \(MAX_FRAME_BYTES\) must be between 256/],
      [{ MAX_HEADERS: '3' }, { limits: { maxHeaders: 3 } }, /MAX_HEADERS must be between 4/, /limits\.maxHeaders \(MAX_HEADERS\) must be between 4/],
      [{ PRESENCE_INTERVAL_MS: '99' }, { presenceIntervalMs: 99 }, /PRESENCE_INTERVAL_MS must be between 100/, /presenceIntervalMs \(PRESENCE_INTERVAL_MS\) must be between 100/],
      [{ RESUME_PARTITIONS: '65' }, { resumePartitions: 65 }, /RESUME_PARTITIONS must be between 1 and 64/, /resumePartitions \(RESUME_PARTITIONS\) must be between 1 and 64/],
      [{ RESUME_MAX_MESSAGES: '0' }, { resumeMaxMessages: 0 }, /RESUME_MAX_MESSAGES must be between 1/, /resumeMaxMessages \(RESUME_MAX_MESSAGES\) must be between 1/],
      [{ RESUME_MAX_MESSAGES: '1000001' }, { resumeMaxMessages: 1_000_001 }, /RESUME_MAX_MESSAGES must be between 1 and 1000000/, /resumeMaxMessages \(RESUME_MAX_MESSAGES\) must be between 1 and 1000000/],
      [{ RESUME_WINDOW_MS: '-1' }, { resumeWindowMs: -1 }, /RESUME_WINDOW_MS must be a whole number/, /resumeWindowMs \(RESUME_WINDOW_MS\) must be between 0/],
    ];
    for (const [env, options, fromEnv, fromOptions] of cases) {
      expect(configError(() => configFromEnv(env)).message, JSON.stringify(env)).to.match(fromEnv);
      expect(configError(() => resolveConfig(options)).message, JSON.stringify(options)).to.match(fromOptions);
    }
    expect(configFromEnv({ BROKER_POOL_SIZE: '64', RESUME_WINDOW_MS: '0', RESUME_PARTITIONS: '1' })).to.include({ brokerPoolSize: 64, resumeWindowMs: 0, resumePartitions: 1 });
    expect(resolveConfig({ brokerPoolSize: 64, resumeMaxMessages: 5 })).to.include({ brokerPoolSize: 64, resumeMaxMessages: 5 });
  });

  it('lists every problem in one error', () => {
    const fromEnv = configError(() => configFromEnv({ PORT: 'abc', BROKER_POOL_SIZE: '0', LOG_LEVEL: 'loud', AUTH_JWT_REQUIRE_EXP: 'maybe' })).message;
    for (const problem of [/PORT must be a whole number, got "abc"/, /BROKER_POOL_SIZE must be between 1 and 64, got 0/, /LOG_LEVEL must be one of/, /AUTH_JWT_REQUIRE_EXP must be true or false/]) {
      expect(fromEnv).to.match(problem);
    }
    const fromOptions = configError(() => resolveConfig({ port: 70_000, allowedOrigins: [], instanceId: 'two words' })).message;
    for (const problem of [/port \(PORT\) must be between 0 and 65535/, /allowedOrigins \(ALLOWED_ORIGINS\) cannot be empty/, /instanceId \(INSTANCE_ID\) must be a non-empty word without spaces/]) {
      expect(fromOptions).to.match(problem);
    }
  });

  it('writes each default into --help from the table, not by hand', () => {
    const help = (name: string) => ENV_VARS.find((v) => v.name === name)?.help;
    expect(help('BROKER_POOL_SIZE')).to.match(/\(default 4\)$/);
    expect(help('MAX_FRAME_BYTES')).to.match(/\(default 1048576\)$/);
    expect(help('RESUME_WINDOW_MS')).to.equal('how long user-destination history is kept for resume-from (default 120000, 0 = off)');
    expect(help('RESUME_MAX_MESSAGES')).to.equal('most messages kept and replayed per (user, destination) (default 1000)');
    expect(help('RESUME_PARTITIONS')).to.equal('history streams (RabbitMQ) the users are spread over (default 4)');
    expect(help('RELAY_PREFIXES')).to.include(`default ${DEFAULT_CONFIG.relayPrefixes.join(',')}`);
  });
});

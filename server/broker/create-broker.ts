/** Picks the broker engine from configuration: RabbitMQ when `brokerUrl` is set, else embedded. */
import type { RelayConfig } from '../config';
import { brokerAmqpEndpoints, parseBrokerUrls } from '../config';
import type { Logger } from '../observability/logger';
import type { RelayMetrics } from '../observability/metrics';
import type { Broker } from './broker';
import { MemoryBroker } from './memory/memory-broker';
import { RabbitMqBroker } from './rabbitmq/rabbitmq-broker';

export function createBroker(config: RelayConfig, logger: Logger, metrics: RelayMetrics): Broker {
  const history = { windowMs: config.resumeWindowMs, maxMessages: config.resumeMaxMessages };
  if (config.brokerUrl === undefined) return new MemoryBroker({ logger, metrics, history });
  return new RabbitMqBroker({
    endpoints: parseBrokerUrls(config.brokerUrl),
    poolSize: config.brokerPoolSize,
    routes: {
      endpoints: brokerAmqpEndpoints(config),
      instanceId: config.instanceId,
      queueTtlMs: config.routeQueueTtlMs,
    },
    history: { ...history, partitions: config.resumePartitions },
    heartbeatMs: config.brokerHeartbeatMs,
    maxExclusiveConnections: config.brokerExclusiveConnections,
    logger,
    metrics,
  });
}

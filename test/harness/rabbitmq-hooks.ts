/**
 * Mocha root hooks (listed in .mocharc.json `require`): stop the RabbitMQ node that test files
 * share through {@link sharedRabbitNode} once every test has run.
 */
import { stopSharedRabbitNode } from './rabbitmq';

export const mochaHooks = {
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(30_000);
    await stopSharedRabbitNode();
  },
};

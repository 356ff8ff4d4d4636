/** The route-queue settings (issue 9): read from env and options, bad values refused at start. */
import { expect } from 'chai';
import { configFromEnv, DEFAULT_CONFIG, resolveConfig } from '../../../server/config';
import { RelayError } from '../../../server/errors';

describe('config: route queue settings', () => {
  it('defaults ROUTE_QUEUE_TTL_MS to 30000 and USER_ROUTE_WAIT_MS to 2000, and reads both', () => {
    expect(DEFAULT_CONFIG.routeQueueTtlMs).to.equal(30_000);
    expect(DEFAULT_CONFIG.userRouteWaitMs).to.equal(2_000);
    const config = configFromEnv({ ROUTE_QUEUE_TTL_MS: '60000', USER_ROUTE_WAIT_MS: '0' });
    expect(config.routeQueueTtlMs).to.equal(60_000);
    expect(config.userRouteWaitMs).to.equal(0);
  });

  it('refuses values that are not whole numbers in range, from env and from options, with INVALID_CONFIG', () => {
    for (const env of [{ ROUTE_QUEUE_TTL_MS: '999' }, { ROUTE_QUEUE_TTL_MS: '30s' }, { USER_ROUTE_WAIT_MS: '-1' }, { USER_ROUTE_WAIT_MS: '1.5' }]) {
      expect(() => configFromEnv(env), JSON.stringify(env)).to.throw(RelayError).with.property('code', 'INVALID_CONFIG');
    }
    for (const options of [{ routeQueueTtlMs: 10 }, { routeQueueTtlMs: Number.NaN }, { userRouteWaitMs: -5 }, { userRouteWaitMs: 0.5 }]) {
      expect(() => resolveConfig(options), JSON.stringify(options)).to.throw(RelayError).with.property('code', 'INVALID_CONFIG');
    }
  });
});

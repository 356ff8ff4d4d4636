import { expect } from 'chai';
import { DEFAULT_CONFIG, configFromEnv, resolveConfig } from '../../../server/config';

/** The WebSocket message bound is its own setting: a message may carry many frames under the frame limit. */
describe('config: MAX_WS_MESSAGE_BYTES', () => {
  const MiB = 1024 * 1024;

  it('defaults to 4 MiB, above the frame limit', () => {
    expect(DEFAULT_CONFIG.limits.maxWsMessageBytes).to.equal(4 * MiB);
    expect(configFromEnv({}).limits.maxWsMessageBytes).to.equal(4 * MiB);
    expect(resolveConfig({}).limits.maxWsMessageBytes).to.equal(4 * MiB);
  });

  it('is read from the environment and from the library option', () => {
    expect(configFromEnv({ MAX_WS_MESSAGE_BYTES: '65536' }).limits.maxWsMessageBytes).to.equal(65536);
    expect(resolveConfig({ limits: { maxWsMessageBytes: 65536 } }).limits.maxWsMessageBytes).to.equal(65536);
  });

  it('left unset, stays room for one largest frame when MAX_FRAME_BYTES is raised', () => {
    expect(configFromEnv({ MAX_FRAME_BYTES: String(8 * MiB) }).limits.maxWsMessageBytes).to.equal(8 * MiB + 64 * 1024);
    expect(resolveConfig({ limits: { maxFrameBytes: 8 * MiB } }).limits.maxWsMessageBytes).to.equal(8 * MiB + 64 * 1024);
  });

  it('refuses a value that is not a whole number of at least 1024', () => {
    expect(() => configFromEnv({ MAX_WS_MESSAGE_BYTES: 'big' })).to.throw(/MAX_WS_MESSAGE_BYTES must be a whole number/);
    expect(() => configFromEnv({ MAX_WS_MESSAGE_BYTES: '10' })).to.throw(/MAX_WS_MESSAGE_BYTES must be between 1024/);
  });
});

/**
 * A broker that follows CONNECTED with bytes the parser rejects, in the same TCP chunk: the
 * connection closes before `BrokerConnection.open` has resolved. Neither the pool nor the probe
 * connection may trip over that (they did: a ReferenceError thrown from the socket's data event).
 */
import * as net from 'node:net';
import { expect } from 'chai';
import { silentLogger } from '../../../server/observability/logger';
import { ConnectionSlot } from '../../../server/broker/rabbitmq/connection-slot';
import { ProbeConnection } from '../../../server/broker/rabbitmq/probe-connection';
import { headers } from '../../../server/codec/frame';
import { expectRelayError } from '../../broker-suite/wait';

describe('rabbitmq connections whose CONNECTED is followed by garbage', () => {
  let server: net.Server;
  let connects = 0;
  const options = () => ({
    endpoints: [{ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, vhost: '/', login: 'guest', passcode: 'guest' }],
    heartbeatMs: 0,
    connectTimeoutMs: 2000,
  });

  before(async () => {
    server = net.createServer((socket) => {
      socket.once('data', () => {
        connects++;
        socket.write('CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\0MESSAGE\nno colon on this line\n\n\0');
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });

  after(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('a pool slot counts it as a failed attempt and retries', async () => {
    const before = connects;
    const slot = new ConnectionSlot(0, options(), { initialMs: 10, maxMs: 20 }, { onUp: () => undefined, onDown: () => undefined }, silentLogger());
    try {
      await slot.start();
      expect(slot.up).to.equal(false);
      const deadline = Date.now() + 5000;
      while (connects < before + 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(connects - before, 'retried').to.be.at.least(3);
      expect(slot.up).to.equal(false);
    } finally {
      await slot.stop();
    }
  });

  it('the probe connection answers BROKER_UNAVAILABLE', async () => {
    const probes = new ProbeConnection({ connection: options(), timeoutMs: 2000, maxQueued: 10, logger: silentLogger() });
    try {
      await expectRelayError(probes.probe({ destination: '/queue/q', headers: headers() }), 'BROKER_UNAVAILABLE');
    } finally {
      await probes.stop();
    }
  });
});

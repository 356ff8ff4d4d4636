/**
 * Frames a BrokerConnection sends in one turn of the event loop reach the socket in one `writev`
 * (one system call), not one write each: a publisher's burst of SENDs was a system call per SEND.
 * A scripted broker on loopback answers CONNECT; the socket's own write hooks are counted.
 */
import * as net from 'node:net';
import { expect } from 'chai';
import { BrokerConnection } from '../../../server/broker/rabbitmq/broker-connection';
import { headers } from '../../../server/codec/frame';
import { waitFor } from '../../harness/stomp-test-kit';

describe('rabbitmq BrokerConnection writes', () => {
  let server: net.Server;
  let received = '';

  before(async () => {
    server = net.createServer((socket) => {
      socket.setEncoding('latin1');
      socket.once('data', () => {
        socket.write('CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\0');
        socket.on('data', (chunk: string) => { received += chunk; });
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });

  after(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('sends the frames of one tick in one writev, all of them, in order', async () => {
    const port = (server.address() as net.AddressInfo).port;
    const connection = await BrokerConnection.open(
      { endpoint: { host: '127.0.0.1', port, vhost: '/', login: 'guest', passcode: 'guest' }, heartbeatMs: 0, connectTimeoutMs: 2000 },
      { onMessage: () => undefined, onError: () => undefined, onClose: () => undefined },
    );
    try {
      const socket = (connection as unknown as { socket: net.Socket & { _write: Function; _writev: Function } }).socket;
      const calls: string[] = [];
      const write = socket._write;
      const writev = socket._writev;
      socket._write = function (...args: unknown[]) { calls.push('write'); return write.apply(this, args); };
      socket._writev = function (...args: unknown[]) { calls.push('writev'); return writev.apply(this, args); };
      for (let i = 0; i < 10; i++) connection.send({ command: 'SEND', headers: headers({ destination: `/topic/t${i}` }), body: Buffer.from(`m${i}`) });
      await new Promise((resolve) => setImmediate(resolve));
      expect(calls).to.deep.equal(['writev']);
      await waitFor(() => received.includes('m9\0'), 'the ten frames at the broker');
      const bodies = [...received.matchAll(/\n\n(m\d)\0/g)].map((m) => m[1]);
      expect(bodies).to.deep.equal(['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9']);
    } finally {
      connection.destroy();
    }
  });

  it('still sends what this tick wrote when the connection is torn down in the same tick', async () => {
    const port = (server.address() as net.AddressInfo).port;
    const connection = await BrokerConnection.open(
      { endpoint: { host: '127.0.0.1', port, vhost: '/', login: 'guest', passcode: 'guest' }, heartbeatMs: 0, connectTimeoutMs: 2000 },
      { onMessage: () => undefined, onError: () => undefined, onClose: () => undefined },
    );
    connection.send({ command: 'NACK', headers: headers({ id: 'last-words' }), body: Buffer.alloc(0) });
    connection.destroy();
    await waitFor(() => received.includes('id:last-words'), 'the NACK at the broker');
  });
});

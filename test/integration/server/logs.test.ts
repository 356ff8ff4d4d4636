/**
 * Logs an operator reads: session lifecycle at debug with user, transport and remote address; no
 * key twice in a line; nothing at warn or above when a relay with connected clients shuts down.
 * (The RabbitMQ side, a broker that refuses the relay, is in test/integration/rabbitmq/broker-logs.test.ts.)
 */
import { expect } from 'chai';
import { RawStomp, sockjsClient, startRelay } from '../../harness/stomp-test-kit';
import { captureLogs, duplicateKeys } from '../../harness/log-capture';

describe('server: logs', () => {
  it('logs session start and end at debug with user, transport, remote address; no duplicated keys; no warn on shutdown', async () => {
    const logs = captureLogs('debug');
    const server = await startRelay({ logger: logs.logger, instanceId: 'logs-a' });
    let closing = -1;
    try {
      const raw = await RawStomp.open(server.wsUrl);
      await raw.connect({ login: 'alice' });
      raw.sendFrame('DISCONNECT', { receipt: 'bye' });
      await raw.expect('RECEIPT');
      await raw.waitClosed();
      const sockjs = await sockjsClient(server, 'xhr-streaming', { login: 'bob' });
      expect(sockjs.connected.headers['user-name']).to.equal('bob');
      const started = logs.records().filter((r) => r.msg === 'session connected');
      expect(started.map((r) => [r.user, r.transport, r.remoteAddress, r.level])).to.deep.include.members([
        ['alice', 'ws', '127.0.0.1', 20],
        ['bob', 'sockjs', '127.0.0.1', 20],
      ]);
      expect(started[0].version).to.equal('1.2');
      const ended = logs.records().find((r) => r.msg === 'session ended' && r.user === 'alice');
      expect(ended, JSON.stringify(logs.records().slice(-5))).to.include({ level: 20, transport: 'ws', remoteAddress: '127.0.0.1' });
      closing = logs.raw.length;
    } finally {
      await server.close();
    }
    const afterClose = logs.records().slice(closing).filter((r) => r.level >= 40);
    expect(afterClose, 'warn or worse during an ordinary shutdown').to.deep.equal([]);
    const ended = logs.records().find((r) => r.msg === 'session ended' && r.user === 'bob');
    expect(ended?.code, 'a session ended by the shutdown says why').to.equal('SHUTTING_DOWN');
    for (const line of logs.raw) expect(duplicateKeys(line), line).to.deep.equal([]);
    expect(logs.records().find((r) => r.msg === 'stomp-relay listening')).to.include({ instanceId: 'logs-a' });
  });
});

/**
 * RabbitMQ refusing the relay's CONNECT (wrong credentials, unknown vhost) is a configuration
 * mistake no retry fixes: it is logged at warn, with RabbitMQ's own reason, at the default level.
 */
import { expect } from 'chai';
import pino from 'pino';
import { parseBrokerUrl } from '../../../server/config';
import { Inbox } from '../../harness/stomp-test-kit';
import { useRabbitBrokers } from './rabbit-brokers';

interface LogLine { level: number; msg: string; reason?: string; detail?: string; node?: string }

describe('RabbitMqBroker refused by RabbitMQ', function () {
  this.timeout(30_000);
  const rabbit = useRabbitBrokers();

  /** A pino logger at the default level whose lines land in an inbox. */
  function recordingLogger() {
    const lines = new Inbox<LogLine>();
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) });
    return { lines, logger };
  }

  async function firstWarning(lines: Inbox<LogLine>): Promise<LogLine> {
    for (;;) {
      const line = await lines.next('a warn line');
      if (line.level === 40) return line;
    }
  }

  it('logs wrong credentials at warn with RabbitMQ\'s reason', async () => {
    const { lines, logger } = recordingLogger();
    const endpoint = { ...parseBrokerUrl(rabbit.node.brokerUrl), passcode: 'not-the-password' };
    const broker = await rabbit.start(1, { endpoint, logger });
    expect(broker.ready).to.equal(false);
    const warning = await firstWarning(lines);
    expect(warning.msg).to.match(/RabbitMQ refused the connection/);
    // RabbitMQ's own words: the ERROR frame's message header and body.
    expect(warning.reason).to.equal('Bad CONNECT');
    expect(warning.detail).to.match(/Access refused for user 'guest'/);
    expect(warning.node).to.equal(`127.0.0.1:${rabbit.node.stompPort}`);
  });

  it('logs an unknown vhost at warn with RabbitMQ\'s reason', async () => {
    const { lines, logger } = recordingLogger();
    const endpoint = { ...parseBrokerUrl(rabbit.node.brokerUrl), vhost: 'no-such-vhost' };
    await rabbit.start(1, { endpoint, logger });
    const warning = await firstWarning(lines);
    expect(warning.msg).to.match(/RabbitMQ refused the connection/);
    expect(`${warning.reason} ${warning.detail}`).to.include('no-such-vhost');
  });
});

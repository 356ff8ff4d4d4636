/**
 * BROKER_URL and BROKER_AMQP_URL: one URL or a comma-separated list of the nodes of one RabbitMQ
 * cluster, each entry checked at start with a message that names the bad one.
 */
import { expect } from 'chai';
import {
  configFromEnv, deriveAmqpEndpoints, parseAmqpUrls, parseBrokerUrl, parseBrokerUrls, resolveConfig, brokerAmqpEndpoints,
} from '../../../server/config';
import { isRelayError } from '../../../server/errors';

/** The INVALID_CONFIG message `fn` throws (fails if it throws anything else, or nothing). */
function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(isRelayError(err) && err.code, String(err)).to.equal('INVALID_CONFIG');
    return (err as Error).message;
  }
  return expect.fail('expected an INVALID_CONFIG error');
}

describe('config: BROKER_URL lists', () => {
  it('reads one URL as a list of one', () => {
    expect(parseBrokerUrls('stomp://relay:secret@rabbit:61613/prod')).to.deep.equal([
      { host: 'rabbit', port: 61613, login: 'relay', passcode: 'secret', vhost: 'prod' },
    ]);
  });

  it('reads a comma-separated list of cluster nodes, blanks around entries ignored', () => {
    const endpoints = parseBrokerUrls('stomp://guest:guest@127.0.0.1:61613/, stomp://guest:guest@127.0.0.1:61623/ ,stomp://guest:guest@[::1]:61633/');
    expect(endpoints).to.deep.equal([
      { host: '127.0.0.1', port: 61613, login: 'guest', passcode: 'guest', vhost: '/' },
      { host: '127.0.0.1', port: 61623, login: 'guest', passcode: 'guest', vhost: '/' },
      { host: '::1', port: 61633, login: 'guest', passcode: 'guest', vhost: '/' },
    ]);
  });

  it('reads vhost / from an empty path, "/" and "%2F", and a named vhost percent-decoded', () => {
    for (const url of ['stomp://h:1', 'stomp://h:1/', 'stomp://h:1/%2F']) expect(parseBrokerUrl(url).vhost, url).to.equal('/');
    expect(parseBrokerUrl('stomp://h:1/prod').vhost).to.equal('prod');
    expect(parseBrokerUrl('stomp://h:1/team%2Fa').vhost).to.equal('team/a');
    expect(parseBrokerUrl('stomp://h:1/a%2Cb').vhost, 'a comma in a vhost is written %2C').to.equal('a,b');
  });

  it('percent-decodes credentials and defaults them and the port', () => {
    expect(parseBrokerUrl('stomp://us%40er:p%3Ass%2Cw@h/')).to.include({ login: 'us@er', passcode: 'p:ss,w' });
    expect(parseBrokerUrl('stomp://h')).to.deep.equal({ host: 'h', port: 61613, login: 'guest', passcode: 'guest', vhost: '/' });
  });

  it('no longer reads a list as one URL whose vhost is the rest of the list', () => {
    const message = configError(() => parseBrokerUrl('stomp://guest:guest@127.0.0.1:61613/,stomp://guest:guest@127.0.0.1:61623/'));
    expect(message).to.match(/BROKER_URL lists 2 URLs where one is expected/);
  });

  it('names the bad entry of a list, and hides its password', () => {
    const bad = configError(() => parseBrokerUrls('stomp://guest:s3cret@a:61613/,amqp://guest:s3cret@b:5672/'));
    expect(bad).to.include('BROKER_URL entry 2 of 2 (amqp://guest:***@b:5672/)');
    expect(bad).to.include('must start with stomp://');
    expect(bad).to.not.include('s3cret');
    expect(configError(() => parseBrokerUrls('stomp://a/,not a url'))).to.match(/BROKER_URL entry 2 of 2 \(not a url\): is not a URL/);
    expect(configError(() => parseBrokerUrls('stomp://a:99999/'))).to.match(/not a URL/);
    expect(configError(() => parseBrokerUrls('stomp://a/?heartbeat=10'))).to.match(/query/);
    expect(configError(() => parseBrokerUrls('stomp://a%zz:b@h/'))).to.match(/percent/);
  });

  it('refuses empty entries, a repeated node, and an empty value', () => {
    expect(configError(() => parseBrokerUrls('stomp://a/,,stomp://b/'))).to.match(/BROKER_URL entry 2 of 3 is empty/);
    expect(configError(() => parseBrokerUrls('stomp://a/,'))).to.match(/BROKER_URL entry 2 of 2 is empty/);
    expect(configError(() => parseBrokerUrls('stomp://a:1/,stomp://b:1/,stomp://a:1/'))).to.match(/entry 3 of 3 .*repeats a:1 \(entry 1\)/);
    expect(configError(() => parseBrokerUrls(' '))).to.match(/BROKER_URL lists no URL/);
  });

  it('requires one login, passcode and vhost for every node, and says why', () => {
    const vhost = configError(() => parseBrokerUrls('stomp://a/prod,stomp://b/test'));
    expect(vhost).to.match(/BROKER_URL entry 2 of 2 \(stomp:\/\/b\/test\): vhost "test" differs from entry 1's "prod"/);
    expect(vhost).to.include('nodes of one cluster share users and virtual hosts');
    expect(configError(() => parseBrokerUrls('stomp://x:p@a/,stomp://y:p@b/'))).to.match(/login "y" differs from entry 1's "x"/);
    const passcode = configError(() => parseBrokerUrls('stomp://x:alpha@a/,stomp://x:beta@b/'));
    expect(passcode).to.match(/passcode differs from entry 1's/);
    expect(passcode).to.not.match(/alpha|beta/);
  });

  it('exits at start on a malformed list (configFromEnv), naming the entry', () => {
    const message = configError(() => configFromEnv({ BROKER_URL: 'stomp://a:61613/,stomp//b:61623/' }));
    expect(message).to.match(/BROKER_URL entry 2 of 2 \(stomp\/\/b:61623\/\)/);
    expect(configFromEnv({ BROKER_URL: 'stomp://a:61613/,stomp://b:61623/' }).brokerUrl).to.equal('stomp://a:61613/,stomp://b:61623/');
  });
});

describe('config: BROKER_AMQP_URL', () => {
  it('reads amqp:// lists with the same rules: defaults, vhost / and named, percent-encoding', () => {
    expect(parseAmqpUrls('amqp://relay:s%40cret@rabbit-1/prod,amqp://relay:s%40cret@rabbit-2:5673/prod')).to.deep.equal([
      { host: 'rabbit-1', port: 5672, username: 'relay', password: 's@cret', vhost: 'prod' },
      { host: 'rabbit-2', port: 5673, username: 'relay', password: 's@cret', vhost: 'prod' },
    ]);
    for (const url of ['amqp://h', 'amqp://h/', 'amqp://h/%2F']) expect(parseAmqpUrls(url)[0], url).to.include({ vhost: '/', username: 'guest', password: 'guest' });
  });

  it('names the bad entry', () => {
    expect(configError(() => parseAmqpUrls('amqp://a/,stomp://b/'))).to.match(/BROKER_AMQP_URL entry 2 of 2 \(stomp:\/\/b\/\): must start with amqp:\/\//);
    expect(configError(() => parseAmqpUrls('amqp://a/x,amqp://b/y'))).to.match(/BROKER_AMQP_URL entry 2 of 2 .*vhost "y" differs from entry 1's "x"/);
    expect(configError(() => parseAmqpUrls('amqp://u:p1@a/,amqp://u:p2@b/'))).to.match(/BROKER_AMQP_URL entry 2 of 2 \(amqp:\/\/u:\*\*\*@b\/\): password differs/);
  });

  it('is derived from BROKER_URL by default: same hosts, credentials and vhost, port 5672', () => {
    const stomp = parseBrokerUrls('stomp://relay:pw@rabbit-1:61613/prod,stomp://relay:pw@rabbit-2:61614/prod');
    expect(deriveAmqpEndpoints(stomp)).to.deep.equal([
      { host: 'rabbit-1', port: 5672, username: 'relay', password: 'pw', vhost: 'prod' },
      { host: 'rabbit-2', port: 5672, username: 'relay', password: 'pw', vhost: 'prod' },
    ]);
    expect(brokerAmqpEndpoints(resolveConfig({ brokerUrl: 'stomp://relay:pw@rabbit-1/prod' }))).to.deep.equal([
      { host: 'rabbit-1', port: 5672, username: 'relay', password: 'pw', vhost: 'prod' },
    ]);
    expect(brokerAmqpEndpoints(resolveConfig({ brokerUrl: 'stomp://a/', brokerAmqpUrl: 'amqp://a:6000/' }))).to.deep.equal([
      { host: 'a', port: 6000, username: 'guest', password: 'guest', vhost: '/' },
    ]);
    expect(brokerAmqpEndpoints(resolveConfig({}))).to.equal(undefined);
  });

  it('is read from the environment and the library option, and checked against BROKER_URL', () => {
    expect(configFromEnv({ BROKER_URL: 'stomp://a/', BROKER_AMQP_URL: 'amqp://a:5673/' }).brokerAmqpUrl).to.equal('amqp://a:5673/');
    expect(resolveConfig({ brokerUrl: 'stomp://a/', brokerAmqpUrl: 'amqp://a/' }).brokerAmqpUrl).to.equal('amqp://a/');
    expect(configError(() => configFromEnv({ BROKER_URL: 'stomp://a/', BROKER_AMQP_URL: 'amqp://a/,' }))).to.match(/BROKER_AMQP_URL entry 2 of 2 is empty/);
    expect(configError(() => resolveConfig({ brokerAmqpUrl: 'amqp://a/' }))).to.match(/BROKER_AMQP_URL is set but BROKER_URL is not/);
    expect(configError(() => resolveConfig({ brokerUrl: 'stomp://a/prod', brokerAmqpUrl: 'amqp://a/test' }))).to.match(/vhost "test" .* BROKER_URL's "prod"/);
  });
});

/**
 * AUTH_MODE=broker on a real RabbitMQ node: a CONNECT's login/passcode are checked against the
 * node's own users (added here with rabbitmqctl), the session is named by the login, wrong
 * credentials get ERROR AUTHENTICATION_FAILED, and no broker connection is left open per session.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CredentialCheck } from '../../../server/broker/rabbitmq/credential-check';
import { parseBrokerUrl } from '../../../server/config';
import { sharedRabbitNode, type RabbitNode } from '../../harness/rabbitmq';
import { expectRelayError } from '../../broker-suite/wait';
import {
  RawStomp, connect, startRelay, tryConnect, unique, waitFor, wsFactory,
  type TestRelay, trackClients,
} from '../../harness/stomp-test-kit';

describe('AUTH_MODE=broker on a real RabbitMQ', function () {
  this.timeout(60_000);
  let node: RabbitNode;
  let server: TestRelay;
  const track = trackClients();
  const users: string[] = [];
  const alice = unique('alice');
  const alicePassword = randomBytes(12).toString('hex');

  /** A RabbitMQ user with full permissions on the default vhost. */
  async function addUser(name: string, password: string): Promise<void> {
    await node.ctl(['add_user', name, password]);
    users.push(name);
    await node.ctl(['set_permissions', '-p', '/', name, '.*', '.*', '.*']);
  }

  /** STOMP connections RabbitMQ holds for `user`. */
  async function connectionsOf(user: string): Promise<number> {
    return (await node.listConnections()).filter((c) => c.user === user).length;
  }

  before(async () => {
    node = await sharedRabbitNode();
    await addUser(alice, alicePassword);
    server = await startRelay({ ...node.relayOptions, authMode: 'broker', serveDemo: false, instanceId: 'broker-auth' });
  });

  after(async () => {
    await server?.close();
    for (const user of users) await node.ctl(['delete_user', user]).catch(() => undefined);
  });

  it('names the session by the login RabbitMQ accepted, and keeps no broker connection open for it', async () => {
    const client = track(await connect(wsFactory(server.wsUrl), { connectHeaders: { login: alice, passcode: alicePassword } }));
    expect(client.connected.headers['user-name']).to.equal(alice);
    // The check opened a connection as alice and closed it; the session rides on the relay's pool.
    await waitFor(async () => (await connectionsOf(alice)) === 0, 'RabbitMQ to hold no connection as alice');
    const inbox = await client.subscribe('/user/queue/x');
    await server.relay.sendToUser(alice, '/queue/x', 'hello');
    expect((await inbox.messages.next('the push')).body).to.equal('hello');
  });

  const refusals: Array<[string, () => Record<string, string>, RegExp]> = [
    ['a wrong passcode', () => ({ login: alice, passcode: 'not-the-password' }), /refused/],
    ['a user RabbitMQ does not know', () => ({ login: unique('nobody'), passcode: 'x' }), /refused/],
    ['no login at all', () => ({ passcode: alicePassword }), /login/],
  ];
  for (const [name, headers, says] of refusals) {
    it(`refuses ${name} with ERROR AUTHENTICATION_FAILED and closes`, async () => {
      const outcome = await tryConnect(wsFactory(server.wsUrl), { connectHeaders: headers() });
      if (outcome.ok) {
        track(outcome.client);
        expect.fail(`connected as ${outcome.client.connected.headers['user-name']}`);
      }
      expect(outcome.error.headers.code).to.equal('AUTHENTICATION_FAILED');
      expect(outcome.error.headers.message).to.match(says);
      expect(outcome.error.headers.message).to.not.include('not-the-password');
      await outcome.closed;
    });
  }

  it('refuses a user without access to the vhost', async () => {
    const locked = unique('locked');
    await node.ctl(['add_user', locked, 'pw']);
    users.push(locked); // no set_permissions: RabbitMQ lets it log in nowhere
    const raw = track(await RawStomp.open(server.wsUrl));
    raw.sendFrame('CONNECT', { 'accept-version': '1.2', host: 'localhost', login: locked, passcode: 'pw' });
    const error = await raw.expect('ERROR');
    expect(error.headers.code).to.equal('AUTHENTICATION_FAILED');
    await raw.waitClosed();
  });

  it('answers a burst of CONNECTs with the same credentials with one sign-in at RabbitMQ, and lets nothing pile up there', async () => {
    const bob = unique('bob');
    await addUser(bob, 'bob-pw');
    const burst = 10;
    const refused = await Promise.all(Array.from({ length: burst }, () =>
      tryConnect(wsFactory(server.wsUrl), { connectHeaders: { login: bob, passcode: 'bob-guess' } })));
    expect(refused.map((o) => (o.ok ? 'CONNECTED' : o.error.headers.code))).to.deep.equal(Array(burst).fill('AUTHENTICATION_FAILED'));
    // RabbitMQ logs every refused login with the user's name: one line means one attempt.
    const failedLogins = () => readFileSync(node.logFile, 'utf8').split(`login failed for user '${bob}'`).length - 1;
    await waitFor(() => failedLogins() >= 1, 'RabbitMQ to log the refused login');
    expect(failedLogins()).to.equal(1);

    const sessions = await Promise.all(Array.from({ length: burst }, () =>
      connect(wsFactory(server.wsUrl), { connectHeaders: { login: bob, passcode: 'bob-pw' } })));
    sessions.forEach(track);
    expect(sessions.map((s) => s.connected.headers['user-name'])).to.deep.equal(Array(burst).fill(bob));
    await waitFor(async () => (await connectionsOf(bob)) === 0, 'RabbitMQ to hold no connection as bob');
  });

  describe('CredentialCheck against the node', () => {
    it('accepts guest/guest over loopback, refuses a wrong passcode, and reports an unreachable broker as BROKER_UNAVAILABLE', async () => {
      const endpoint = parseBrokerUrl(node.brokerUrl);
      const check = new CredentialCheck({ endpoint });
      await check.verify('guest', 'guest');
      await expectRelayError(check.verify('guest', 'wrong'), 'AUTHENTICATION_FAILED');
      const nowhere = new CredentialCheck({ endpoint: { ...endpoint, port: 1 }, connectTimeoutMs: 2_000 });
      await expectRelayError(nowhere.verify('guest', 'guest'), 'BROKER_UNAVAILABLE');
    });
  });
});

/**
 * `ACL_FILE` / `aclFile`: the shared authorization suite run with the policy written as YAML rules,
 * then what only a file can get wrong. (The CLI's refusal of a bad file: test/integration/server/cli.test.ts.)
 */
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRelay } from '../../../server/relay';
import { silentLogger } from '../../../server/observability/logger';
import { startEmbeddedRelay, tryConnect, wsFactory, type TestRelay } from '../../harness/stomp-test-kit';
import { POLICY_YAML, authorizationSuite } from './authorization-suite';

const dir = mkdtempSync(join(tmpdir(), 'stomp-relay-acl-'));

function aclFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

authorizationSuite('authorization: ACL_FILE rules (YAML)', () => ({ aclFile: aclFile('policy.yaml', POLICY_YAML) }));

describe('authorization: ACL_FILE specifics', function () {
  this.timeout(20_000);

  it('refuses to start with both an authorize function and an ACL file', () => {
    const path = aclFile('both.yaml', 'default: allow\nrules: []\n');
    expect(() => createRelay({ logger: silentLogger(), aclFile: path, authorize: () => true })).to.throw(/both an authorize function and an ACL file/);
  });

  it('refuses to start with a file that has problems, naming each', () => {
    const path = aclFile('bad.yaml', 'default: sometimes\nrules:\n  - destination: /topic/{x\n    allow: everyone\n');
    expect(() => createRelay({ logger: silentLogger(), aclFile: path })).to.throw(/bad\.yaml has 3 problems:[^]*default:[^]*rules\[0\]\.destination:[^]*rules\[0\]\.allow:/);
  });

  describe('with default allow and anonymous dev-mode sessions', () => {
    let server: TestRelay;
    before(async () => {
      const path = aclFile('members.json', JSON.stringify({
        default: 'allow',
        rules: [{ destination: '/topic/members.#', commands: ['SUBSCRIBE'], allow: 'authenticated' }],
      }));
      server = await startEmbeddedRelay({ aclFile: path });
    });
    after(async () => { await server.close(); });

    it('lets anonymous sessions use what no rule restricts, and refuses them what needs a user', async () => {
      const outcome = await tryConnect(wsFactory(server.wsUrl));
      if (!outcome.ok) throw new Error(outcome.error.headers.message);
      const anonymous = outcome.client;
      const open = await anonymous.subscribe('/topic/open');
      await anonymous.publish('/topic/open', 'for all');
      expect((await open.messages.next('the open message')).body).to.equal('for all');
      anonymous.client.subscribe('/topic/members.news', () => undefined);
      const error = await anonymous.errors.next('ERROR for the members topic');
      expect(error.headers.code).to.equal('ACCESS_DENIED');
      expect(error.headers.message).to.equal('access denied: SUBSCRIBE to /topic/members.news is not allowed for an anonymous session');
      await anonymous.closed;

      const member = await tryConnect(wsFactory(server.wsUrl), { login: 'mia' });
      if (!member.ok) throw new Error(member.error.headers.message);
      await member.client.subscribe('/topic/members.news');
      await member.client.close();
    });
  });
});

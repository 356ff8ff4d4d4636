/**
 * ONE authorization policy, and the suite every way of enforcing it must pass: a hand-written
 * `createRelay({ authorize })` function (authorize.test.ts) and an `ACL_FILE` (acl-file.test.ts)
 * run the same tests against a relay embedded in a host express app, with stompjs clients holding
 * JWTs whose claims the policy reads.
 *
 * The policy (first match wins; anything else is denied):
 *
 * | destination                | SUBSCRIBE               | SEND                    |
 * |----------------------------|-------------------------|-------------------------|
 * | `/topic/orders.*`          | users alice, root       | claim role: admin       |
 * | `/queue/admin.#`           | claim role: admin       | claim role: admin       |
 * | `/topic/tenant.{tenant}.#` | claim tenant: {tenant}  | claim tenant: {tenant}  |
 * | `/user/queue/#`            | any authenticated user  | (denied)                |
 * | `/user/{user}/queue/#`     | (denied)                | claim role: admin       |
 * | `/app/#`                   | (denied)                | any authenticated user  |
 */
import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import type { AuthorizationRequest } from '../../../server/auth/authorization';
import type { CreateRelayOptions } from '../../../server/relay';
import { startEmbeddedRelay, tryConnect, unique, wsFactory, type TestClient, type TestRelay } from '../../harness/stomp-test-kit';

export const SECRET = 'authorization-suite-secret';

/** The users of the policy and their JWT claims. */
export const USERS = {
  alice: { role: 'trader' },
  bob: {},
  root: { role: ['ops', 'admin'] },
  carol: { tenant: 'acme' },
} as const;

export type UserName = keyof typeof USERS;

/** A JWT for `sub` with `claims`, valid for an hour. */
export function token(sub: string, claims: object = {}): string {
  return jwt.sign({ ...claims, sub }, SECRET, { algorithm: 'HS256', expiresIn: 3600 });
}

/** The policy as an ACL file (YAML). */
export const POLICY_YAML = `
default: deny
rules:
  - destination: /topic/orders.*
    commands: [SUBSCRIBE]
    allow: { users: [alice, root] }
  - destination: /topic/orders.*
    commands: [SEND]
    allow: { claims: { role: admin } }
  - destination: /queue/admin.#
    allow: { claims: { role: admin } }
  - destination: /topic/tenant.{tenant}.#
    allow: { claims: { tenant: '{tenant}' } }
  - destination: /user/queue/#
    commands: [SUBSCRIBE]
    allow: authenticated
  - destination: /user/{user}/queue/#
    commands: [SEND]
    allow: { claims: { role: admin } }
  - destination: /app/#
    commands: [SEND]
    allow: authenticated
`;

/** The same policy, written by hand as an `authorize` function. */
export function policyFunction({ principal, command, destination }: AuthorizationRequest): boolean {
  const claims = principal?.claims ?? {};
  const hasClaim = (name: string, value: string) => {
    const held = claims[name];
    return held === value || (Array.isArray(held) && held.includes(value));
  };
  if (/^\/topic\/orders\.[^/.]+$/.test(destination)) {
    return command === 'SUBSCRIBE' ? ['alice', 'root'].includes(principal?.name ?? '') : hasClaim('role', 'admin');
  }
  if (/^\/queue\/admin(\..*)?$/.test(destination)) return hasClaim('role', 'admin');
  const tenant = /^\/topic\/tenant\.([^/]+?)(\..*)?$/.exec(destination);
  if (tenant) return hasClaim('tenant', tenant[1]);
  if (destination.startsWith('/user/queue/') && command === 'SUBSCRIBE') return principal !== null;
  if (/^\/user\/[^/]+\/queue\//.test(destination) && command === 'SEND') return hasClaim('role', 'admin');
  if (destination.startsWith('/app/') && command === 'SEND') return principal !== null;
  return false;
}

/**
 * Runs the shared tests against a relay started with `policy()`'s options (an `authorize` function
 * or an `aclFile`), in JWT mode.
 */
export function authorizationSuite(title: string, policy: () => Partial<CreateRelayOptions>): void {
  describe(title, function () {
    this.timeout(20_000);
    let server: TestRelay;
    const open: TestClient[] = [];

    before(async () => {
      server = await startEmbeddedRelay({ authJwtSecret: SECRET, ...policy() }, (relay) => {
        relay.onMessage('/echo', { sendToUser: '/queue/echo' }, (msg) => `echo: ${msg.text()}`);
      });
    });
    afterEach(async () => { await Promise.all(open.splice(0).map((c) => c.close().catch(() => undefined))); });
    after(async () => { await server.close(); });

    async function as(user: UserName): Promise<TestClient> {
      const outcome = await tryConnect(wsFactory(server.wsUrl), { connectHeaders: { passcode: token(user, USERS[user]) } });
      if (!outcome.ok) throw new Error(`${user} could not connect: ${outcome.error.headers.message}`);
      open.push(outcome.client);
      return outcome.client;
    }

    /** `user` tries `command` on `destination` and must get ERROR ACCESS_DENIED, then be closed. */
    async function expectDenied(user: UserName, command: 'SUBSCRIBE' | 'SEND', destination: string): Promise<void> {
      const c = await as(user);
      const receipt = unique('denied');
      if (command === 'SUBSCRIBE') c.client.subscribe(destination, () => undefined, { receipt });
      else c.client.publish({ destination, body: 'x', headers: { receipt } });
      const error = await c.errors.next(`ERROR for ${user}'s ${command} ${destination}`);
      expect(error.headers.code, error.headers.message).to.equal('ACCESS_DENIED');
      expect(error.headers.message).to.include(command).and.include(destination).and.include(user);
      expect(error.headers['receipt-id']).to.equal(receipt);
      await c.closed;
    }

    it('lets a listed user SUBSCRIBE and receive what a sender with the right claim SENDs', async () => {
      const destination = `/topic/orders.${unique('eu')}`;
      const sub = await (await as('alice')).subscribe(destination);
      await (await as('root')).publish(destination, 'order 1');
      expect((await sub.messages.next('the order')).body).to.equal('order 1');
    });

    it('refuses a SUBSCRIBE by a user the rule does not list: ERROR ACCESS_DENIED naming command, destination and user, then close', async () => {
      await expectDenied('bob', 'SUBSCRIBE', `/topic/orders.${unique('eu')}`);
    });

    it('decides per command: alice may SUBSCRIBE to orders but not SEND', async () => {
      await expectDenied('alice', 'SEND', `/topic/orders.${unique('eu')}`);
    });

    it('matches a claim held in an array (role: [ops, admin]) for both commands of a # pattern', async () => {
      const destination = `/queue/admin.${unique('jobs')}.nightly`;
      const root = await as('root');
      const jobs = await root.subscribe(destination);
      await root.publish(destination, 'job');
      expect((await jobs.messages.next('the job')).body).to.equal('job');
      await expectDenied('alice', 'SUBSCRIBE', destination);
    });

    it('binds a destination template to a claim: tenant.{tenant}.# needs tenant = {tenant}', async () => {
      const carol = await as('carol');
      const news = await carol.subscribe('/topic/tenant.acme.news');
      await carol.publish('/topic/tenant.acme.news', 'acme news');
      expect((await news.messages.next('the tenant news')).body).to.equal('acme news');
      await expectDenied('carol', 'SUBSCRIBE', '/topic/tenant.globex.news');
    });

    it('sees user destinations as the client wrote them: /user/queue/… to subscribe, /user/{name}/queue/… to send', async () => {
      const inbox = await (await as('bob')).subscribe('/user/queue/inbox');
      await (await as('root')).publish('/user/bob/queue/inbox', 'from root');
      expect((await inbox.messages.next('the private message')).body).to.equal('from root');
      await expectDenied('alice', 'SEND', '/user/bob/queue/inbox');
    });

    it('lets /app SENDs through to their handler', async () => {
      const alice = await as('alice');
      const echoes = await alice.subscribe('/user/queue/echo');
      await alice.publish('/app/echo', 'hi');
      expect((await echoes.messages.next('the echo')).body).to.equal('echo: hi');
    });

    it('denies what no rule matches, for both commands', async () => {
      await expectDenied('root', 'SUBSCRIBE', `/topic/${unique('elsewhere')}`);
      await expectDenied('root', 'SEND', `/topic/${unique('elsewhere')}`);
    });

    it('ends only the refused session: others keep their subscriptions', async () => {
      const destination = `/topic/orders.${unique('eu')}`;
      const sub = await (await as('alice')).subscribe(destination);
      await expectDenied('bob', 'SUBSCRIBE', destination);
      await (await as('root')).publish(destination, 'still here');
      expect((await sub.messages.next('the order after the refusal')).body).to.equal('still here');
    });
  });
}

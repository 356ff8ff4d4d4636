import { expect } from 'chai';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { Acl } from '../../../server/auth/acl';
import type { AuthorizationRequest, AuthorizedCommand } from '../../../server/auth/authorization';
import type { Principal } from '../../../server/auth/authenticator';
import { frozenCopy } from '../../../server/session/authorization';

function request(principal: Principal | null, command: AuthorizedCommand, destination: string): AuthorizationRequest {
  return { principal, sessionId: 's', command, destination, headers: {} };
}

const alice: Principal = { name: 'alice', claims: { sub: 'alice', scope: 'read push', level: 3 } };

function problemsOf(doc: unknown): string {
  try {
    Acl.fromObject(doc, 'test.yaml');
    return 'valid';
  } catch (err) {
    return (err as Error).message;
  }
}

describe('ACL rules (ACL_FILE)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'acl-'));

  it('first match wins; the default decides what no rule matches', () => {
    const acl = Acl.fromObject({
      default: 'allow',
      rules: [
        { destination: '/topic/secret.#', allow: 'nobody' },
        { destination: '/topic/#', allow: 'anyone' },
      ],
    });
    expect(acl.decide(request(alice, 'SUBSCRIBE', '/topic/secret.plans'))).to.equal(false);
    expect(acl.decide(request(alice, 'SUBSCRIBE', '/topic/public'))).to.equal(true);
    expect(acl.decide(request(alice, 'SEND', '/queue/anything')), 'default: allow').to.equal(true);
  });

  it('anyone includes anonymous sessions, authenticated does not', () => {
    const acl = Acl.fromObject({ default: 'deny', rules: [
      { destination: '/topic/open', allow: 'anyone' },
      { destination: '/topic/members', allow: 'authenticated' },
    ] });
    expect(acl.decide(request(null, 'SUBSCRIBE', '/topic/open'))).to.equal(true);
    expect(acl.decide(request(null, 'SUBSCRIBE', '/topic/members'))).to.equal(false);
    expect(acl.decide(request(alice, 'SUBSCRIBE', '/topic/members'))).to.equal(true);
  });

  it('a list of alternatives allows when one holds; within one, users and claims must all hold', () => {
    const acl = Acl.fromObject({ default: 'deny', rules: [
      { destination: '/queue/x', allow: [{ users: ['bob'] }, { users: ['alice'], claims: { level: 3 } }] },
      { destination: '/queue/y', allow: { users: ['alice'], claims: { level: 4 } } },
    ] });
    expect(acl.decide(request(alice, 'SEND', '/queue/x'))).to.equal(true);
    expect(acl.decide(request({ name: 'bob' }, 'SEND', '/queue/x'))).to.equal(true);
    expect(acl.decide(request(alice, 'SEND', '/queue/y'))).to.equal(false);
  });

  it('claims: arrays hold by membership, a space-separated scope by its words, values compare strictly', () => {
    const acl = Acl.fromObject({ default: 'deny', rules: [
      { destination: '/a', allow: { claims: { scope: 'push' } } },
      { destination: '/b', allow: { claims: { level: '3' } } },
      { destination: '/c', allow: { claims: { role: ['admin', 'ops'] } } },
    ] });
    expect(acl.decide(request(alice, 'SEND', '/a'))).to.equal(true);
    expect(acl.decide(request(alice, 'SEND', '/b')), 'the string "3" is not the number 3').to.equal(false);
    expect(acl.decide(request({ name: 'x', claims: { role: ['ops'] } }, 'SEND', '/c'))).to.equal(true);
    expect(acl.decide(request({ name: 'x', claims: { role: 'guest' } }, 'SEND', '/c'))).to.equal(false);
  });

  it('claims: a scope holds by whole words (OAuth 2), however the words are spaced; `nopush` is not `push`', () => {
    const acl = Acl.fromObject({ default: 'deny', rules: [{ destination: '/a', allow: { claims: { scope: 'push' } } }, { destination: '/b', allow: { claims: { scp: 'push' } } }] });
    for (const scope of ['read\tpush', 'read  push', ' push ', 'read\npush']) {
      expect(acl.decide(request({ name: 'x', claims: { scope } }, 'SEND', '/a')), JSON.stringify(scope)).to.equal(true);
    }
    for (const scope of ['nopush', 'pushx', 'push:read', 'read nopush', 'no-push']) {
      expect(acl.decide(request({ name: 'x', claims: { scope } }, 'SEND', '/a')), scope).to.equal(false);
      expect(acl.decide(request({ name: 'x', claims: { scp: scope } }, 'SEND', '/b')), `scp ${scope}`).to.equal(false);
    }
    expect(acl.decide(request({ name: 'x', claims: { scp: 'read\tpush' } }, 'SEND', '/b'))).to.equal(true);
  });

  it('a claim named __proto__ grants nothing, through the frozen copy an authorizer sees', () => {
    const acl = Acl.fromObject({ default: 'deny', rules: [{ destination: '/queue/admin', allow: { claims: { role: 'admin' } } }] });
    const claims = JSON.parse('{"sub":"mallory","__proto__":{"role":"admin"}}') as Record<string, unknown>;
    const principal = frozenCopy({ name: 'mallory', claims }) as Principal;
    expect(Object.keys(principal.claims!)).to.include('__proto__');
    expect(acl.decide(request(principal, 'SEND', '/queue/admin'))).to.equal(false);
    expect((principal.claims as Record<string, unknown>).role).to.equal(undefined);
  });

  it('templates: users and claims read the variables the destination binds', () => {
    const acl = Acl.fromObject({ default: 'deny', rules: [
      { destination: '/topic/inbox.{owner}', allow: { users: ['{owner}'] } },
      { destination: '/topic/t.{tenant}.#', allow: { claims: { tenants: '{tenant}' } } },
    ] });
    expect(acl.decide(request(alice, 'SUBSCRIBE', '/topic/inbox.alice'))).to.equal(true);
    expect(acl.decide(request(alice, 'SUBSCRIBE', '/topic/inbox.bob'))).to.equal(false);
    const carol = { name: 'carol', claims: { tenants: ['acme', 'initech'] } };
    expect(acl.decide(request(carol, 'SUBSCRIBE', '/topic/t.initech.news'))).to.equal(true);
    expect(acl.decide(request(carol, 'SUBSCRIBE', '/topic/t.globex.news'))).to.equal(false);
  });

  it('a wildcard subscription matches a rule only when the rule covers all it could receive', () => {
    const acl = Acl.fromObject({ default: 'deny', rules: [
      { destination: '/topic/orders.*', commands: ['SUBSCRIBE'], allow: 'anyone' },
      { destination: '/topic/t.{tenant}.#', allow: { claims: { tenant: '{tenant}' } } },
    ] });
    expect(acl.decide(request(alice, 'SUBSCRIBE', '/topic/orders.*'))).to.equal(true);
    expect(acl.decide(request(alice, 'SUBSCRIBE', '/topic/orders.#')), 'orders.# reaches orders.eu.north too').to.equal(false);
    const carol = { name: 'carol', claims: { tenant: 'acme' } };
    expect(acl.decide(request(carol, 'SUBSCRIBE', '/topic/t.*.news')), 'every tenant\'s news').to.equal(false);
  });

  it('commands: a rule for SUBSCRIBE says nothing about SEND (and letter case does not matter)', () => {
    const acl = Acl.fromObject({ default: 'deny', rules: [{ destination: '/topic/x', commands: ['subscribe'], allow: 'anyone' }] });
    expect(acl.decide(request(alice, 'SUBSCRIBE', '/topic/x'))).to.equal(true);
    expect(acl.decide(request(alice, 'SEND', '/topic/x'))).to.equal(false);
  });

  it('lists every problem of a file at once, each with where it is', () => {
    const message = problemsOf({
      default: 'maybe',
      rules: [
        { destination: 'topic/x', allow: 'anyone' },
        { destination: '/topic/{room}', commands: ['SUBSCRIBE', 'UNSUBSCRIBE'], allow: { claims: { room: '{rom}' } } },
        { destination: '/topic/y', alow: 'anyone' },
        { destination: '/topic/z', allow: { claims: { sub: { user: null } } } },
        { destination: '/topic/w', allow: { users: [] } },
        'not a rule',
      ],
      extra: true,
    });
    for (const expected of [
      /test\.yaml has 10 problems/,
      /default: must be "allow" or "deny", got "maybe"/,
      /rules\[0\]\.destination: .*must start with "\/"/,
      /rules\[1\]\.commands\[1\]: "UNSUBSCRIBE".*always allowed/,
      /rules\[1\]\.allow\.claims\.room: \{rom\} is not a variable of \/topic\/\{room\}/,
      /rules\[2\]: unknown key "alow"/,
      /rules\[2\]: "allow" is missing/,
      /rules\[3\]\.allow\.claims\.sub: .*quotes/,
      /rules\[4\]\.allow\.users: must be a non-empty list/,
      /rules\[5\]: must be a mapping/,
      /unknown key "extra"/,
    ]) expect(message).to.match(expected);
  });

  it('reads YAML and JSON files, and says where a file is not parseable', () => {
    const yamlFile = join(dir, 'acl.yaml');
    writeFileSync(yamlFile, 'default: deny\nrules:\n  - destination: /user/{user}/queue/#\n    allow: { claims: { sub: "{user}" } }\n');
    const acl = Acl.fromFile(yamlFile);
    expect(acl.decide(request(alice, 'SEND', '/user/alice/queue/x'))).to.equal(true);
    expect(acl.decide(request(alice, 'SEND', '/user/bob/queue/x'))).to.equal(false);

    const jsonFile = join(dir, 'acl.json');
    writeFileSync(jsonFile, JSON.stringify({ default: 'allow', rules: [] }));
    expect(Acl.fromFile(jsonFile).decide(request(null, 'SEND', '/topic/x'))).to.equal(true);

    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'default: deny\nrules:\n  - destination: [unclosed\n');
    expect(() => Acl.fromFile(broken)).to.throw(/broken\.yaml.*line/s);
    expect(() => Acl.fromFile(join(dir, 'missing.yaml'))).to.throw(/cannot read/);
    const txt = join(dir, 'acl.txt');
    writeFileSync(txt, '{}');
    expect(() => Acl.fromFile(txt)).to.throw(/\.json, \.yaml or \.yml/);
  });

  it('accepts the example of docs/operations.md, which means what it says', () => {
    const doc = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'operations.md'), 'utf8');
    const example = /### Authorization \(`ACL_FILE`\)[^]*?```yaml\n([^]*?)```/.exec(doc)?.[1];
    expect(example, 'the YAML example').to.be.a('string');
    const acl = Acl.fromObject(parseYaml(example!), 'docs/operations.md');
    expect(acl.decide(request({ name: 'alice' }, 'SUBSCRIBE', '/topic/orders.eu'))).to.equal(true);
    expect(acl.decide(request({ name: 'x', claims: { role: 'support' } }, 'SEND', '/user/bob/queue/chat'))).to.equal(true);
    expect(acl.decide(request({ name: 'ops-bot' }, 'SEND', '/user/bob/queue/chat'))).to.equal(true);
    expect(acl.decide(request({ name: 'bob' }, 'SEND', '/user/alice/queue/chat'))).to.equal(false);
    expect(acl.decide(request(null, 'SUBSCRIBE', '/topic/public.news'))).to.equal(true);
  });
});

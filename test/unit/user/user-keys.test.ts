/**
 * Distinct user names never share a mailbox: the routing key of a user destination, the queue of a
 * durable subscription and the key of an anonymous session are functions of the name's exact code
 * points. No case folding (`Alice` is not `alice`) and no Unicode normalisation (`é` precomposed,
 * U+00E9, is not `e` + U+0301): a name is the identity the authenticator gave (a JWT's `sub`), and
 * folding two of them together would hand one user the other's messages (docs/protocol.md, "User
 * names").
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { durableQueueName } from '../../../server/broker/subscription-flags';
import { escapeKeySegment, sessionBrokerDestination, userBrokerDestination, userBrokerDestinations } from '../../../server/user/user-destinations';

/** Pairs that a case fold, a Unicode normalisation or a lossy escape would merge. */
const LOOK_ALIKES: [string, string][] = [
  ['Alice', 'alice'],
  ['ALICE', 'alice'],
  ['\u00e9mile', 'e\u0301mile'], // NFC vs NFD
  ['\u212b', '\u00c5'], // ANGSTROM SIGN vs LATIN CAPITAL A WITH RING (NFC maps the first to the second)
  ['\ufb01', 'fi'], // NFKC folds the ligature
  ['stra\u00dfe', 'strasse'], // full case folding
  ['a.b', 'a~2Eb'], // the escape's own alphabet
  ['a b', 'a_b'],
  ['a/b', 'a%2Fb'],
  ['x'.repeat(200), 'x'.repeat(199) + 'y'], // long names go through a digest
  ['Alice'.repeat(20), 'alice'.repeat(20)],
  ['\u00e9'.repeat(40), 'e\u0301'.repeat(40)],
];

describe('user: keys of user names', () => {
  it('gives look-alike names (case, Unicode normalisation, escapes, long names) keys of their own', () => {
    for (const [a, b] of LOOK_ALIKES) {
      const shown = `${JSON.stringify(a)} / ${JSON.stringify(b)}`;
      expect(userBrokerDestination(a, '/queue/x'), shown).to.not.equal(userBrokerDestination(b, '/queue/x'));
      expect(durableQueueName(a, '/topic/x', 's'), shown).to.not.equal(durableQueueName(b, '/topic/x', 's'));
    }
  });

  it('gives the same name the same key, whatever instance computes it', () => {
    expect(userBrokerDestination('Alice', '/queue/x')).to.equal(userBrokerDestination('Alice', '/queue/x'));
  });

  it('never lets two distinct (user, destination) pairs share a key (property)', () => {
    const name = fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: 'grapheme', maxLength: 40 }), fc.constantFrom(...LOOK_ALIKES.flat()));
    const destination = fc.oneof(fc.constantFrom('/queue/x', '/topic/x', '/queue/x.y'), fc.string({ maxLength: 20 }).map((s) => '/queue/' + s));
    fc.assert(fc.property(name, destination, name, destination, (u1, d1, u2, d2) => {
      fc.pre(u1 !== u2 || d1 !== d2);
      expect(userBrokerDestination(u1, d1)).to.not.equal(userBrokerDestination(u2, d2));
    }), { numRuns: 2000 });
  });

  it('keeps user keys and anonymous session keys apart, even when a user is named like a session', () => {
    expect(userBrokerDestination('s-1', '/queue/x')).to.not.equal(sessionBrokerDestination('s-1', '/queue/x'));
  });

  it('keeps every key within RabbitMQ\'s 255-byte routing key limit', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 300 }), (user, dest) => {
      const key = userBrokerDestination(user, '/queue/' + dest).slice('/exchange/amq.direct/'.length);
      expect(Buffer.byteLength(key, 'utf8')).to.be.at.most(255);
    }), { numRuns: 200 });
  });

  it('escapes names that need no escaping and names that do into the same keys as always', () => {
    expect(userBrokerDestination('alice', '/queue/x')).to.equal('/exchange/amq.direct/stomp-relay.user.alice.~2Fqueue~2Fx');
    expect(escapeKeySegment('Bob_2-x')).to.equal('Bob_2-x');
    expect(escapeKeySegment('a.b c/\u00e9')).to.equal('a~2Eb~20c~2F~C3~A9');
    expect(escapeKeySegment('')).to.equal('');
  });

  it('gives a batch\'s keys (userBrokerDestinations, destination escaped once) exactly the single push\'s keys (property)', () => {
    const name = fc.oneof(fc.string({ maxLength: 80 }), fc.stringMatching(/^[A-Za-z0-9_-]{0,70}$/), fc.constantFrom(...LOOK_ALIKES.flat()));
    const destination = fc.oneof(fc.constantFrom('/queue/x', '/topic/x.y'), fc.string({ maxLength: 80 }).map((s) => '/queue/' + s));
    fc.assert(fc.property(name, destination, (user, dest) => {
      expect(userBrokerDestinations(dest)(user)).to.equal(userBrokerDestination(user, dest));
    }), { numRuns: 1000 });
  });
});

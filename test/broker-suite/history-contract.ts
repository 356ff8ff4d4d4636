/**
 * The contract of the optional history capability (server/broker/history.ts), one suite for every
 * engine that offers it: the embedded broker (test/unit/broker) and RabbitMQ's streams
 * (test/integration/rabbitmq). It drives `record` and `replay` directly on user-destination names,
 * the only destinations the relay records; the session's seam (resume-gate.ts) has its own tests.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { Broker, BrokerMessage } from '../../server/broker/broker';
import { RESUME_TOKEN_HEADER, type MessageHistory } from '../../server/broker/history';
import { headers as makeHeaders } from '../../server/codec/frame';
import { userBrokerDestination } from '../../server/user/user-destinations';
import { RecordingSink } from './recording-sink';
import { waitUntil } from './wait';
import type { BrokerFixture } from './broker-contract';

/** The settings every history fixture is made with (one set, so RabbitMQ's streams keep their arguments). */
export const HISTORY_CONTRACT_OPTIONS = Object.freeze({ windowMs: 4000, maxMessages: 5 });

export function historyContract(name: string, factory: () => Promise<BrokerFixture>): void {
  describe(`${name} history contract`, function () {
    let fixture: BrokerFixture | undefined;
    let broker: Broker;
    let history: MessageHistory;

    beforeEach(async function () {
      fixture = await factory();
      broker = fixture.broker;
      expect(broker.history, 'the fixture offers history').to.not.equal(undefined);
      history = broker.history!;
    });

    afterEach(async function () {
      const done = fixture;
      fixture = undefined;
      await done?.teardown();
    });

    /** A user destination nobody used before. */
    function freshUserDestination(): string {
      return userBrokerDestination(`history-${randomBytes(6).toString('hex')}`, '/queue/notes');
    }

    function record(destination: string, body: string): Promise<string> {
      return history.record(destination, { headers: makeHeaders({ 'content-type': 'text/plain', n: body }), body: Buffer.from(body) });
    }

    async function recordAll(destination: string, bodies: string[]): Promise<string[]> {
      const tokens: string[] = [];
      for (const body of bodies) tokens.push(await record(destination, body));
      return tokens;
    }

    const bodiesOf = (messages: BrokerMessage[]) => messages.map((m) => m.body.toString());

    it('gives each record its own token', async function () {
      const destination = freshUserDestination();
      const tokens = await recordAll(destination, ['a', 'b', 'c']);
      expect(new Set(tokens).size).to.equal(3);
      for (const token of tokens) expect(token).to.be.a('string').and.not.equal('');
    });

    it('replays what was recorded after a token, in order, each with its token, headers and body', async function () {
      const destination = freshUserDestination();
      const [first, ...rest] = await recordAll(destination, ['m0', 'm1', 'm2', 'm3']);
      const replay = await history.replay(destination, first);
      expect(replay.gap).to.equal(false);
      expect(bodiesOf(replay.messages)).to.deep.equal(['m1', 'm2', 'm3']);
      expect(replay.messages.map((m) => m.headers[RESUME_TOKEN_HEADER])).to.deep.equal(rest);
      expect(replay.messages.map((m) => m.headers.n)).to.deep.equal(['m1', 'm2', 'm3']);
      expect(replay.messages[0].headers['content-type']).to.equal('text/plain');
      expect(replay.position).to.equal(rest[2]);
    });

    it('replays nothing, and no gap, from the newest token; its position resumes exactly there', async function () {
      const destination = freshUserDestination();
      const [, last] = await recordAll(destination, ['x', 'y']);
      const empty = await history.replay(destination, last);
      expect(empty.gap).to.equal(false);
      expect(empty.messages).to.deep.equal([]);
      expect(empty.position, 'a position to resume from').to.be.a('string');
      await recordAll(destination, ['z']);
      const next = await history.replay(destination, empty.position!);
      expect(next.gap).to.equal(false);
      expect(bodiesOf(next.messages)).to.deep.equal(['z']);
    });

    it('gives a position for "now": a replay from it returns exactly what was recorded after it', async function () {
      const destination = freshUserDestination();
      await recordAll(destination, ['before']);
      const position = await history.position(destination);
      expect(position, 'a position').to.be.a('string');
      await recordAll(destination, ['after-1', 'after-2']);
      const replay = await history.replay(destination, position!);
      expect(replay.gap).to.equal(false);
      expect(bodiesOf(replay.messages)).to.deep.equal(['after-1', 'after-2']);
    });

    it('keeps destinations apart: a token from another user replays nothing of theirs', async function () {
      const alice = freshUserDestination();
      const bob = freshUserDestination();
      const [aliceToken] = await recordAll(alice, ['alice-0']);
      await recordAll(bob, ['bob-1']);
      await recordAll(alice, ['alice-1']);
      const replay = await history.replay(bob, aliceToken);
      for (const message of replay.messages) expect(message.body.toString()).to.match(/^bob-/);
      const own = await history.replay(alice, aliceToken);
      expect(bodiesOf(own.messages)).to.deep.equal(['alice-1']);
    });

    it('reports a gap for a forged or malformed token', async function () {
      const destination = freshUserDestination();
      await recordAll(destination, ['kept']);
      for (const forged of ['', 'nonsense', 'r1.4.0.zzzz.x.1', 'm1.deadbeef.1.1', '../../etc', '\u0000'.repeat(300)]) {
        const replay = await history.replay(destination, forged);
        expect(replay.gap, `gap for ${JSON.stringify(forged.slice(0, 20))}`).to.equal(true);
      }
    });

    it('reports a gap when more than maxMessages came after the token, and gives the newest', async function () {
      const destination = freshUserDestination();
      const { maxMessages } = history;
      const [first] = await recordAll(destination, ['start']);
      const bodies = Array.from({ length: maxMessages + 3 }, (_, i) => `n${i}`);
      await recordAll(destination, bodies);
      const replay = await history.replay(destination, first);
      expect(replay.gap).to.equal(true);
      expect(bodiesOf(replay.messages)).to.deep.equal(bodies.slice(-maxMessages));
    });

    it('returns a message recorded before the replay even if it is routed only after it (the seam)', async function () {
      const destination = freshUserDestination();
      const sink = new RecordingSink();
      const consumer = await broker.subscribe({ destination, ack: 'auto', headers: makeHeaders({}) }, sink);
      const [before] = await recordAll(destination, ['before']);
      const token = await record(destination, 'recorded-not-yet-routed');
      const replay = await history.replay(destination, before);
      expect(bodiesOf(replay.messages)).to.deep.equal(['recorded-not-yet-routed']);
      // The publisher's duty: publish with the token after recording. The live copy then also comes.
      await broker.publish({ destination, headers: makeHeaders({ [RESUME_TOKEN_HEADER]: token }), body: Buffer.from('recorded-not-yet-routed') }, { confirm: true });
      await waitUntil(() => sink.deliveries.length === 1, () => `live copy: ${sink.deliveries.length}`);
      expect(sink.deliveries[0].message.headers[RESUME_TOKEN_HEADER]).to.equal(token);
      await consumer.close();
    });

    it('reports a gap for a token older than the window', async function () {
      this.timeout(20_000);
      const destination = freshUserDestination();
      const [old] = await recordAll(destination, ['old']);
      const recordedAt = Date.now();
      // What is tested is the passing of time itself: wait for the clock, not for an event.
      await waitUntil(() => Date.now() - recordedAt > history.windowMs + 100, () => 'the window to pass', history.windowMs + 5000);
      await recordAll(destination, ['new']);
      const replay = await history.replay(destination, old);
      expect(replay.gap).to.equal(true);
      for (const message of replay.messages) expect(message.body.toString()).to.equal('new');
    });
  });
}

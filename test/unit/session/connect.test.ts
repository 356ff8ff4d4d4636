import { expect } from 'chai';
import { negotiateHeartbeat, negotiateVersion, parseHeartbeatHeader, versionBeforeConnected } from '../../../server/session/negotiation';
import { Errors, relayError, RelayError } from '../../../server/errors';
import type { Authenticator } from '../../../server/auth/authenticator';
import { DEFAULT_CONFIG, ENV_VARS, configFromEnv, resolveConfig } from '../../../server/config';
import { FakeTransport, createTestHub, type TestHub } from './session-harness';

describe('session: CONNECT', () => {
  let t: TestHub;
  afterEach(async () => t?.stop());

  describe('a transport already closed when its session binds to it', () => {
    it('leaves no live session behind, so a drain does not wait for it, and arms no CONNECT deadline', async () => {
      t = await createTestHub({ heartbeat: { sendMs: 0, receiveMs: 60_000 } });
      const transport = new FakeTransport({ closedAtBind: true });
      const session = t.hub.accept(transport);
      expect(session.state).to.equal('closed');
      expect(t.hub.size, 'no entry for a session that never lived').to.equal(0);
      expect([...t.hub.sessions()]).to.deep.equal([]);
      expect((session as unknown as { connectDeadline?: unknown }).connectDeadline, 'the CONNECT deadline timer').to.equal(undefined);
      const live = await t.open();
      expect(t.hub.size).to.equal(1);
      live.drop();
      await live.closedEvent;
      expect(t.hub.size).to.equal(0);
    });
  });

  describe('version negotiation (STOMP 1.2 §Protocol Negotiation)', () => {
    it('picks the highest common version', () => {
      expect(negotiateVersion('1.0,1.1,1.2')).to.equal('1.2');
      expect(negotiateVersion('1.1,1.0')).to.equal('1.1');
      expect(negotiateVersion(' 1.0 ')).to.equal('1.0');
      expect(negotiateVersion('2.0,1.1')).to.equal('1.1');
    });

    it('treats a CONNECT without accept-version as 1.0', () => {
      expect(negotiateVersion(undefined)).to.equal('1.0');
    });

    it('refuses when nothing is supported', () => {
      const r = negotiateVersion('2.0,3.0');
      expect(r).to.be.instanceOf(RelayError);
      expect((r as RelayError).code).to.equal('UNSUPPORTED_VERSION');
    });

    for (const [accept, expected] of [[undefined, '1.0'], ['1.1', '1.1'], ['1.0,1.1,1.2', '1.2']] as const) {
      it(`answers CONNECTED version ${expected} to accept-version ${accept ?? '(absent)'}`, async () => {
        t = await createTestHub();
        const c = await t.open({ connect: false });
        c.sendFrame('CONNECT', { 'accept-version': accept, login: 'ann' });
        const connected = await c.next('CONNECTED');
        expect(connected.headers.version).to.equal(expected);
        expect(c.session.version).to.equal(expected);
        // STOMP 1.0 has no heart-beating, so no heart-beat header.
        if (expected === '1.0') expect(connected.headers['heart-beat']).to.equal(undefined);
        else expect(connected.headers['heart-beat']).to.equal('0,0');
      });
    }

    it('answers ERROR UNSUPPORTED_VERSION listing the supported versions, then closes', async () => {
      t = await createTestHub();
      const c = await t.open({ connect: false });
      c.sendFrame('CONNECT', { 'accept-version': '2.0' });
      const error = await c.expectError('UNSUPPORTED_VERSION');
      expect(error.headers.version).to.equal('1.0,1.1,1.2');
      expect(error.headers.message).to.contain('2.0');
    });

    it('accepts the STOMP command as CONNECT', async () => {
      t = await createTestHub();
      const c = await t.open({ connect: false });
      c.sendFrame('STOMP', { 'accept-version': '1.2', host: 'x' });
      expect((await c.next('CONNECTED')).headers.version).to.equal('1.2');
    });
  });

  describe('ERROR before CONNECTED: encoded so the client can read it', () => {
    it('encodes as the highest version accept-version offers that we speak, else as 1.0', () => {
      expect(versionBeforeConnected(undefined)).to.equal('1.0');
      expect(versionBeforeConnected('1.0,1.1,1.2')).to.equal('1.2');
      expect(versionBeforeConnected('1.1,1.0')).to.equal('1.1');
      expect(versionBeforeConnected('2.0,3.1')).to.equal('1.0');
      expect(versionBeforeConnected('')).to.equal('1.0');
    });

    const refusing = (reason: string): Authenticator => ({
      mode: 'test',
      authenticate: async () => { throw relayError(Errors.AUTHENTICATION_FAILED, reason); },
    });
    /** The header block of the last chunk the server wrote (the ERROR), as it went on the wire. */
    const wireHead = (c: FakeTransport) => c.sent[c.sent.length - 1].data.toString('utf8').split('\n\n')[0];

    it('writes nothing escaped when no CONNECT came first (1.0)', async () => {
      t = await createTestHub();
      const c = await t.open({ connect: false });
      c.receive('HELLO:WORLD'); // no EOL: its excerpt in the message then needs no backslash
      await c.expectError('INVALID_COMMAND');
      expect(wireHead(c)).to.contain('\nmessage:not a STOMP command line: "');
    });

    it('writes nothing escaped after a CONNECT without accept-version (1.0)', async () => {
      t = await createTestHub({}, { authenticator: refusing('no token: send a "Bearer <jwt>"') });
      const c = await t.open({ connect: false });
      c.sendFrame('CONNECT', { login: 'u' });
      await c.expectError('AUTHENTICATION_FAILED');
      expect(wireHead(c)).to.contain('\nmessage:authentication failed: no token: send a "Bearer <jwt>"\n');
    });

    it('escapes as the version offered (1.1 here) but leaves colons readable to clients that unescape only after CONNECTED (stomp.js)', async () => {
      t = await createTestHub({}, { authenticator: refusing('bad token: a\\b') });
      const c = await t.open({ connect: false });
      c.sendFrame('CONNECT', { 'accept-version': '1.0,1.1', login: 'u' });
      const error = await c.expectError('AUTHENTICATION_FAILED');
      expect(wireHead(c)).to.contain('\nmessage:authentication failed: bad token: a\\\\b\n');
      expect(error.headers.message, 'a 1.1 parser reads it back exactly').to.equal('authentication failed: bad token: a\\b');
    });
  });

  describe('heart-beat negotiation (STOMP 1.2 §Heart-beating)', () => {
    const server = { sendMs: 10_000, receiveMs: 5_000, graceFactor: 2, minMs: 1_000 };

    it('sends at max(sx, cy) and expects the client at max(cx, sy) when the client asks for coarser intervals', () => {
      const plan = negotiateHeartbeat('1.2', [8_000, 20_000], server);
      expect(plan).to.deep.equal({ sendMs: 20_000, receiveMs: 8_000, header: '10000,5000' });
    });

    it('honours finer intervals the client asks for, down to the floor, and offers them in CONNECTED', () => {
      // heart-beat:1000,1000 against the defaults: 1000 both ways, not 10000.
      const defaults = { sendMs: 10_000, receiveMs: 10_000, graceFactor: 2, minMs: 1_000 };
      expect(negotiateHeartbeat('1.2', [1_000, 1_000], defaults)).to.deep.equal({ sendMs: 1_000, receiveMs: 1_000, header: '1000,1000' });
      expect(negotiateHeartbeat('1.2', [4_000, 2_500], server)).to.deep.equal({ sendMs: 2_500, receiveMs: 4_000, header: '2500,4000' });
      // Finer than the floor: the floor, in both the plan and the header the client computes from.
      expect(negotiateHeartbeat('1.1', [100, 10], server)).to.deep.equal({ sendMs: 1_000, receiveMs: 1_000, header: '1000,1000' });
      expect(negotiateHeartbeat('1.2', [100, 10], { ...server, minMs: 250 })).to.deep.equal({ sendMs: 250, receiveMs: 250, header: '250,250' });
      // The floor never raises what the server is configured to: 100 ms configured stays 100 ms.
      expect(negotiateHeartbeat('1.2', [50, 50], { sendMs: 100, receiveMs: 100, graceFactor: 2, minMs: 1_000 })).to.deep.equal({ sendMs: 100, receiveMs: 100, header: '100,100' });
    });

    it('keeps the configured offer in a direction the client does not heart-beat in', () => {
      expect(negotiateHeartbeat('1.2', [0, 0], server)).to.deep.equal({ sendMs: 0, receiveMs: 0, header: '10000,5000' });
      expect(negotiateHeartbeat('1.2', [0, 2_000], server)).to.deep.equal({ sendMs: 2_000, receiveMs: 0, header: '2000,5000' });
      expect(negotiateHeartbeat('1.2', [2_000, 0], server)).to.deep.equal({ sendMs: 0, receiveMs: 2_000, header: '10000,2000' });
    });

    it('turns a direction off when either side says 0', () => {
      expect(negotiateHeartbeat('1.2', [0, 1000], server)).to.include({ sendMs: 1_000, receiveMs: 0 });
      expect(negotiateHeartbeat('1.2', [1000, 0], server)).to.include({ sendMs: 0, receiveMs: 1_000 });
      expect(negotiateHeartbeat('1.2', [1000, 1000], { sendMs: 0, receiveMs: 0, graceFactor: 2, minMs: 1_000 })).to.deep.equal({ sendMs: 0, receiveMs: 0, header: '0,0' });
    });

    it('has no heart-beats in 1.0', () => {
      expect(negotiateHeartbeat('1.0', [1000, 1000], server)).to.include({ sendMs: 0, receiveMs: 0 });
    });

    it('parses the header and rejects garbage', () => {
      expect(parseHeartbeatHeader(undefined)).to.deep.equal([0, 0]);
      expect(parseHeartbeatHeader('10,20')).to.deep.equal([10, 20]);
      for (const bad of ['', '10', '10,', ',10', '-1,5', 'a,b', '1,2,3']) {
        expect(() => parseHeartbeatHeader(bad), bad).to.throw(RelayError).with.property('code', 'INVALID_HEADER');
      }
    });

    it('advertises the configured intervals in CONNECTED', async () => {
      t = await createTestHub({ heartbeat: { sendMs: 30_000, receiveMs: 40_000 } });
      const c = await t.open({ connect: false });
      c.sendFrame('CONNECT', { 'accept-version': '1.2', 'heart-beat': '0,0' });
      expect((await c.next('CONNECTED')).headers['heart-beat']).to.equal('30000,40000');
    });

    it('answers heart-beat:1000,1000 with 1000,1000 under the default settings', async () => {
      t = await createTestHub({ heartbeat: { sendMs: DEFAULT_CONFIG.heartbeat.sendMs, receiveMs: DEFAULT_CONFIG.heartbeat.receiveMs } });
      const c = await t.open({ connect: false });
      c.sendFrame('CONNECT', { 'accept-version': '1.2', 'heart-beat': '1000,1000' });
      expect((await c.next('CONNECTED')).headers['heart-beat']).to.equal('1000,1000');
      c.drop();
    });

    it('applies the configured floor: heart-beat:100,100 gets the floor', async () => {
      t = await createTestHub({ heartbeat: { sendMs: 10_000, receiveMs: 10_000, minMs: 2_000 } });
      const c = await t.open({ connect: false });
      c.sendFrame('CONNECT', { 'accept-version': '1.2', 'heart-beat': '100,100' });
      expect((await c.next('CONNECTED')).headers['heart-beat']).to.equal('2000,2000');
      c.drop();
    });

    it('reads the floor from HEARTBEAT_MIN_MS and the heartbeat.minMs option (default 1000), and refuses one below 1 ms', () => {
      expect(DEFAULT_CONFIG.heartbeat.minMs).to.equal(1_000);
      expect(configFromEnv({ HEARTBEAT_MIN_MS: '250' }).heartbeat.minMs).to.equal(250);
      expect(resolveConfig({ heartbeat: { minMs: 500 } }).heartbeat.minMs).to.equal(500);
      expect(ENV_VARS.find((v) => v.name === 'HEARTBEAT_MIN_MS')?.help).to.match(/default 1000/);
      for (const bad of ['0', '-5', 'soon', '1.5']) {
        expect(() => configFromEnv({ HEARTBEAT_MIN_MS: bad }), bad).to.throw(RelayError).with.property('code', 'INVALID_CONFIG');
      }
      for (const bad of [0, -1, 1.5, Number.NaN]) {
        expect(() => resolveConfig({ heartbeat: { minMs: bad } }), String(bad)).to.throw(RelayError).with.property('code', 'INVALID_CONFIG');
      }
    });

    it('closes with INVALID_HEADER on a malformed heart-beat header', async () => {
      t = await createTestHub();
      const c = await t.open({ connect: false });
      c.sendFrame('CONNECT', { 'accept-version': '1.2', 'heart-beat': 'soon' });
      await c.expectError('INVALID_HEADER');
    });
  });

  describe('CONNECTED and authentication', () => {
    it('names the server, the session and the user', async () => {
      t = await createTestHub();
      const c = await t.open({ connect: false });
      c.sendFrame('CONNECT', { 'accept-version': '1.2', login: 'alice' });
      const connected = await c.next('CONNECTED');
      expect(connected.headers.server).to.match(/^stomp-relay\/\d+\.\d+\.\d+/);
      expect(connected.headers['user-name']).to.equal('alice');
      expect(connected.headers.session).to.equal(c.session.id);
      expect(c.session.principal).to.deep.equal({ name: 'alice' });
      expect(c.session.connected).to.equal(true);
      expect(t.hub.sessionsOfUser('alice')).to.deep.equal([c.session]);
    });

    it('indexes a user\'s sessions as they come and go: one, three, back to one, none (a lone one is held without a set)', async () => {
      t = await createTestHub();
      const count = () => ({ sessions: t.hub.sessionsOfUser('dora').length, count: t.hub.userSessionCount('dora'), listed: t.hub.userCounts().get('dora') });
      const first = await t.open({ login: 'dora' });
      expect(count()).to.deep.equal({ sessions: 1, count: 1, listed: 1 });
      const second = await t.open({ login: 'dora' });
      const third = await t.open({ login: 'dora' });
      expect(t.hub.sessionsOfUser('dora')).to.have.members([first.session, second.session, third.session]);
      expect(count()).to.deep.equal({ sessions: 3, count: 3, listed: 3 });
      for (const c of [first, third]) {
        c.drop();
        await c.closedEvent;
      }
      expect(t.hub.sessionsOfUser('dora')).to.deep.equal([second.session]);
      expect(count()).to.deep.equal({ sessions: 1, count: 1, listed: 1 });
      second.drop();
      await second.closedEvent;
      expect(count()).to.deep.equal({ sessions: 0, count: 0, listed: undefined });
      const again = await t.open({ login: 'dora' });
      expect(t.hub.sessionsOfUser('dora')).to.deep.equal([again.session]);
    });

    it('lets anonymous clients in without user-name', async () => {
      t = await createTestHub();
      const c = await t.open();
      expect(c.frames[0].headers['user-name']).to.equal(undefined);
      expect(c.session.principal).to.equal(null);
    });

    it('gives every session a distinct URL-safe id', async () => {
      t = await createTestHub();
      const ids = new Set<string>();
      for (let i = 0; i < 20; i++) ids.add((await t.open({ connect: false })).session.id);
      expect(ids.size).to.equal(20);
      for (const id of ids) expect(id).to.match(/^[A-Za-z0-9_-]{22,}$/);
    });

    it('closes with AUTHENTICATION_FAILED when the authenticator refuses', async () => {
      const refusing: Authenticator = {
        mode: 'test',
        async authenticate(req) {
          if (req.connectHeaders.passcode !== 'right') throw relayError(Errors.AUTHENTICATION_FAILED, 'bad passcode');
          return { name: 'u' };
        },
      };
      t = await createTestHub({}, { authenticator: refusing });
      const c = await t.open({ connect: false });
      c.sendFrame('CONNECT', { 'accept-version': '1.2', login: 'u', passcode: 'wrong' });
      const error = await c.expectError('AUTHENTICATION_FAILED');
      expect(error.headers.message).to.contain('bad passcode');
      expect(t.hub.size).to.equal(0);

      const ok = await t.open({ connect: false });
      ok.sendFrame('CONNECT', { 'accept-version': '1.2', login: 'u', passcode: 'right' });
      expect((await ok.next('CONNECTED')).headers['user-name']).to.equal('u');
    });

    it('refuses a user name no destination or log can hold, whichever authenticator produced it', async () => {
      const names = ['line\nbreak', 'x'.repeat(257), ''];
      for (const name of names) {
        const lax: Authenticator = { mode: 'test', authenticate: async () => ({ name }) };
        t = await createTestHub({}, { authenticator: lax });
        const c = await t.open({ connect: false });
        c.sendFrame('CONNECT', { 'accept-version': '1.2' });
        await c.expectError('AUTHENTICATION_FAILED');
        await t.stop();
      }
    });

    it('holds frames sent right behind CONNECT until authentication finished', async () => {
      let release!: () => void;
      const slow: Authenticator = {
        mode: 'test',
        authenticate: () => new Promise((resolve) => { release = () => resolve({ name: 'late' }); }),
      };
      t = await createTestHub({}, { authenticator: slow });
      const c = await t.open({ connect: false });
      c.sendFrame('CONNECT', { 'accept-version': '1.2' });
      c.sendFrame('SUBSCRIBE', { id: 's', destination: '/topic/a', receipt: 'r1' });
      expect(c.frames).to.have.length(0);
      release();
      expect((await c.next('CONNECTED')).headers['user-name']).to.equal('late');
      expect((await c.next('RECEIPT')).headers['receipt-id']).to.equal('r1');
    });

    it('emits connected and disconnected session events', async () => {
      t = await createTestHub();
      const events: string[] = [];
      t.hub.onSessionEvent((e) => events.push(`${e.type}:${e.session.principal?.name}`));
      const c = await t.open({ login: 'bob' });
      c.sendFrame('DISCONNECT');
      await c.closedEvent;
      expect(events).to.deep.equal(['connected:bob', 'disconnected:bob']);
      expect(t.hub.sessionsOfUser('bob')).to.deep.equal([]);
      expect(t.hub.size).to.equal(0);
    });
  });
});

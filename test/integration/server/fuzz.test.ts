/**
 * Property-based fuzzing of a real relay over every way in (plain WebSocket, SockJS's raw WebSocket,
 * SockJS's framed transports): random frames, near-frames and garbage, in random message cuts. Whatever
 * a client sends, the server answers only with well-formed frames, ends a session it refuses with
 * one ERROR carrying a catalogue code (and nothing after it), closes with a numeric code, frees the
 * session, and keeps serving a bystander. The codec's own round-trip properties are in
 * test/unit/codec/roundtrip.property.test.ts; this suite is about what reaches the process.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { SERVER_COMMANDS } from '../../../server/codec/frame';
import { Errors } from '../../../server/errors';
import {
  RAW_CHANNELS, closeAll, startRelay, unique, waitFor, wsClient,
  type TestClient, type TestRelay, type TestSubscription,
} from '../../harness/stomp-test-kit';

const MAX_FRAME = 2048;
const RUNS_PER_CHANNEL = 60;

const CATALOGUE: ReadonlySet<string> = new Set(Object.values(Errors).map((e) => e.code));

/**
 * Sent after the random input, so that every run ends with the server closing: a NUL cannot start a
 * frame, and this many finish whatever frame the input left open (a content-length body, a header
 * line, a NUL-terminated body) before one of them is refused.
 */
const TERMINATOR = '\0'.repeat(MAX_FRAME + 2);

const CONNECT = 'CONNECT\naccept-version:1.0,1.1,1.2\nhost:fuzz\nlogin:fuzzer\n\n\0';

/** Text biased towards what matters to a STOMP parser. */
const textArb = fc.oneof(
  fc.string({ maxLength: 16 }),
  fc.string({ unit: fc.constantFrom('a', ':', '\\', '\n', '\r', '\0', 'c', ' ', 'é', '/'), maxLength: 10 }),
);

const headerArb = fc.tuple(
  fc.oneof(
    fc.constantFrom('destination', 'id', 'ack', 'receipt', 'content-length', 'transaction', 'accept-version', 'heart-beat', 'subscription', 'message-id', 'reply-to', 'x-queue-name', 'prefetch-count', 'durable'),
    textArb,
  ),
  fc.oneof(
    fc.constantFrom('/topic/fz', '/queue/fz', '/nope', '/user/queue/x', '/app/x', '/temp-queue/t', '/exchange/amq.direct/x', 'client', 'auto', '1.2', '1.0,1.1', '0', '5', '99999', '-1', 'true', '10,10'),
    textArb,
  ),
);

/** Something shaped like a frame: a command (known or not), headers, a body, maybe its NUL. */
const frameArb = fc
  .record({
    command: fc.oneof(
      fc.constantFrom('CONNECT', 'STOMP', 'SEND', 'SUBSCRIBE', 'UNSUBSCRIBE', 'ACK', 'NACK', 'BEGIN', 'COMMIT', 'ABORT', 'DISCONNECT', 'MESSAGE', 'ERROR'),
      fc.stringMatching(/^[A-Za-z]{1,10}$/),
    ),
    headers: fc.array(headerArb, { maxLength: 6 }),
    eol: fc.constantFrom('\n', '\r\n'),
    body: fc.oneof(fc.constant(''), textArb, fc.string({ maxLength: 3000 })),
    nul: fc.boolean(),
  })
  .map(({ command, headers, eol, body, nul }) => command + eol + headers.map(([k, v]) => `${k}:${v}${eol}`).join('') + eol + body + (nul ? '\0' : ''));

/** One piece of input: a near-frame, heart-beats, or garbage. */
const pieceArb = fc.oneof(
  { weight: 5, arbitrary: frameArb },
  { weight: 1, arbitrary: fc.constantFrom('\n', '\r\n', '\n\n') },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
);

interface FuzzInput {
  connectFirst: boolean;
  /** Each element goes out as one message (text, or bytes on channels that can send binary). */
  messages: Array<string | Buffer>;
}

function inputArb(binary: boolean): fc.Arbitrary<FuzzInput> {
  // Pieces are cut at random points into messages, so frames span messages and share them.
  const text = fc.tuple(fc.array(pieceArb, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 4 }))
    .map(([pieces, cuts]) => cutAt(pieces.join(''), cuts));
  const messages = binary
    ? fc.oneof({ weight: 4, arbitrary: text }, { weight: 1, arbitrary: fc.array(fc.uint8Array({ minLength: 1, maxLength: 64 }).map((a) => Buffer.from(a)), { minLength: 1, maxLength: 3 }) })
    : text;
  return fc.record({ connectFirst: fc.boolean(), messages });
}

function cutAt(text: string, cuts: number[]): string[] {
  if (text.length === 0) return [text];
  const points = [...new Set(cuts.map((c) => c % text.length))].filter((c) => c > 0).sort((a, b) => a - b);
  const out: string[] = [];
  let from = 0;
  for (const p of points) {
    out.push(text.slice(from, p));
    from = p;
  }
  out.push(text.slice(from));
  return out;
}

describe('server: fuzzing every way in', function () {
  this.timeout(180_000);
  let server: TestRelay;
  let bystander: TestClient;
  let bystanderSub: TestSubscription;
  let topic: string;

  before(async () => {
    server = await startRelay({ limits: { maxFrameBytes: MAX_FRAME, maxHeaderLineBytes: 512, maxHeaders: 16, maxSubscriptionsPerSession: 8 } });
    bystander = await wsClient(server, { login: 'bystander' });
    topic = `/topic/${unique('fuzz-bystander')}`;
    bystanderSub = await bystander.subscribe(topic);
  });
  after(async () => {
    await closeAll([bystander]);
    await server.close();
  });

  for (const channel of RAW_CHANNELS) {
    it(`answers any input over ${channel.name} with well-formed frames, one final ERROR at most, a numeric close, and stays up`, async () => {
      await fc.assert(
        fc.asyncProperty(inputArb(channel.binary), async ({ connectFirst, messages }) => {
          const raw = await channel.open(server);
          try {
            if (connectFirst) raw.send(CONNECT);
            for (const m of messages) raw.send(m, Buffer.isBuffer(m));
            raw.send(TERMINATOR);
            const closed = await raw.waitClosed();
            expect(closed.code, 'a numeric close code').to.be.a('number');
            // The raw peer's own parser already threw on anything malformed; check what the frames say.
            const frames = raw.frames.all;
            for (const f of frames) expect(SERVER_COMMANDS as readonly string[]).to.include(f.command);
            const errorAt = frames.findIndex((f) => f.command === 'ERROR');
            if (errorAt !== -1) {
              expect(errorAt, 'nothing after the ERROR').to.equal(frames.length - 1);
              const error = frames[errorAt];
              expect(CATALOGUE, `code ${error.headers.code}`).to.include(error.headers.code);
              expect(error.headers.message).to.be.a('string').and.not.equal('');
            } else {
              // Only a DISCONNECT somewhere in the input ends a session without ERROR.
              const sent = messages.map((m) => (typeof m === 'string' ? m : m.toString('latin1'))).join('');
              expect(sent, 'closed without an ERROR').to.include('DISCONNECT');
            }
          } finally {
            await raw.close();
          }
        }),
        { numRuns: RUNS_PER_CHANNEL },
      );
      // Every fuzzed session is gone (none left half torn down); the bystander never noticed.
      await waitFor(() => server.relay.hub.size === 1, 'only the bystander session left');
      await bystander.publish(topic, `after ${channel.name}`);
      expect((await bystanderSub.messages.next()).body).to.equal(`after ${channel.name}`);
    });
  }
});

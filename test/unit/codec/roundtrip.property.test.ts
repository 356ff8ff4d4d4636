/**
 * Property-based round trips: for random frames under every version, parse(encode(f)) gives f back,
 * however the bytes are cut into chunks and whatever heart-beats sit between frames.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { headers, type StompFrame, type StompVersion } from '../../../server/codec/frame';
import { createMessageTemplate, encodeFrame, renderMessage } from '../../../server/codec/serializer';
import { parseChunks, plain, splitAt } from './feed';

const RAW_COMMANDS = ['CONNECT', 'STOMP', 'CONNECTED'];
const versionArb = fc.constantFrom<StompVersion>('1.0', '1.1', '1.2');
const commandArb = fc.oneof(
  fc.constantFrom('SEND', 'MESSAGE', 'SUBSCRIBE', 'ERROR', 'RECEIPT', ...RAW_COMMANDS),
  fc.stringMatching(/^[A-Za-z]{1,12}$/)
);
/** Any Unicode text, biased towards the characters escaping is about. */
const textArb = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.string({ unit: fc.constantFrom('a', ':', '\\', '\n', '\r', 'c', 'n', 'r', ' ', 'é', '🚀'), maxLength: 12 })
);
const bodyArb = fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 3000 })).map((a) => Buffer.from(a));

/** Whether `text` can be represented exactly in a frame of `command` under `version`. */
function representable(text: string, isName: boolean, command: string, version: StompVersion): boolean {
  if (version === '1.0' || RAW_COMMANDS.includes(command)) {
    return !text.includes('\n') && !text.includes('\r') && !(isName && text.includes(':'));
  }
  return version === '1.2' || !text.includes('\r');
}

function frameArb(version: StompVersion, exactOnly: boolean): fc.Arbitrary<StompFrame> {
  return commandArb.chain((command) => {
    const ok = (t: string, isName: boolean) => !exactOnly || representable(t, isName, command, version);
    const entry = fc.tuple(textArb.filter((n) => n !== 'content-length' && n !== 'guard' && ok(n, true)), textArb.filter((v) => ok(v, false)));
    return fc.record({
      command: fc.constant(command),
      headers: fc.uniqueArray(entry, { selector: ([name]) => name, maxLength: 8 }).map((entries) => {
        const h = headers();
        for (const [name, value] of entries) h[name] = value;
        return h;
      }),
      body: bodyArb,
    });
  });
}

function expectedAfterParse(f: StompFrame) {
  const h = { ...f.headers };
  if (f.body.length > 0) h['content-length'] = String(f.body.length);
  return { command: f.command, headers: h, body: [...f.body] };
}

/** Cut points for a buffer of `length` bytes, from fractions in [0, 1). */
function cutsFrom(fractions: number[], length: number): number[] {
  return fractions.map((x) => Math.floor(x * length)).sort((a, b) => a - b);
}

const fractionsArb = fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { maxLength: 12 });

describe('codec round trip (property-based)', () => {
  it('parse(encode(f)) equals f, for any chunking and heart-beats between frames', () => {
    fc.assert(
      fc.property(
        versionArb.chain((version) =>
          fc.record({
            version: fc.constant(version),
            frames: fc.array(fc.record({ frame: frameArb(version, true), heartbeats: fc.integer({ min: 0, max: 2 }) }), { minLength: 1, maxLength: 5 }),
            fractions: fractionsArb,
          })
        ),
        ({ version, frames, fractions }) => {
          const parts: Buffer[] = [];
          const expected: unknown[] = [];
          for (const { frame, heartbeats } of frames) {
            parts.push(encodeFrame(frame, version));
            expected.push(expectedAfterParse(frame));
            for (let i = 0; i < heartbeats; i++) {
              parts.push(Buffer.from(i % 2 ? '\r\n' : '\n'));
              expected.push('heartbeat');
            }
          }
          const bytes = Buffer.concat(parts);
          const events = parseChunks(splitAt(bytes, cutsFrom(fractions, bytes.length)), undefined, version);
          expect(events.map(plain)).to.deep.equal(expected);
        }
      ),
      { numRuns: 400 }
    );
  });

  it('no header name or value, however hostile, can add a header line or change the body', () => {
    fc.assert(
      fc.property(
        versionArb.chain((version) => fc.record({ version: fc.constant(version), frame: frameArb(version, false), fractions: fractionsArb })),
        ({ version, frame, fractions }) => {
          // `guard` goes last: a line injected before it would win under first-wins and change it.
          const sent = headers();
          Object.assign(sent, frame.headers, { guard: 'ok' });
          const bytes = encodeFrame({ command: frame.command, headers: sent, body: frame.body }, version);
          const events = parseChunks(splitAt(bytes, cutsFrom(fractions, bytes.length)), undefined, version);
          expect(events).to.have.length(1);
          const got = events[0] as StompFrame;
          expect(got.command).to.equal(frame.command);
          expect(got.headers.guard).to.equal('ok');
          expect(Object.keys(got.headers).length).to.be.at.most(Object.keys(sent).length + 1);
          expect(got.body.equals(frame.body)).to.equal(true);
        }
      ),
      { numRuns: 400 }
    );
  });

  it('renderMessage equals encodeFrame for any shared and per-receiver headers', () => {
    fc.assert(
      fc.property(
        versionArb.chain((version) =>
          fc.record({
            version: fc.constant(version),
            shared: frameArb(version, false),
            perReceiver: frameArb(version, false),
          })
        ),
        ({ version, shared, perReceiver }) => {
          const template = createMessageTemplate(shared.headers, shared.body, version);
          const frame = { command: 'MESSAGE', headers: Object.assign(headers(), shared.headers, perReceiver.headers), body: shared.body };
          expect(renderMessage(template, perReceiver.headers).equals(encodeFrame(frame, version))).to.equal(true);
        }
      ),
      { numRuns: 300 }
    );
  });
});

import { expect } from 'chai';
import { StompParser } from '../../../server/codec/parser';
import { isRelayError, type RelayError } from '../../../server/errors';
import { bytewise, collector, parseChunks, plain, randomChunks, splitAt, type Event } from './feed';

const b = (s: string | Buffer) => (Buffer.isBuffer(s) ? s : Buffer.from(s, 'utf8'));

/** Parses `input` whole, byte by byte and in 20 random chunkings; asserts all agree and returns the events. */
function parseAllWays(input: Buffer | string, version?: '1.0' | '1.1' | '1.2'): Event[] {
  const bytes = b(input);
  const whole = parseChunks([bytes], undefined, version);
  const expected = whole.map(plain);
  expect(parseChunks(bytewise(bytes), undefined, version).map(plain), 'byte by byte').to.deep.equal(expected);
  for (let seed = 1; seed <= 20; seed++) {
    expect(parseChunks(randomChunks(bytes, seed), undefined, version).map(plain), `chunking seed ${seed}`).to.deep.equal(expected);
  }
  return whole;
}

/** Expects parsing `input` (whole and byte by byte) to fail with `code`; returns the whole-input error. */
function expectFailure(input: Buffer | string, code: string, opts: { limits?: Parameters<typeof parseChunks>[1]; version?: '1.0' | '1.1' | '1.2' } = {}): RelayError {
  const bytes = b(input);
  let caught: unknown;
  for (const chunks of [[bytes], bytewise(bytes), randomChunks(bytes, 7)]) {
    caught = undefined;
    try {
      parseChunks(chunks, opts.limits, opts.version);
    } catch (err) {
      caught = err;
    }
    expect(isRelayError(caught), `expected RelayError ${code}, got ${String(caught)}`).to.equal(true);
    expect((caught as RelayError).code).to.equal(code);
  }
  try {
    parseChunks([bytes], opts.limits, opts.version);
  } catch (err) {
    return err as RelayError;
  }
  throw new Error('unreachable');
}

function frameOf(e: Event | undefined) {
  if (e === undefined || e === 'heartbeat') throw new Error(`expected a frame, got ${String(e)}`);
  return e;
}

describe('codec/StompParser', () => {
  describe('framing', () => {
    it('parses a frame with headers and a NUL-terminated body', () => {
      const [f] = parseAllWays('SEND\ndestination:/queue/a\ncontent-type:text/plain\n\nhello\0');
      expect(plain(frameOf(f))).to.deep.equal({
        command: 'SEND',
        headers: { destination: '/queue/a', 'content-type': 'text/plain' },
        body: [...b('hello')],
      });
    });

    it('parses a frame with no headers and no body', () => {
      const [f] = parseAllWays('DISCONNECT\n\n\0');
      expect(frameOf(f).command).to.equal('DISCONNECT');
      expect(Object.keys(frameOf(f).headers)).to.deep.equal([]);
      expect(frameOf(f).body.length).to.equal(0);
    });

    it('parses several frames from one chunk, in order', () => {
      const input = 'SEND\ndestination:/a\n\none\0SEND\ndestination:/b\n\ntwo\0SUBSCRIBE\nid:1\ndestination:/c\n\n\0';
      const events = parseAllWays(input);
      expect(events.map((e) => frameOf(e).command)).to.deep.equal(['SEND', 'SEND', 'SUBSCRIBE']);
      expect(events.map((e) => frameOf(e).body.toString())).to.deep.equal(['one', 'two', '']);
    });

    it('accepts CRLF line endings, mixed with LF', () => {
      const [f] = parseAllWays('SEND\r\ndestination:/a\r\nreceipt:7\n\r\nbody\0');
      expect(plain(frameOf(f))).to.deep.equal({ command: 'SEND', headers: { destination: '/a', receipt: '7' }, body: [...b('body')] });
    });

    it('keeps a CR that is not part of an EOL in a header value (1.0)', () => {
      const [f] = parseAllWays('SEND\ndestination:/a\rb\n\n\0', '1.0');
      expect(frameOf(f).headers.destination).to.equal('/a\rb');
    });

    it('reports bare EOLs between frames, and after a frame, as heart-beats', () => {
      const events = parseAllWays('\n\r\n\nSEND\ndestination:/a\n\nx\0\n\r\n');
      expect(events.map((e) => (e === 'heartbeat' ? e : e.command))).to.deep.equal([
        'heartbeat', 'heartbeat', 'heartbeat', 'SEND', 'heartbeat', 'heartbeat',
      ]);
    });

    it('reads exactly content-length bytes, NULs included', () => {
      const body = Buffer.from([0, 1, 0, 255, 0]);
      const input = Buffer.concat([b('SEND\ndestination:/a\ncontent-length:5\n\n'), body, b('\0SEND\ndestination:/b\n\nnext\0')]);
      const events = parseAllWays(input);
      expect([...frameOf(events[0]).body]).to.deep.equal([...body]);
      expect(frameOf(events[0]).headers['content-length']).to.equal('5');
      expect(frameOf(events[1]).body.toString()).to.equal('next');
    });

    it('accepts content-length:0', () => {
      const [f] = parseAllWays('SEND\ndestination:/a\ncontent-length:0\n\n\0');
      expect(frameOf(f).body.length).to.equal(0);
    });

    it('hands out bodies that later pushes never overwrite', () => {
      const c = collector();
      const frame = (body: string) => b(`SEND\ndestination:/a\ncontent-length:${body.length}\n\n${body}\0`);
      // First body spans chunks (copied), second is inside one chunk (a view of it).
      c.parser.push(frame('first-body').subarray(0, 40));
      c.parser.push(Buffer.concat([frame('first-body').subarray(40), frame('second')]));
      // Then bodies that arrive one byte per push: past the first 16 pieces the parser copies small
      // pieces into its scratch buffer, which the next frame's pieces are written into again.
      const trickled = ['a', 'b', 'c', 'd'].map((letter) => letter.repeat(40) + '0123456789');
      for (const body of trickled) {
        const bytes = frame(body);
        const bodyStart = bytes.length - body.length - 1;
        c.parser.push(bytes.subarray(0, bodyStart));
        for (let i = bodyStart; i < bytes.length; i++) c.parser.push(bytes.subarray(i, i + 1));
      }
      for (let i = 0; i < 50; i++) c.parser.push(frame(`filler-${i}`));
      const bodies = c.frames().map((f) => f.body.toString());
      expect(bodies.slice(0, 6)).to.deep.equal(['first-body', 'second', ...trickled]);
    });

    it('reassembles bodies and header lines that arrive in thousands of pieces of mixed sizes', () => {
      const body = Buffer.alloc(40_000);
      for (let i = 0; i < body.length; i++) body[i] = (i * 7 + 1) % 255 + 1; // no NUL
      const long = 'v'.repeat(5000);
      const input = Buffer.concat([
        b(`SEND\nk:${long}\ncontent-length:${body.length}\n\n`), body, b('\0'),
        b(`SEND\nk:${long}\n\n`), body, b('\0'),
      ]);
      // Mostly 1-byte chunks, with a few large ones in between.
      const cuts: number[] = [];
      for (let at = 1; at < input.length; at += at % 997 === 0 ? 3000 : 1) cuts.push(at);
      for (const chunks of [bytewise(input), splitAt(input, cuts)]) {
        const frames = parseChunks(chunks).map(frameOf);
        expect(frames).to.have.length(2);
        for (const f of frames) {
          expect(f.headers.k).to.equal(long);
          expect(f.body.equals(body)).to.equal(true);
        }
      }
    });

    it('gives headers a null prototype, so __proto__ is an ordinary header', () => {
      const [f] = parseAllWays('SEND\n__proto__:x\nconstructor:y\n\n\0');
      const h = frameOf(f).headers;
      expect(Object.getPrototypeOf(h)).to.equal(null);
      expect(h['__proto__']).to.equal('x');
      expect(h['constructor']).to.equal('y');
    });

    it('keeps the first of repeated headers', () => {
      const [f] = parseAllWays('MESSAGE\nfoo:World\nfoo:Hello\n\n\0');
      expect(frameOf(f).headers.foo).to.equal('World');
    });

    it('splits a header line at the first colon only', () => {
      const [f] = parseAllWays('SEND\ndestination:/a\nurl:http://x:8080/y\n\n\0', '1.0');
      expect(frameOf(f).headers.url).to.equal('http://x:8080/y');
    });

    it('decodes UTF-8 header names and values', () => {
      const [f] = parseAllWays('SEND\ndestination:/a\nnäme:värde 🚀\n\n\0');
      expect(frameOf(f).headers['näme']).to.equal('värde 🚀');
    });
  });

  describe('header escaping', () => {
    const escaped = 'SEND\na\\cb:x\\ny\\\\z\\cw\n\n\0';

    it('1.2 decodes \\n \\c \\\\ and \\r', () => {
      const [f] = parseAllWays('SEND\nk:a\\rb\\nc\\cd\\\\e\n\n\0', '1.2');
      expect(frameOf(f).headers.k).to.equal('a\rb\nc:d\\e');
    });

    it('1.1 decodes \\n \\c \\\\ in names and values', () => {
      const [f] = parseAllWays(escaped, '1.1');
      expect(frameOf(f).headers['a:b']).to.equal('x\ny\\z:w');
    });

    it('1.0 decodes nothing', () => {
      const [f] = parseAllWays(escaped, '1.0');
      expect(frameOf(f).headers['a\\cb']).to.equal('x\\ny\\\\z\\cw');
    });

    for (const command of ['CONNECT', 'STOMP', 'CONNECTED']) {
      it(`never decodes ${command} headers, whatever the version`, () => {
        const [f] = parseAllWays(`${command}\nlogin:a\\b\npasscode:\\t\\n\n\n\0`, '1.2');
        expect(frameOf(f).headers).to.deep.include({ login: 'a\\b', passcode: '\\t\\n' });
      });
    }

    it('applies a version set from inside onFrame to the next frame of the same chunk', () => {
      const events: string[] = [];
      const parser = new StompParser({
        onFrame: (f) => {
          events.push(f.headers.k);
          if (f.command === 'CONNECT') parser.version = '1.0';
        },
      });
      parser.push(b('SEND\nk:a\\nb\n\n\0CONNECT\naccept-version:1.0\n\n\0SEND\nk:a\\nb\n\n\0'));
      expect(events).to.deep.equal(['a\nb', undefined, 'a\\nb']);
    });
  });

  describe('errors', () => {
    it('INVALID_COMMAND for lower-level garbage, with a printable excerpt', () => {
      const err = expectFailure('GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'INVALID_COMMAND');
      expect(err.message).to.equal('not a STOMP command line: "GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"');
    });

    it('INVALID_COMMAND at once for binary garbage, without waiting for an EOL', () => {
      const c = collector();
      expect(() => c.parser.push(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]))).to.throw(/not a STOMP command line: "\\x16\\x03\\x01\\x02\\x00"/);
    });

    it('INVALID_COMMAND for digits, spaces, a stray NUL or a bare CR in the command', () => {
      expectFailure('SEND1\n\n\0', 'INVALID_COMMAND');
      expectFailure('SEND \n\n\0', 'INVALID_COMMAND');
      expectFailure('SEND\ndestination:/a\n\n\0\0', 'INVALID_COMMAND');
      const err = expectFailure('SE\rND\n\n\0', 'INVALID_COMMAND');
      expect(err.message).to.contain('"SE\\rND');
    });

    it('INVALID_COMMAND message cuts long garbage short', () => {
      const err = expectFailure('X' + '#'.repeat(1000), 'INVALID_COMMAND');
      expect(err.message.length).to.be.lessThan(80);
      expect(err.message).to.match(/…$/);
    });

    it('HEADER_WITHOUT_COLON', () => {
      const err = expectFailure('SEND\ndestination:/a\nno colon here\n\n\0', 'HEADER_WITHOUT_COLON');
      expect(err.message).to.equal('header line has no colon: "no colon here"');
    });

    it('INVALID_ESCAPE for an undefined escape, \\r under 1.1, and a trailing backslash', () => {
      expect(expectFailure('SEND\nk:a\\tb\n\n\0', 'INVALID_ESCAPE', { version: '1.2' }).message).to.equal(
        'header has an invalid escape sequence: "\\\\t" in "a\\\\tb"'
      );
      expectFailure('SEND\nk:a\\rb\n\n\0', 'INVALID_ESCAPE', { version: '1.1' });
      expect(expectFailure('SEND\nk:ab\\\n\n\0', 'INVALID_ESCAPE', { version: '1.2' }).message).to.contain('trailing \\');
      expectFailure('SEND\nk\\x:v\n\n\0', 'INVALID_ESCAPE', { version: '1.2' });
    });

    it('INVALID_CONTENT_LENGTH for anything but digits', () => {
      for (const bad of ['-1', 'abc', '', ' 5', '5 ', '1e3', '0x10', '+3']) {
        const err = expectFailure(`SEND\ncontent-length:${bad}\n\n\0`, 'INVALID_CONTENT_LENGTH');
        expect(err.message).to.equal(`content-length is not a non-negative integer: "${bad}"`);
      }
    });

    it('BODY_LONGER_THAN_CONTENT_LENGTH when no NUL follows the declared body', () => {
      const err = expectFailure('SEND\ncontent-length:2\n\nabc\0', 'BODY_LONGER_THAN_CONTENT_LENGTH');
      expect(err.message).to.equal('frame body does not end with NUL where content-length says it does');
    });

    it('INVALID_UTF8 for header bytes that are not UTF-8', () => {
      const input = Buffer.concat([b('SEND\nk:'), Buffer.from([0xc3, 0x28]), b('\n\n\0')]);
      expect(expectFailure(input, 'INVALID_UTF8').message).to.equal('frame command or headers are not valid UTF-8');
      expectFailure(Buffer.concat([b('SEND\n'), Buffer.from([0xff]), b(':v\n\n\0')]), 'INVALID_UTF8');
    });

    it('accepts a non-UTF-8 body', () => {
      const [f] = parseAllWays(Buffer.concat([b('SEND\n\n'), Buffer.from([0xff, 0xfe]), b('\0')]));
      expect([...frameOf(f).body]).to.deep.equal([0xff, 0xfe]);
    });
  });

  describe('limits', () => {
    const limits = { maxFrameBytes: 64, maxHeaders: 3, maxHeaderLineBytes: 16 };

    it('TOO_MANY_HEADERS past maxHeaders (repeated headers count)', () => {
      expect(parseChunks([b('SEND\na:1\na:2\nc:3\n\n\0')], limits)).to.have.length(1);
      const err = expectFailure('SEND\na:1\na:2\nc:3\nd:4\n\n\0', 'TOO_MANY_HEADERS', { limits });
      expect(err.message).to.equal('frame has more than 3 headers');
    });

    it('HEADER_LINE_TOO_LONG past maxHeaderLineBytes, not counting the EOL', () => {
      const sixteen = 'k:' + 'v'.repeat(14);
      expect(parseChunks([b(`SEND\n${sixteen}\r\n\n\0`)], limits)).to.have.length(1);
      const err = expectFailure(`SEND\n${sixteen}v\n\n\0`, 'HEADER_LINE_TOO_LONG', { limits });
      expect(err.message).to.equal('header line exceeds the limit of 16 bytes');
    });

    it('HEADER_LINE_TOO_LONG as soon as an unfinished line passes the limit', () => {
      const c = collector(limits);
      c.parser.push(b('SEND\nk:' + 'v'.repeat(15)));
      expect(() => c.parser.push(b('vv'))).to.throw(/header line exceeds/);
    });

    it('HEADER_LINE_TOO_LONG applies to the command line, before its EOL arrives', () => {
      expect(parseChunks([b('A'.repeat(16) + '\n\n\0')], limits)).to.have.length(1);
      const c = collector(limits);
      expect(() => c.parser.push(b('A'.repeat(17)))).to.throw(/header line exceeds the limit of 16 bytes/);
    });

    it('FRAME_TOO_LARGE at once for a declared content-length over the limit', () => {
      const wide = { ...limits, maxHeaderLineBytes: 64 };
      const c = collector(wide);
      // 5 (SEND\n) + 18 (content-length:NN\n) + 1 (\n) = 24 bytes before the body; 40 more fit.
      c.parser.push(b('SEND\ncontent-length:40\n\n'));
      const c2 = collector(wide);
      expect(() => c2.parser.push(b('SEND\ncontent-length:41\n\n'))).to.throw(/frame exceeds the limit of 64 bytes/);
      expectFailure('SEND\ncontent-length:99999999999999999999\n\n', 'FRAME_TOO_LARGE', { limits: wide });
    });

    it('FRAME_TOO_LARGE for a streamed body the moment it crosses the limit', () => {
      const c = collector(limits);
      c.parser.push(b('SEND\n\n')); // 6 bytes
      c.parser.push(b('x'.repeat(58))); // exactly 64: still fine
      expect(() => c.parser.push(b('x'))).to.throw(/frame exceeds the limit of 64 bytes/);
      // ...and a body that ends exactly at the limit is a frame.
      expect(parseChunks([b('SEND\n\n' + 'x'.repeat(58) + '\0')], limits)).to.have.length(1);
    });

    it('FRAME_TOO_LARGE counts header lines too', () => {
      const many = { ...limits, maxHeaders: 100 };
      expectFailure('SEND\n' + 'h:0123456789abc\n'.repeat(4) + '\n\0', 'FRAME_TOO_LARGE', { limits: many });
    });

    it('does not count heart-beats against the frame limit', () => {
      const events = parseChunks([b('\n'.repeat(200) + 'SEND\n\n' + 'x'.repeat(58) + '\0')], limits);
      expect(events.filter((e) => e === 'heartbeat')).to.have.length(200);
    });
  });

  describe('failure is sticky', () => {
    it('every push after a violation throws the same error, even of valid bytes', () => {
      const c = collector();
      let first: unknown;
      try {
        c.parser.push(b('SEND\nbroken\n\n\0'));
      } catch (err) {
        first = err;
      }
      expect((first as RelayError).code).to.equal('HEADER_WITHOUT_COLON');
      for (let i = 0; i < 3; i++) {
        expect(() => c.parser.push(b('SEND\n\n\0'))).to.throw().that.equals(first);
      }
      expect(c.events).to.have.length(0);
    });

    it('frames before the violation in the same chunk are delivered', () => {
      const c = collector();
      expect(() => c.parser.push(b('SEND\n\nok\0SEND\n:\\q\n\n\0'))).to.throw(/invalid escape/);
      expect(c.frames().map((f) => f.body.toString())).to.deep.equal(['ok']);
    });

    it('an exception from the handler propagates and fails the parser', () => {
      const boom = new Error('handler bug');
      const parser = new StompParser({ onFrame: () => { throw boom; } });
      expect(() => parser.push(b('SEND\n\n\0'))).to.throw(boom);
      expect(() => parser.push(b('SEND\n\n\0'))).to.throw(boom);
    });
  });

  it('splitAt helper keeps all bytes (sanity for the chunked tests)', () => {
    const bytes = b('SEND\n\nabc\0');
    expect(Buffer.concat(splitAt(bytes, [1, 4, 4, 9])).equals(bytes)).to.equal(true);
  });
});

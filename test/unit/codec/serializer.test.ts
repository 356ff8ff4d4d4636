import { expect } from 'chai';
import { headers, SUPPORTED_VERSIONS, type StompFrame, type StompVersion } from '../../../server/codec/frame';
import { createMessageTemplate, encodeFrame, HEARTBEAT_EOL, renderMessage } from '../../../server/codec/serializer';
import { parseChunks, plain } from './feed';

const b = (s: string) => Buffer.from(s, 'utf8');

function roundTrip(frame: StompFrame, version: StompVersion): StompFrame {
  const events = parseChunks([encodeFrame(frame, version)], undefined, version);
  expect(events).to.have.length(1);
  const [f] = events;
  if (f === 'heartbeat') throw new Error('expected a frame');
  return f;
}

describe('codec/serializer', () => {
  describe('encodeFrame', () => {
    it('writes command, headers, content-length, blank line, body and NUL', () => {
      const out = encodeFrame({ command: 'MESSAGE', headers: headers({ destination: '/topic/a', 'message-id': 7 }), body: b('hi') }, '1.2');
      expect(out.toString()).to.equal('MESSAGE\ndestination:/topic/a\nmessage-id:7\ncontent-length:2\n\nhi\0');
    });

    it('writes no content-length for an empty body, and drops a given one', () => {
      const out = encodeFrame({ command: 'RECEIPT', headers: headers({ 'receipt-id': 'r1', 'content-length': '99' }), body: Buffer.alloc(0) }, '1.2');
      expect(out.toString()).to.equal('RECEIPT\nreceipt-id:r1\n\n\0');
    });

    it('replaces a wrong content-length with the real one', () => {
      const body = Buffer.from([0, 1, 2, 0]);
      const out = encodeFrame({ command: 'MESSAGE', headers: headers({ 'content-length': '1', destination: '/a' }), body }, '1.1');
      expect(out.subarray(0, out.length - 5).toString()).to.equal('MESSAGE\ndestination:/a\ncontent-length:4\n\n');
      expect([...roundTrip({ command: 'MESSAGE', headers: headers({ 'content-length': '1' }), body }, '1.1').body]).to.deep.equal([0, 1, 2, 0]);
    });

    it('HEARTBEAT_EOL is a single LF', () => {
      expect(HEARTBEAT_EOL.toString()).to.equal('\n');
    });

    it('with readableColons leaves : in values as is, and escapes everything else as usual', () => {
      const frame = { command: 'ERROR', headers: headers({ 'a:b': 'x\\y\nz: w' }), body: Buffer.alloc(0) };
      expect(encodeFrame(frame, '1.2', { readableColons: true }).toString()).to.equal('ERROR\na\\cb:x\\\\y\\nz: w\n\n\0');
      expect(roundTrip(frame, '1.2').headers['a:b']).to.equal('x\\y\nz: w');
      const parsed = parseChunks([encodeFrame(frame, '1.2', { readableColons: true })], undefined, '1.2')[0] as StompFrame;
      expect(parsed.headers['a:b'], 'a 1.2 parser reads it back exactly').to.equal('x\\y\nz: w');
    });

    it('1.2 escapes \\ LF CR and : in names and values', () => {
      const out = encodeFrame({ command: 'MESSAGE', headers: headers({ 'a:b': 'x\\y\nz\rw:v' }), body: Buffer.alloc(0) }, '1.2');
      expect(out.toString()).to.equal('MESSAGE\na\\cb:x\\\\y\\nz\\rw\\cv\n\n\0');
    });

    it('1.1 escapes \\ LF and :, and writes CR (which it cannot escape) as a space', () => {
      const out = encodeFrame({ command: 'MESSAGE', headers: headers({ k: 'a\rb\nc:d\\' }), body: Buffer.alloc(0) }, '1.1');
      expect(out.toString()).to.equal('MESSAGE\nk:a b\\nc\\cd\\\\\n\n\0');
    });

    it('1.0 escapes nothing: CR and LF become spaces, a colon in a name becomes _', () => {
      const out = encodeFrame({ command: 'MESSAGE', headers: headers({ 'a:b\n': 'x\\y\r\nz:w' }), body: Buffer.alloc(0) }, '1.0');
      expect(out.toString()).to.equal('MESSAGE\na_b :x\\y  z:w\n\n\0');
    });

    for (const command of ['CONNECT', 'STOMP', 'CONNECTED']) {
      it(`does not escape ${command} under 1.2, and still cannot inject a line`, () => {
        const out = encodeFrame({ command, headers: headers({ server: 'relay:1\\x', evil: 'a\nversion:1.0' }), body: Buffer.alloc(0) }, '1.2');
        expect(out.toString()).to.equal(`${command}\nserver:relay:1\\x\nevil:a version:1.0\n\n\0`);
      });
    }

    it('round-trips awkward values under 1.2 and 1.1', () => {
      const h = headers({ 'we:ird\\name\n': 'a\nb:c\\d', unicode: 'ünï 🚀 ✓', empty: '' });
      for (const version of ['1.1', '1.2'] as const) {
        expect(plain(roundTrip({ command: 'SEND', headers: h, body: b('x') }, version))).to.deep.equal({
          command: 'SEND',
          headers: { ...h, 'content-length': '1' },
          body: [...b('x')],
        });
      }
    });

    describe('header injection cannot add headers or end the header block', () => {
      const attacks = [
        'x\ndestination:/evil',
        'x\r\ndestination:/evil',
        'x\rdestination:/evil',
        'x\n\nbody-smuggled\0',
        '\\',
        'x\\ndestination:/evil',
        ':destination:/evil',
      ];
      for (const version of SUPPORTED_VERSIONS) {
        for (const command of ['MESSAGE', 'CONNECTED', 'ERROR']) {
          it(`${command} under ${version}`, () => {
            for (const attack of attacks) {
              const sent = headers({ subscription: 's1', note: attack, [attack]: 'v' });
              const got = roundTrip({ command, headers: sent, body: b('payload') }, version);
              expect(got.command).to.equal(command);
              expect(Object.keys(got.headers), JSON.stringify(attack)).to.have.length(4); // 3 + content-length
              expect(got.headers.destination).to.equal(undefined);
              expect(got.headers.subscription).to.equal('s1');
              expect(got.body.toString()).to.equal('payload');
            }
          });
        }
      }
    });
  });

  describe('message templates', () => {
    const shared = headers({ destination: '/topic/prices', 'content-type': 'text/plain', note: 'a:b\nc' });
    const per = (i: number) => headers({ subscription: `sub-${i}`, 'message-id': `m:${i}`, ack: `a\\${i}` });

    for (const version of SUPPORTED_VERSIONS) {
      it(`renders the same bytes as encodeFrame under ${version}`, () => {
        for (const body of [b('hello 🌍'), Buffer.alloc(0), Buffer.from([0, 0xff, 0])]) {
          const template = createMessageTemplate(shared, body, version);
          for (let i = 0; i < 3; i++) {
            const frame = { command: 'MESSAGE', headers: Object.assign(headers(), shared, per(i)), body };
            expect(renderMessage(template, per(i)).equals(encodeFrame(frame, version))).to.equal(true);
          }
        }
      });
    }

    it('lets a per-receiver header replace a shared one of the same name', () => {
      const template = createMessageTemplate(headers({ destination: '/a', subscription: 'stale' }), b('x'), '1.2');
      const out = renderMessage(template, headers({ subscription: 'sub-1' }));
      expect(out.toString()).to.equal('MESSAGE\ndestination:/a\nsubscription:sub-1\ncontent-length:1\n\nx\0');
    });

    it('ignores content-length among shared and per-receiver headers', () => {
      const template = createMessageTemplate(headers({ destination: '/a', 'content-length': '0' }), b('abc'), '1.2');
      expect(renderMessage(template, headers({ subscription: '1' })).toString()).to.equal('MESSAGE\ndestination:/a\nsubscription:1\ncontent-length:3\n\nabc\0');
      expect(renderMessage(template, headers({ 'content-length': '9' })).toString()).to.equal('MESSAGE\ndestination:/a\ncontent-length:3\n\nabc\0');
    });

    it('renders independent buffers for each receiver', () => {
      const template = createMessageTemplate(shared, b('body'), '1.2');
      const first = renderMessage(template, per(1));
      const copy = Buffer.from(first);
      renderMessage(template, per(2)).fill(0);
      expect(first.equals(copy)).to.equal(true);
    });

    it('is not affected by later changes to the shared headers object', () => {
      const mutable = headers({ destination: '/a' });
      const template = createMessageTemplate(mutable, b('x'), '1.2');
      mutable.destination = '/b';
      mutable.subscription = 'x';
      expect(renderMessage(template, headers({ subscription: 's' })).toString()).to.contain('destination:/a\nsubscription:s\n');
    });

    it('computes bodyIsUtf8 once', () => {
      expect(createMessageTemplate(shared, b('héllo'), '1.2').bodyIsUtf8).to.equal(true);
      expect(createMessageTemplate(shared, Buffer.alloc(0), '1.2').bodyIsUtf8).to.equal(true);
      expect(createMessageTemplate(shared, Buffer.from([0xc3, 0x28]), '1.2').bodyIsUtf8).to.equal(false);
    });
  });
});

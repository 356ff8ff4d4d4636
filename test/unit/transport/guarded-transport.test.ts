import { expect } from 'chai';
import { GuardedTransport, type TransportOperation } from '../../../server/transport/guarded-transport';
import type { HandshakeInfo, Transport, TransportEvents } from '../../../server/transport/transport';

/** An adapter that throws where a test says, and never reports close on its own. */
class ThrowingTransport implements Transport {
  readonly kind = 'sockjs' as const;
  readonly textOnly = true;
  readonly handshake: HandshakeInfo = { remoteAddress: '', url: '/sockjs/websocket', headers: {} };
  readonly bufferedAmount = 0;
  events: TransportEvents | undefined;
  throwsOn = new Set<'send' | 'close' | 'destroy'>();
  destroyed = 0;
  bind(events: TransportEvents): void { this.events = events; }
  sent: Array<{ data: string; binary: boolean }> = [];
  send(data: Buffer, binary: boolean): void {
    if (this.throwsOn.has('send')) throw new Error('write after end');
    this.sent.push({ data: data.toString('latin1'), binary });
  }
  close(): void { if (this.throwsOn.has('close')) throw new Error('The code must be either 1000, or between 3000 and 4999'); }
  destroy(): void {
    this.destroyed++;
    if (this.throwsOn.has('destroy')) throw new Error('already destroyed');
  }
}

describe('transport: GuardedTransport', () => {
  function setup(...throwsOn: Array<'send' | 'close' | 'destroy'>) {
    const inner = new ThrowingTransport();
    inner.throwsOn = new Set(throwsOn);
    const faults: TransportOperation[] = [];
    const heard = { closes: 0, data: 0 };
    const guard = new GuardedTransport(inner, {
      transportData: () => { heard.data++; },
      transportMessageTooLarge: () => undefined,
      transportEnded: () => { heard.closes++; },
      transportFault: (operation) => { faults.push(operation); },
    });
    guard.bind();
    return { inner, guard, faults, heard };
  }

  for (const operation of ['send', 'close'] as const) {
    it(`a throwing ${operation}() is reported, destroys the connection, and tells the session it closed, at once and once`, () => {
      const { inner, guard, faults, heard } = setup(operation);
      expect(() => (operation === 'send' ? guard.send(Buffer.from('x'), false) : guard.close(1000))).to.not.throw();
      expect(faults).to.deep.equal([operation]);
      expect(inner.destroyed).to.equal(1);
      expect(heard.closes, 'without waiting for the adapter').to.equal(1);
      inner.events!.close();
      inner.events!.data(Buffer.from('late'));
      expect(heard).to.deep.equal({ closes: 1, data: 0 });
      guard.send(Buffer.from('y'), false);
      guard.close();
      expect(inner.destroyed, 'nothing more reaches a broken adapter').to.equal(1);
    });
  }

  it('still tells the session when destroy() throws too', () => {
    const { guard, faults, heard } = setup('close', 'destroy');
    guard.close(1000);
    expect(faults).to.deep.equal(['close', 'destroy']);
    expect(heard.closes).to.equal(1);
  });

  it('passes everything through while nothing throws', () => {
    const { inner, guard, faults, heard } = setup();
    guard.send(Buffer.from('x'), false);
    guard.close(1000);
    inner.events!.data(Buffer.from('in'));
    inner.events!.close();
    expect(faults).to.deep.equal([]);
    expect(inner.destroyed).to.equal(0);
    expect(heard).to.deep.equal({ closes: 1, data: 1 });
  });

  it('sends a heart-beat as send(EOL, text) through an adapter without sendHeartbeat (SockJS), and a throw from it is a send fault', () => {
    const { inner, guard, faults } = setup();
    guard.sendHeartbeat();
    expect(inner.sent).to.deep.equal([{ data: '\n', binary: false }]);
    expect(faults).to.deep.equal([]);
    inner.throwsOn.add('send');
    guard.sendHeartbeat();
    expect(faults).to.deep.equal(['send']);
    expect(inner.destroyed).to.equal(1);
  });
});

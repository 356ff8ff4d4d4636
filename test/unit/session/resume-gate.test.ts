/**
 * The resume seam (server/session/resume-gate.ts) with a history the test controls: live
 * deliveries held during the replay, duplicates at the seam dropped, the gap marker first.
 */
import { expect } from 'chai';
import type { BrokerMessage, Delivery } from '../../../server/broker/broker';
import { RESUME_TOKEN_HEADER, type MessageHistory, type Replay } from '../../../server/broker/history';
import { ResumeGate } from '../../../server/session/resume-gate';

function message(token: string | undefined, body = token ?? 'untokened'): BrokerMessage {
  const headers: Record<string, string> = token === undefined ? {} : { [RESUME_TOKEN_HEADER]: token };
  return { destination: '/d', headers, body: Buffer.from(body), messageId: `id-${body}` };
}

/** A history whose replay resolves when the test says so. */
class ControlledHistory implements MessageHistory {
  readonly windowMs = 1000;
  readonly maxMessages = 10;
  asked: Array<{ destination: string; token: string }> = [];
  private answer!: (replay: Replay) => void;
  record(): Promise<string> { throw new Error('not used'); }
  position(): Promise<string | undefined> { throw new Error('not used'); }
  replay(destination: string, token: string): Promise<Replay> {
    this.asked.push({ destination, token });
    return new Promise((resolve) => { this.answer = resolve; });
  }
  finish(replay: Replay): void { this.answer(replay); }
}

function recordingOutput() {
  const events: string[] = [];
  return {
    events,
    output: {
      deliver: (d: Delivery) => { events.push(`deliver:${d.message.body.toString()}`); },
      drop: (d: Delivery) => { events.push(`drop:${d.message.body.toString()}`); },
      gap: (position: string | undefined) => { events.push(`gap:${position ?? '-'}`); },
    },
  };
}

describe('ResumeGate', function () {
  it('holds live deliveries during the replay, then gives replay, held, live, dropping what the replay had', async () => {
    const history = new ControlledHistory();
    const { events, output } = recordingOutput();
    const gate = new ResumeGate(output);
    const done = gate.resume(history, '/d', 't0');
    expect(history.asked).to.deep.equal([{ destination: '/d', token: 't0' }]);
    gate.live({ message: message('t2') }); // recorded before the replay, routed during it: a duplicate
    gate.live({ message: message('t3') }); // recorded after the replay began: live only
    expect(events, 'nothing before the replay is back').to.deep.equal([]);
    history.finish({ gap: false, messages: [message('t1'), message('t2')], position: 't2' });
    await done;
    gate.live({ message: message('t2') }); // the same message routed late once more
    gate.live({ message: message('t4') });
    expect(events).to.deep.equal(['deliver:t1', 'deliver:t2', 'drop:t2', 'deliver:t3', 'drop:t2', 'deliver:t4']);
  });

  it('opens with the gap marker, carrying the position only when no replayed message follows', async () => {
    for (const [messages, expected] of [[[], 'gap:p9'], [[message('t5')], 'gap:-']] as const) {
      const history = new ControlledHistory();
      const { events, output } = recordingOutput();
      const gate = new ResumeGate(output);
      const done = gate.resume(history, '/d', 'old');
      history.finish({ gap: true, messages: [...messages], position: 'p9' });
      await done;
      expect(events[0]).to.equal(expected);
      expect(events.length).to.equal(1 + messages.length);
    }
  });

  it('is a gap when the broker has no history', async () => {
    const { events, output } = recordingOutput();
    const gate = new ResumeGate(output);
    gate.live({ message: message(undefined, 'held') });
    await gate.resume(undefined, '/d', 'any');
    expect(events).to.deep.equal(['gap:-', 'deliver:held']);
  });

  it('delivers nothing once abandoned (the subscription ended during the replay)', async () => {
    const history = new ControlledHistory();
    const { events, output } = recordingOutput();
    const gate = new ResumeGate(output);
    const done = gate.resume(history, '/d', 't0');
    gate.live({ message: message('t1') });
    gate.abandon();
    history.finish({ gap: false, messages: [message('t1')], position: 't1' });
    await done;
    expect(events).to.deep.equal([]);
  });
});

import { expect } from 'chai';
import { DeadlineQueue, MAX_TIMER_DELAY_MS, type DeadlineClock } from '../../../server/session/deadline-queue';

/** A clock the test moves by hand; it records the timers the queue arms. */
class FakeClock implements DeadlineClock {
  time = 1_000_000;
  readonly armed = new Map<number, { at: number; callback: () => void }>();
  private nextHandle = 1;

  now(): number { return this.time; }

  setTimer(callback: () => void, delayMs: number): unknown {
    const handle = this.nextHandle++;
    this.armed.set(handle, { at: this.time + delayMs, callback });
    return handle;
  }

  clearTimer(handle: unknown): void {
    this.armed.delete(handle as number);
  }

  /** Moves to `time`, firing every armed timer due by then, earliest first. */
  advanceTo(time: number): void {
    for (;;) {
      const due = [...this.armed.entries()].filter(([, t]) => t.at <= time).sort((a, b) => a[1].at - b[1].at)[0];
      if (due === undefined) break;
      this.armed.delete(due[0]);
      this.time = Math.max(this.time, due[1].at);
      due[1].callback();
    }
    this.time = time;
  }
}

describe('DeadlineQueue (one timer for every session deadline)', () => {
  it('arms a single timer for many deadlines, at the earliest, and fires each when due, in order', () => {
    const clock = new FakeClock();
    const queue = new DeadlineQueue({ clock });
    const fired: string[] = [];
    const t0 = clock.time;
    for (const [name, offset] of [['c', 300], ['a', 100], ['d', 400], ['b', 200]] as const) {
      queue.add(t0 + offset, () => fired.push(name));
    }
    expect(clock.armed.size).to.equal(1);
    expect([...clock.armed.values()][0].at).to.equal(t0 + 100);
    expect(queue.size).to.equal(4);

    clock.advanceTo(t0 + 250);
    expect(fired).to.deep.equal(['a', 'b']);
    expect(clock.armed.size).to.equal(1);
    expect([...clock.armed.values()][0].at).to.equal(t0 + 300);
    clock.advanceTo(t0 + 1000);
    expect(fired).to.deep.equal(['a', 'b', 'c', 'd']);
    expect(queue.size).to.equal(0);
    expect(clock.armed.size, 'nothing left to wait for: no timer').to.equal(0);
  });

  it('never fires a cancelled deadline; cancelling the earliest re-arms for the next; cancelling all leaves no timer', () => {
    const clock = new FakeClock();
    const queue = new DeadlineQueue({ clock });
    const fired: string[] = [];
    const t0 = clock.time;
    const a = queue.add(t0 + 100, () => fired.push('a'));
    const b = queue.add(t0 + 200, () => fired.push('b'));
    const c = queue.add(t0 + 300, () => fired.push('c'));
    a.cancel();
    expect([...clock.armed.values()].map((t) => t.at)).to.deep.equal([t0 + 200]);
    c.cancel();
    c.cancel(); // idempotent
    clock.advanceTo(t0 + 1000);
    expect(fired).to.deep.equal(['b']);
    b.cancel(); // after firing: harmless
    const d = queue.add(t0 + 2000, () => fired.push('d'));
    d.cancel();
    expect(queue.size).to.equal(0);
    expect(clock.armed.size).to.equal(0);
  });

  it('fires a deadline already in the past on the next timer turn, not inside add()', () => {
    const clock = new FakeClock();
    const queue = new DeadlineQueue({ clock });
    const fired: string[] = [];
    queue.add(clock.time - 5, () => fired.push('late'));
    expect(fired).to.deep.equal([]);
    expect([...clock.armed.values()].map((t) => t.at)).to.deep.equal([clock.time]);
    clock.advanceTo(clock.time);
    expect(fired).to.deep.equal(['late']);
  });

  it('waits in steps no longer than setTimeout allows for a deadline weeks away, firing only when due', () => {
    const clock = new FakeClock();
    const queue = new DeadlineQueue({ clock });
    let fired = false;
    const t0 = clock.time;
    const farAway = t0 + 3 * MAX_TIMER_DELAY_MS + 7;
    queue.add(farAway, () => { fired = true; });
    expect([...clock.armed.values()].map((t) => t.at)).to.deep.equal([t0 + MAX_TIMER_DELAY_MS]);
    clock.advanceTo(farAway - 1);
    expect(fired).to.equal(false);
    clock.advanceTo(farAway);
    expect(fired).to.equal(true);
  });

  it('keeps going when one callback throws, and reports the error', () => {
    const clock = new FakeClock();
    const errors: unknown[] = [];
    const queue = new DeadlineQueue({ clock, onError: (err) => errors.push(err) });
    const fired: string[] = [];
    queue.add(clock.time + 1, () => { throw new Error('boom'); });
    queue.add(clock.time + 1, () => fired.push('next'));
    clock.advanceTo(clock.time + 10);
    expect(fired).to.deep.equal(['next']);
    expect(errors.map((e) => (e as Error).message)).to.deep.equal(['boom']);
  });

  it('clear() cancels everything', () => {
    const clock = new FakeClock();
    const queue = new DeadlineQueue({ clock });
    let fired = 0;
    for (let i = 0; i < 10; i++) queue.add(clock.time + 10 * i, () => { fired++; });
    queue.clear();
    clock.advanceTo(clock.time + 1000);
    expect(fired).to.equal(0);
    expect(queue.size).to.equal(0);
    expect(clock.armed.size).to.equal(0);
  });

  it('stays correct under random adds and cancels (heap order)', () => {
    const clock = new FakeClock();
    const queue = new DeadlineQueue({ clock });
    const t0 = clock.time;
    const fired: number[] = [];
    const expected: number[] = [];
    let seed = 42;
    const rand = () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
    const handles: Array<{ at: number; cancel(): void }> = [];
    for (let i = 0; i < 500; i++) {
      const at = t0 + Math.floor(rand() * 10_000);
      handles.push({ at, ...queue.add(at, () => fired.push(at)) });
    }
    for (const h of handles) {
      if (rand() < 0.4) h.cancel();
      else expected.push(h.at);
    }
    clock.advanceTo(t0 + 20_000);
    expect(fired).to.deep.equal(expected.sort((x, y) => x - y));
  });
});
